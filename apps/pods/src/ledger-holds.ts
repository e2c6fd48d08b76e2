import { randomUUID } from 'node:crypto';
import { domainError } from '@volt/contracts';
import { uuidFromName } from '@volt/event-store';
import type { VoltRuntime } from '@volt/platform';
import { HOLD_TTL_MS, systemEnvelope, type HoldPort } from '@volt/pods-infra';

const TIMEOUT_MS = 5_000;

/** The pods context's holds, as commands to the ledger service. The ledger applies each hold id once. */
export function ledgerHolds(runtime: VoltRuntime): HoldPort {
  const send = (type: string, tenantId: string, correlationId: string, data: Record<string, unknown>, key: string) =>
    runtime.commands.send(
      'ledger',
      { ...systemEnvelope(tenantId, uuidFromName(`${type}:${key}`), correlationId, type), data: { ...data, requestedAt: new Date().toISOString() } },
      { timeoutMs: TIMEOUT_MS },
    );
  return {
    async place(tenantId, hold) {
      try {
        const reply = await send(
          'PlaceHold',
          tenantId,
          hold.correlationId,
          { holdId: hold.holdId, amount: hold.amount, resource: hold.resource, description: hold.description, expiresAt: new Date(Date.now() + HOLD_TTL_MS).toISOString() },
          `${hold.holdId}:${randomUUID()}`,
        );
        return reply.ok ? { ok: true } : { ok: false, error: reply.error };
      } catch {
        return { ok: false, error: domainError('SERVICE_UNAVAILABLE', 'The ledger did not answer; nothing was provisioned or charged. Retry in a few seconds.') };
      }
    },
    async release(tenantId, holdId, correlationId) {
      try {
        // A fresh command id each time: a second release (say, delete after stop) must reach the
        // ledger rather than be dropped as a JetStream duplicate of the first; the ledger's own
        // release id makes it change nothing.
        await send('ReleaseHold', tenantId, correlationId, { holdId }, `${holdId}:${randomUUID()}`);
      } catch (error) {
        // The hold expires on its own (HOLD_TTL_MS); nothing is lost by a release that did not arrive.
        runtime.logger.warn({ holdId, err: error }, 'hold release not confirmed; it will expire');
      }
    },
  };
}
