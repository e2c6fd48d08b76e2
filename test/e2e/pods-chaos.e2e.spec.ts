import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type RunningService } from '@volt/platform';
import { EventStore } from '@volt/event-store';
import { createOrganization } from '@volt/identity-infra';
import { allMigrations } from '@volt/schema';
import { Keyring } from '@volt/secrets';
import { TEST_NATS_URL, createTestDatabase, createTestMessaging, type TestDatabase, type TestMessaging } from '@volt/testing';
import { gatewayService } from '../../apps/gateway/src/gateway.service';
import { ledgerService } from '../../apps/ledger/src/ledger.service';
import { SYSTEM_ACCOUNTS, customerAccount, usdToMicros } from '@volt/ledger-contracts';
import { Ledger } from '@volt/ledger-infra';
import { startProviderSim, type ProviderSim } from '../../apps/provider-sim/src/server';
import { eventually } from '../support/pods';
import { startApp, type AppProcess } from '../support/process';

// Many customers' operations at once on two pods-service instances, one of them killed with
// SIGKILL every few seconds and replaced: afterwards every pod has settled, and Volt and the
// provider agree on each (a running pod has one running instance, a stopped one one stopped
// instance, an ended one none) with no instance left over.

let db: TestDatabase;
let messaging: TestMessaging;
let sim: ProviderSim;
let gateway: RunningService;
let ledger: RunningService;
let env: Record<string, string>;
let apiKey: string;
const started: AppProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase(allMigrations);
  messaging = await createTestMessaging();
  sim = await startProviderSim({ transitionMs: 200, liumCopies: 1, targonCapacity: 4, priceDrift: 0, pricePeriodMs: 60_000 });
  env = {
    DATABASE_URL: db.url,
    NATS_URL: TEST_NATS_URL,
    VOLT_NATS_PREFIX: messaging.prefix,
    PORT: '0',
    LOG_LEVEL: 'info',
    VOLT_SECRETS_KEY: Keyring.generate(),
    VOLT_POD_CREATE_LIMIT: '1000',
    VOLT_RATE_LIMIT_PER_HOUR: '1000000',
    VOLT_PROVIDER_LIUM_URL: `${sim.url}/lium`,
    VOLT_PROVIDER_TARGON_URL: `${sim.url}/targon`,
    VOLT_RECONCILE_INTERVAL_MS: '200',
    VOLT_CREATE_GRACE_MS: '1000',
    VOLT_ORPHAN_GRACE_MS: '1000',
  };
  const org = await createOrganization(new EventStore(db.db), { name: 'Chaos Org' });
  apiKey = org.apiKey;
  await new Ledger(db.db).transfer({ id: `credit:${org.orgId}`, debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org.orgId), amount: usdToMicros(5000) });
  gateway = await startService(gatewayService({ ...env, LOG_LEVEL: 'silent' }), { ...env, LOG_LEVEL: 'silent' });
  ledger = await startService(ledgerService(), { ...env, LOG_LEVEL: 'silent' });
});

