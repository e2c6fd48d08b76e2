import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ADMIN_URL } from '@volt/testing';
import { eventually, metric, podReaches } from '../support/pods';
import { startStack, type TestStack } from '../support/stack';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack({ env: { VOLT_POD_CREATE_LIMIT: '1000' } });
});
afterAll(() => stack?.stop());

/** Ends every session on the stack's database at once, as a PostgreSQL restart or failover would for its clients. */
async function cutEveryConnection(): Promise<number> {
  const admin = new Client({ connectionString: TEST_ADMIN_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query('SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()) t', [stack.db.name]);
    return rows[0].n;
  } finally {
    await admin.end();
  }
}

const create = (machine = 'mach_a100_01') => stack.call('POST', '/api/volt/pods', { body: { machine_id: machine, template_id: 'tpl_pytorch21' } });
// Dedicated machines with eight GPUs each: the burst below fits on them.
const spread = ['mach_h100_01', 'mach_h100_02', 'mach_a100_02', 'mach_h200_01'];

describe('every PostgreSQL connection cut at once', () => {
  it('costs at most the requests in flight: every service reconnects, leads, projects and publishes again', async () => {
    const first = await create();
    expect(first.status).toBe(201);
    await podReaches(stack, first.body.id, 'running');
    const published: string[] = [];
    const sub = stack.messaging.nc.subscribe(`${stack.messaging.prefix}.volt.evt.pods.>`, { callback: (_e, msg) => void published.push(msg.subject.split('.').pop()!) });
    await stack.messaging.nc.flush();

    // Every pool, the relay's and the reconciler's lock sessions, the read models' runners: all cut,
    // in the middle of a burst of creates.
    const burst = Promise.all(Array.from({ length: 16 }, (_, i) => create(spread[i % spread.length])));
    await new Promise((r) => setTimeout(r, 20));
    expect(await cutEveryConnection()).toBeGreaterThan(5);
    const during = await burst;
    // A request whose connection was cut under it is told to retry (503), never blamed on the
    // caller and never an unexplained 500.
    expect(during.filter((r) => ![201, 503, 504].includes(r.status)).map((r) => [r.status, r.body])).toEqual([]);

    const answers: number[] = [];
    const second = await eventually('a create to go through', async () => {
      const r = await create();
      answers.push(r.status);
      return r.status === 201 ? r : undefined;
    }, 30_000);
    expect(answers.filter((s) => s !== 201 && s !== 503)).toEqual([]);
    // The reconciler (under its lock again) brings it up; the relay (leading again) publishes.
    await podReaches(stack, second.body.id, 'running');
    expect((await stack.call('POST', `/api/volt/pods/${first.body.id}/stop`)).body.status).toBe('stopping');
    await podReaches(stack, first.body.id, 'stopped');
    // Every create that was answered 201 during the cut is there and runs: nothing acknowledged was lost.
    for (const r of during.filter((x) => x.status === 201)) await podReaches(stack, r.body.id, 'running');
    await eventually('the relay to publish the stop and the new pod’s run', async () => published.includes('PodStopped') && published.includes('PodRunning'));
    // Balances and their read model still agree: the hold of the running pod, none for the stopped one.
    await eventually('the balance to show one first-hour hold', async () => (await stack.call('GET', '/api/volt/balance')).body.held > 0);
    sub.unsubscribe();
  });

  it('a read whose session is cut under it runs again on a fresh one; if that fails too, it is told to retry (503), never 500', async () => {
    const retriesBefore = await metric(stack.gateway.url, 'volt_gateway_read_retries_total');
    const statuses: number[] = [];
    let reading = true;
    const readers = Array.from({ length: 8 }, async (_, i) => {
      while (reading) statuses.push((await stack.call('GET', i % 2 ? '/api/volt/pods' : '/api/volt/ssh-keys')).status);
    });
    for (let cut = 0; cut < 10; cut++) {
      await new Promise((r) => setTimeout(r, 30));
      await cutEveryConnection();
    }
    reading = false;
    await Promise.all(readers);
    expect(statuses.length).toBeGreaterThan(50);
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    // Cut reads were run again (without that, each would have been a 503 for its caller).
    expect(await metric(stack.gateway.url, 'volt_gateway_read_retries_total')).toBeGreaterThan(retriesBefore);
  });
});
