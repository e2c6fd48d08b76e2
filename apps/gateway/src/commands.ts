import { createHash, randomUUID } from 'node:crypto';
import { uuidFromName } from '@volt/event-store';
import { newId } from '@volt/identity-infra';
import type { CommandReply } from '@volt/contracts';
import { CommandTimeoutError } from '@volt/messaging';
import type { VoltRuntime } from '@volt/platform';
import { ApiException } from './http/api-error';
import type { Caller } from './http/caller';

/**
 * A retried Idempotency-Key request gets the same command id, so even a retry after a
 * crash mid-request appends nothing twice; otherwise every command is new.
 */
export function commandIdFor(caller: Caller, type: string): string {
  return caller.idempotencyKey ? uuidFromName(`${caller.tenantId}:${type}:${caller.idempotencyKey}`) : randomUUID();
}

/**
 * The id of a resource the request creates (`pod_…`): with an Idempotency-Key, derived from it
 * like the command id, so that a run of the request again after its process died creates the
 * same resource rather than a second one; otherwise new.
 */
export function resourceIdFor(caller: Caller, prefix: string): string {
  if (!caller.idempotencyKey) return newId(prefix);
  const digest = createHash('sha256').update(`${caller.tenantId}:${prefix}:${caller.idempotencyKey}`).digest();
  let id = '';
  for (let i = 0; i < 16; i++) id += BASE62[digest[i] % 62];
  return `${prefix}_${id}`;
}

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * Sends a command to the context that owns it and returns its result, or throws
 * the domain error as an API error. A caller who times out gets 504; the command
 * still completes and its effect can be read afterwards.
 */
export async function sendCommand<T>(runtime: VoltRuntime, caller: Caller, context: string, type: string, data: unknown): Promise<T> {
  let reply: CommandReply<T>;
  try {
    reply = await runtime.commands.send<T>(context, {
      id: commandIdFor(caller, type),
      type,
      schemaVersion: 1,
      tenantId: caller.tenantId,
      correlationId: caller.requestId,
      causationId: null,
      actor: caller.actor,
      issuedAt: new Date().toISOString(),
      data,
    });
  } catch (error) {
    if (error instanceof CommandTimeoutError) {
      throw ApiException.of('TIMEOUT', 'The request is taking longer than expected; it will complete. Check the resource again shortly.');
    }
    throw ApiException.of('SERVICE_UNAVAILABLE', 'A Volt service is temporarily unavailable. Retry in a few seconds.');
  }
  if (!reply.ok) throw ApiException.fromDomain(reply.error);
  return reply.result;
}
