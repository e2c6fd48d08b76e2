import { randomUUID } from 'node:crypto';
import { domainError } from '@volt/contracts';
import { uuidFromName } from '@volt/event-store';
import type { VoltRuntime } from '@volt/platform';
import { HOLD_TTL_MS, systemEnvelope, type HoldPort } from '@volt/pods-infra';

const TIMEOUT_MS = 5_000;

/** The pods context's holds, as commands to the ledger service. The ledger applies each hold id once. */
export function ledgerHolds(runtime: VoltRuntime): HoldPort {
  const command = (type: string, tenantId: string, correlationId: string, data: Record<string, unknown>, key: string) => ({
    ...systemEnvelope(tenantId, uuidFromName(`${type}:${key}`), correlationId, type),
    data: { ...data, requestedAt: new Date().toISOString() },
  });
  // A fresh command id each time: a second release of one hold must reach the ledger rather
  // than be dropped as a JetStream duplicate of the first; the ledger's own release id makes it
  // change nothing.
  const releaseCommand = (tenantId: string, holdId: string, correlationId: string) =>
    command('ReleaseHold', tenantId, correlationId, { holdId }, `${holdId}:${randomUUID()}`);
  const release = async (tenantId: string, holdId: string, correlationId: string) => {
    try {
      await runtime.commands.send('ledger', releaseCommand(tenantId, holdId, correlationId), { timeoutMs: TIMEOUT_MS });
    } catch (error) {
      // The command stays queued for the ledger; and a hold expires on its own (HOLD_TTL_MS).
      runtime.logger.warn({ holdId, err: error }, 'hold release not confirmed; it will expire');
    }
  };
  return {
    async place(tenantId, hold) {
      try {
        const data = { holdId: hold.holdId, amount: hold.amount, resource: hold.resource, description: hold.description, expiresAt: new Date(Date.now() + HOLD_TTL_MS).toISOString() };
        const reply = await runtime.commands.send('ledger', command('PlaceHold', tenantId, hold.correlationId, data, `${hold.holdId}:${randomUUID()}`), { timeoutMs: TIMEOUT_MS });
        return reply.ok ? { ok: true } : { ok: false, error: reply.error };
      } catch {
        // No answer in time, but the placing stays queued and the ledger may still apply it:
        // queue a release too. Whichever the ledger applies first, nothing stays held (a
        // release that comes first voids the hold's id, and the placing is then refused).
        await runtime.commands
          .post('ledger', releaseCommand(tenantId, hold.holdId, hold.correlationId))
          .catch((error: unknown) => runtime.logger.warn({ holdId: hold.holdId, err: error }, 'hold release not queued; it will expire'));
        return { ok: false, error: domainError('SERVICE_UNAVAILABLE', 'The ledger did not answer; nothing was provisioned or charged. Retry in a few seconds.') };
      }
    },
    release,
  };
}
