import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/pods';
import { startPodsProcesses, type PodsProcesses } from '../support/pods-processes';

let stack: PodsProcesses;

beforeAll(async () => {
  stack = await startPodsProcesses({ name: 'Crash Org', transitionMs: 100, reconcileMs: 100, creditUsd: 1000 });
});
afterAll(() => stack?.stop());

async function podsWith(status: 'active' | 'inactive'): Promise<{ id: string; status: string }[]> {
  const response = await fetch(`${stack.gateway.url}/api/volt/pods?status=${status}`, { headers: { 'x-api-key': stack.apiKey } });
  if (response.status !== 200) throw new Error(`GET /api/volt/pods answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { pods: { id: string; status: string }[] }).pods;
}
const pods = async () => [...(await podsWith('active')), ...(await podsWith('inactive'))];
const liveInstances = () => stack.sim.world.list('lium').filter((i) => i.phase !== 'terminating');

describe('the pods service killed with SIGKILL in the middle of a create', () => {
  it.each(['before-request-append', 'before-provider-call', 'after-provider-call'])(
    'killed %s: after a restart every pod is running or failed, with exactly one instance per running pod and none left over',
    async (point) => {
      const known = new Set((await pods()).map((p) => p.id));
      const doomed = await stack.startPods({ VOLT_FAULT_CRASH_AT: point });
      // The caller gives up when the service dies; its command stays on JetStream.
      await fetch(`${stack.gateway.url}/api/volt/pods`, {
        method: 'POST',
        headers: { 'x-api-key': stack.apiKey, 'content-type': 'application/json' },
        body: JSON.stringify({ machine_id: 'mach_rtx4090_01', template_id: 'tpl_pytorch21' }),
        signal: AbortSignal.timeout(3_000),
      }).catch(() => undefined);
      expect(await doomed.exited).toBe('SIGKILL');

      const restarted = await stack.startPods();
      // A command that never reached the store is redelivered by JetStream (ack wait 30 s); the others are the reconciler's.
      const settled = await eventually(
        'the new pod to settle as running or failed',
        async () => {
          const mine = (await pods()).filter((p) => !known.has(p.id));
          return mine.length === 1 && ['running', 'failed'].includes(mine[0].status) ? mine : undefined;
        },
        45_000,
      );
      expect(settled[0].status).toBe('running');
      await eventually('the provider to hold exactly the running pods', async () => {
        const all = await pods();
        const runningIds = all.filter((p) => p.status === 'running').map((p) => p.id).sort();
        const tags = liveInstances().map((i) => i.tag ?? 'untagged').sort();
        return JSON.stringify(tags) === JSON.stringify(runningIds);
      });
      await restarted.stop();
    },
    90_000,
  );
});
