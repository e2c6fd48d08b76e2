import type { Actor, CommandReply } from '@volt/contracts';
import { runDecider, type EventStore } from '@volt/event-store';
import { organizationStream } from '@volt/identity-contracts';
import { organizationDecider, type OrganizationCommand, type OrganizationEvent } from '@volt/identity-domain';
import { currentTraceContext } from '@volt/telemetry';

export interface IdentityCommandContext {
  commandId: string;
  orgId: string;
  actor: Actor;
  correlationId: string;
}

/**
 * Decides one identity command against the organization's stream and appends what it
 * decided. The gateway owns this context, so it runs these in-process, not over NATS.
 */
export async function decideForOrganization(
  store: EventStore,
  ctx: IdentityCommandContext,
  command: OrganizationCommand & { data: { requestedAt: string } },
): Promise<CommandReply<OrganizationEvent[]>> {
  const outcome = await runDecider(store, organizationDecider, {
    streamId: organizationStream(ctx.orgId),
    command,
    commandId: ctx.commandId,
    metadata: { tenantId: ctx.orgId, correlationId: ctx.correlationId, actor: ctx.actor, trace: currentTraceContext() },
    occurredAt: command.data.requestedAt,
  });
  if (!outcome.ok) return { ok: false, error: outcome.error };
  return { ok: true, result: outcome.events, checkpoint: outcome.checkpoint };
}
