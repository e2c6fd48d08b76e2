import { startService, type RunningService } from '@volt/platform';
import { EventStore } from '@volt/event-store';
import { createOrganization } from '@volt/identity-infra';
import { allMigrations } from '@volt/schema';
import { Keyring } from '@volt/secrets';
import { TEST_NATS_URL, createTestDatabase, createTestMessaging, type TestDatabase, type TestMessaging } from '@volt/testing';
import { SYSTEM_ACCOUNTS, customerAccount, usdToMicros } from '@volt/ledger-contracts';
import { Ledger } from '@volt/ledger-infra';
import { gatewayService } from '../../apps/gateway/src/gateway.service';
import { ledgerService } from '../../apps/ledger/src/ledger.service';
import { billingService } from '../../apps/billing/src/billing.service';
import { startProviderSim, type ProviderSim } from '../../apps/provider-sim/src/server';
import { startApp, type AppProcess } from './process';

/**
 * For tests that kill the pods service: the gateway and the ledger (and billing, when asked) in
 * this process, provider-sim, one organization with credit, and pods-service instances started
 * as processes of their own (`startPods`), every one stopped by `stop`.
 */
export interface PodsProcesses {
  db: TestDatabase;
  messaging: TestMessaging;
  sim: ProviderSim;
  gateway: RunningService;
  /** What a pods-service process needs (more can be added per start). */
  env: Record<string, string>;
  apiKey: string;
  orgId: string;
  startPods(extra?: Record<string, string>): Promise<AppProcess>;
  /** Stops the ledger service for `ms` (its commands wait in JetStream), then starts it again. */
  pauseLedger(ms: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startPodsProcesses(options: {
  name: string;
  transitionMs: number;
  reconcileMs: number;
  creditUsd: number;
  /** Runs billing too, charging every `cadenceMs`. */
  billing?: { cadenceMs: number };
}): Promise<PodsProcesses> {
  const db = await createTestDatabase(allMigrations);
  const messaging = await createTestMessaging();
  const sim = await startProviderSim({ transitionMs: options.transitionMs, liumCopies: 1, targonCapacity: 4, priceDrift: 0, pricePeriodMs: 60_000 });
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    NATS_URL: TEST_NATS_URL,
    VOLT_NATS_PREFIX: messaging.prefix,
    PORT: '0',
    LOG_LEVEL: 'info',
    VOLT_SECRETS_KEY: Keyring.generate(),
    VOLT_POD_CREATE_LIMIT: '1000',
    // The tests poll the API for up to a minute: well past the default 1,000 requests an hour on a fast machine.
    VOLT_RATE_LIMIT_PER_HOUR: '1000000',
    VOLT_PROVIDER_LIUM_URL: `${sim.url}/lium`,
    VOLT_PROVIDER_TARGON_URL: `${sim.url}/targon`,
    VOLT_RECONCILE_INTERVAL_MS: String(options.reconcileMs),
    VOLT_CREATE_GRACE_MS: '1000',
    VOLT_ORPHAN_GRACE_MS: '1000',
  };
  const org = await createOrganization(new EventStore(db.db), { name: options.name });
  await new Ledger(db.db).transfer({ id: `credit:${org.orgId}`, debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org.orgId), amount: usdToMicros(options.creditUsd) });
  const quiet = { ...env, LOG_LEVEL: 'silent' };
  const gateway = await startService(gatewayService(quiet), quiet);
  let ledger = await startService(ledgerService(), quiet);
  const billingEnv = options.billing && { ...quiet, VOLT_BILLING_CADENCE_MS: String(options.billing.cadenceMs) };
  const billing = billingEnv ? await startService(billingService(billingEnv), billingEnv) : undefined;
  const pods: AppProcess[] = [];
  return {
    db,
    messaging,
    sim,
    gateway,
    env,
    apiKey: org.apiKey,
    orgId: org.orgId,
    async startPods(extra = {}) {
      const started = await startApp('pods', { ...env, ...extra });
      pods.push(started);
      return started;
    },
    async pauseLedger(ms) {
      await ledger.stop();
      await new Promise((r) => setTimeout(r, ms));
      ledger = await startService(ledgerService(), quiet);
    },
    async stop() {
      await Promise.all(pods.map((p) => p.stop()));
      await gateway.stop();
      await ledger.stop();
      await billing?.stop();
      await sim.close();
      await messaging.cleanup();
      await db.drop();
    },
  };
}
