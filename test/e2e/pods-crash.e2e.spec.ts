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

let db: TestDatabase;
let messaging: TestMessaging;
let sim: ProviderSim;
let gateway: RunningService;
let ledger: RunningService;
let env: Record<string, string>;
let apiKey: string;
const running: AppProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase(allMigrations);
  messaging = await createTestMessaging();
  sim = await startProviderSim({ transitionMs: 100, liumCopies: 1, targonCapacity: 4, priceDrift: 0, pricePeriodMs: 60_000 });
  env = {
    DATABASE_URL: db.url,
    NATS_URL: TEST_NATS_URL,
    VOLT_NATS_PREFIX: messaging.prefix,
    PORT: '0',
    LOG_LEVEL: 'info',
    VOLT_SECRETS_KEY: Keyring.generate(),
    VOLT_POD_CREATE_LIMIT: '1000',
    // The waits below poll the API for up to a minute: well past the default 1,000 requests an hour on a fast machine.
    VOLT_RATE_LIMIT_PER_HOUR: '1000000',
    VOLT_PROVIDER_LIUM_URL: `${sim.url}/lium`,
    VOLT_PROVIDER_TARGON_URL: `${sim.url}/targon`,
    VOLT_RECONCILE_INTERVAL_MS: '100',
    VOLT_CREATE_GRACE_MS: '1000',
    VOLT_ORPHAN_GRACE_MS: '1000',
  };
  const org = await createOrganization(new EventStore(db.db), { name: 'Crash Org' });
  apiKey = org.apiKey;
  await new Ledger(db.db).transfer({ id: `credit:${org.orgId}`, debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org.orgId), amount: usdToMicros(1000) });
  gateway = await startService(gatewayService({ ...env, LOG_LEVEL: 'silent' }), { ...env, LOG_LEVEL: 'silent' });
  ledger = await startService(ledgerService(), { ...env, LOG_LEVEL: 'silent' });
});

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
  await gateway?.stop();
  await ledger?.stop();
  await sim?.close();
  await messaging?.cleanup();
  await db?.drop();
});

async function podsWith(status: 'active' | 'inactive'): Promise<{ id: string; status: string }[]> {
  const response = await fetch(`${gateway.url}/api/volt/pods?status=${status}`, { headers: { 'x-api-key': apiKey } });
  if (response.status !== 200) throw new Error(`GET /api/volt/pods answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { pods: { id: string; status: string }[] }).pods;
}
const pods = async () => [...(await podsWith('active')), ...(await podsWith('inactive'))];
const liveInstances = () => sim.world.list('lium').filter((i) => i.phase !== 'terminating');

describe('the pods service killed with SIGKILL in the middle of a create', () => {
  it.each(['before-request-append', 'before-provider-call', 'after-provider-call'])(
    'killed %s: after a restart every pod is running or failed, with exactly one instance per running pod and none left over',
    async (point) => {
      const known = new Set((await pods()).map((p) => p.id));
      const doomed = await startApp('pods', { ...env, VOLT_FAULT_CRASH_AT: point });
      running.push(doomed);
      // The caller gives up when the service dies; its command stays on JetStream.
      await fetch(`${gateway.url}/api/volt/pods`, {
        method: 'POST',
        headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
        body: JSON.stringify({ machine_id: 'mach_rtx4090_01', template_id: 'tpl_pytorch21' }),
        signal: AbortSignal.timeout(3_000),
      }).catch(() => undefined);
      expect(await doomed.exited).toBe('SIGKILL');

      const restarted = await startApp('pods', env);
      running.push(restarted);
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
