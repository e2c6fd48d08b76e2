import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Operation, ProviderName, World } from './world';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long a hung call waits before the simulator gives up on it itself. */
const HANG_CAP_MS = 120_000;

/**
 * Applies a provider's configured faults to one call: added latency, a hang that
 * outlasts the caller's timeout, or a 5xx at the configured rate. Returns false when
 * the call was answered (or abandoned) here.
 */
export async function survive(world: World, provider: ProviderName, op: Operation, request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
  const faults = world.faults[provider];
  if (faults.latencyMs > 0) await sleep(faults.latencyMs);
  if (faults.hang.includes(op)) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, HANG_CAP_MS);
      request.raw.socket.once('close', () => (clearTimeout(timer), resolve()));
    });
    if (!reply.raw.destroyed) reply.code(504).send(errorBody(provider, 504, 'upstream timeout'));
    return false;
  }
  const rate = faults.errorRate[op] ?? 0;
  if (rate > 0 && Math.random() < rate) {
    reply.code(503).send(errorBody(provider, 503, `simulated ${op} failure`));
    return false;
  }
  return true;
}

/** Each provider words its errors its own way. */
export function errorBody(provider: ProviderName, status: number, message: string, code?: string) {
  return provider === 'lium' ? { detail: message } : { error: { code: code ?? `http_${status}`, message } };
}
