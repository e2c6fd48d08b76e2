import type { TestStack } from './stack';

/** Polls until `check` returns a value, or fails after `timeoutMs` naming what it waited for. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** Waits for the pod to reach `status` through the API and returns its detail. */
export function podReaches(stack: TestStack, podId: string, status: string | string[], options: { key?: string; timeoutMs?: number } = {}) {
  const wanted = Array.isArray(status) ? status : [status];
  let seen = '';
  return eventually(
    `${podId} to be ${wanted.join(' or ')}`,
    async () => {
      const r = await stack.call('GET', `/api/volt/pods/${podId}`, { key: options.key });
      seen = r.body?.status;
      return wanted.includes(r.body?.status) ? r.body : undefined;
    },
    options.timeoutMs,
  ).catch((error) => {
    throw new Error(`${(error as Error).message} (last seen: ${seen})`);
  });
}

/** The simulator's instances (all providers), straight from its admin API. */
export async function simInstances(stack: TestStack): Promise<{ id: string; provider: string; tag: string | null; phase: string; gpus: number; volumeGb: number; sshKeys: string[]; sshPort: number }[]> {
  const state = (await (await fetch(`${stack.sim.url}/admin/state`)).json()) as { instances: Awaited<ReturnType<typeof simInstances>> };
  return state.instances;
}

export async function simAdmin(stack: TestStack, method: string, path: string, body?: unknown): Promise<any> {
  const r = await fetch(`${stack.sim.url}/admin${path}`, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  return r.json();
}

/** A counter's value from a service's /metrics (sum over labels). */
export async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name) && (l[name.length] === ' ' || l[name.length] === '{'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}
