import type { CommandEnvelope } from '@volt/contracts';
import type { Decider } from '@volt/domain';
import { runDecider, type EventStore } from '@volt/event-store';
import { currentTraceContext } from '@volt/telemetry';

export function requireTenant(command: CommandEnvelope): string {
  if (!command.tenantId) throw new Error(`command ${command.id} has no tenant`);
  return command.tenantId;
}

/**
 * Runs a pods decider for a command that came over the bus. The events carry the
 * handler's trace context, so whatever they cause joins the same trace.
 */
export function decideFor<C extends { data: { requestedAt: string } | { at: string } }, E extends { type: string; data: unknown }, S>(
  store: EventStore,
  decider: Decider<C, E, S>,
  streamId: string,
  envelope: CommandEnvelope,
  command: C,
  options: { newStream?: boolean } = {},
) {
  return runDecider(store, decider, {
    ...options,
    streamId,
    command,
    commandId: envelope.id,
    metadata: { tenantId: envelope.tenantId, correlationId: envelope.correlationId, actor: envelope.actor, trace: currentTraceContext() },
    occurredAt: 'requestedAt' in command.data ? command.data.requestedAt : command.data.at,
  });
}
