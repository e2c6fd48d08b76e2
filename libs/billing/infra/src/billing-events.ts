import { uuidFromName, type EventStore } from '@volt/event-store';
import { billingStream } from '@volt/billing-contracts';

/**
 * Appends one of billing's events to the organization's billing stream. Its id derives from
 * `key`, so a cycle that repeats a decision (after a crash, or beside another instance)
 * appends nothing new.
 */
export async function appendBillingEvent(store: EventStore, tenantId: string, key: string, type: string, data: Record<string, unknown>): Promise<void> {
  const now = new Date().toISOString();
  await store.append(
    billingStream(tenantId),
    [{ id: uuidFromName(key), type, data, metadata: { tenantId, correlationId: key, causationId: null, actor: { type: 'system', id: 'billing' } }, occurredAt: now }],
    { expectedVersion: 'any' },
  );
}