afterAll(async () => {
  await Promise.all(started.map((p) => p.stop()));
  await gateway?.stop();
  await ledger?.stop();
  await sim?.close();
  await messaging?.cleanup();
  await db?.drop();
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${gateway.url}${path}`, {
    method,
    headers: { 'x-api-key': apiKey, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: await response.json() };
}

async function startPods(): Promise<AppProcess> {
  const pods = await startApp('pods', env);
  started.push(pods);
  return pods;
}

const ENDED = ['deleted', 'failed', 'terminated-provider'];
const MOVING = ['deploying', 'stopping', 'starting', 'deleting'];

describe('pods under mixed load while pods-service instances are killed', () => {
  it('settles every pod, with the provider agreeing on each and nothing left over', async () => {
    const instances = [await startPods(), await startPods()];
    const pods: string[] = [];
    const answers: Record<string, number> = {};
    const note = (what: string, status: number) => (answers[`${what} ${status}`] = (answers[`${what} ${status}`] ?? 0) + 1);
    const machines = ['mach_rtx4090_01', 'mach_rtx4090_02', 'mach_a100_01', 'mach_h100_01'];
    const until = Date.now() + 9_000;

    // Every 2.5 s the older instance dies mid-work and a new one takes its place.
    const killer = (async () => {
      while (Date.now() < until) {
        await new Promise((r) => setTimeout(r, 2_500));
        const victim = instances.shift()!;
        victim.child.kill('SIGKILL');
        await victim.exited;
        instances.push(await startPods());
      }
    })();
    const pick = () => pods[Math.floor(Math.random() * pods.length)];
    const worker = async (w: number) => {
      for (let k = 0; Date.now() < until; k++) {
        const roll = Math.random();
        // An answer may be lost with the instance that was working on it (504): the command
        // still completes, which the settling below waits for.
        if (pods.length < 6 || roll < 0.1) {
          const r = await call('POST', '/api/volt/pods', { machine_id: machines[(w + k) % machines.length], template_id: 'tpl_pytorch21', name: `chaos-${w}-${k}` });
          note('create', r.status);
          if (r.status === 201) pods.push(r.body.id);
          // An offer whose GPUs a killed instance's leftovers still hold is stale inventory (seed 003).
          const stale = r.status === 503 && r.body.code === 'STALE_INVENTORY';
          expect(r.status < 500 || r.status === 504 || stale, `create: ${r.status} ${JSON.stringify(r.body)}`).toBe(true);
          continue;
        }
        const id = pick();
        const [what, r] =
          roll < 0.35 ? ['stop', await call('POST', `/api/volt/pods/${id}/stop`)]
          : roll < 0.6 ? ['start', await call('POST', `/api/volt/pods/${id}/start`)]
          : roll < 0.8 ? ['rename', await call('PUT', `/api/volt/pods/${id}`, { name: `r-${w}-${k}` })]
          : roll < 0.85 ? ['delete', await call('DELETE', `/api/volt/pods/${id}`)]
          : ['get', await call('GET', `/api/volt/pods/${id}`)];
        note(what, r.status);
        // What a killed instance may cost a caller is a late answer, never a server error.
        expect([500, 501, 502, 503].includes(r.status), `${what} ${id}: ${r.status} ${JSON.stringify(r.body)}`).toBe(false);
      }
    };
    await Promise.all([killer, ...Array.from({ length: 6 }, (_, w) => worker(w))]);
    expect(pods.length).toBeGreaterThan(5);

    // Every pod of the organization: a create whose answer was lost (504) still made its pod.
    const everyPod = async () => {
      const lists = await Promise.all(['active', 'inactive'].map((status) => call('GET', `/api/volt/pods?status=${status}&limit=200`)));
      return lists.flatMap((l) => l.body.pods as { id: string; status: string; reason: string | null }[]);
    };
    const settled = await eventually('every pod to settle', async () => {
      const all = await everyPod();
      return all.every((p) => !MOVING.includes(p.status)) ? all : undefined;
    }, 90_000);
    expect(settled.length).toBeGreaterThanOrEqual(pods.length);
    expect(settled.length).toBeLessThan(200);
    const agree = async () => {
      const live = sim.world.list('lium').filter((i) => i.phase !== 'terminating');
      const disagreements: string[] = [];
      for (const pod of settled) {
        const held = live.filter((i) => i.tag === pod.id).map((i) => i.phase);
        const expected = pod.status === 'running' ? ['running'] : pod.status === 'stopped' ? ['stopped'] : [];
        if (!ENDED.includes(pod.status) && expected.length === 0) disagreements.push(`${pod.id} is ${pod.status}`);
        if (JSON.stringify(held) !== JSON.stringify(expected)) disagreements.push(`${pod.id} is ${pod.status}, the provider holds [${held.join(', ')}]`);
      }
      const known = new Set(settled.map((p) => p.id));
      for (const i of live) if (!known.has(i.tag ?? '')) disagreements.push(`instance ${i.id} (${i.tag ?? 'untagged'}) is left over, ${i.phase}`);
      return disagreements;
    };
    // The reconciler may still be destroying what a killed instance left: give it its sweeps.
    await eventually('Volt and the provider to agree', async () => (await agree()).length === 0, 30_000).catch(async (error) => {
      throw new Error(`${(error as Error).message}: ${(await agree()).join('; ')} (answers: ${JSON.stringify(answers)})`);
    });
    console.log(`pods chaos: ${pods.length} pods, answers ${JSON.stringify(answers)}, final ${JSON.stringify(settled.reduce((a: Record<string, number>, p) => ((a[p.reason ? `${p.status} (${p.reason})` : p.status] = (a[p.reason ? `${p.status} (${p.reason})` : p.status] ?? 0) + 1), a), {}))}`);
  }, 180_000);
});
