import type { MessageMetadata } from '@volt/contracts';
import type { NewEvent } from '@volt/event-store';

export const testMetadata = (tenantId = 'org_test'): MessageMetadata => ({
  tenantId,
  correlationId: 'corr-test',
  causationId: null,
  actor: { type: 'system', id: 'test' },
});

/** A new event with the given type and data, for store-level tests. */
export function testEvent(type: string, data: unknown = {}, id?: string): NewEvent {
  return { ...(id ? { id } : {}), type, data, metadata: testMetadata(), occurredAt: new Date().toISOString() };
}
