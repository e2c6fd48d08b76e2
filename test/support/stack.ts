import { startService, type RunningService } from '@volt/platform';
import { allMigrations } from '@volt/schema';
import { Keyring } from '@volt/secrets';
import { sql } from 'kysely';
import { checkpointOf, EventStore } from '@volt/event-store';
import { createOrganization } from '@volt/identity-infra';
import { SYSTEM_ACCOUNTS, customerAccount, usdToMicros } from '@volt/ledger-contracts';
import { Ledger } from '@volt/ledger-infra';
import { TEST_NATS_URL, createTestDatabase, createTestMessaging, type TestDatabase, type TestMessaging } from '@volt/testing';
import { gatewayService } from '../../apps/gateway/src/gateway.service';
import { billingService } from '../../apps/billing/src/billing.service';
import { ledgerService } from '../../apps/ledger/src/ledger.service';
import { podsService } from '../../apps/pods/src/pods.service';
import { startProviderSim, type ProviderSim } from '../../apps/provider-sim/src/server';

export interface CallOptions {
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
  /** The API key to send; null sends none. Defaults to the first organization's owner key. */
  key?: string | null;
  /** Which gateway instance to call. */
  via?: number;
}

export interface CallResult {
  status: number;
  body: any;
  headers: Headers;
}

export interface TestStack {
  gateway: RunningService;
  gateways: RunningService[];
  pods: RunningService;
  ledger: RunningService;
  billing: RunningService;
  /** The simulated GPU clouds this stack's pods service talks to. */
  sim: ProviderSim;
  apiKey: string;
  orgId: string;
  db: TestDatabase;
  messaging: TestMessaging;
  env: Record<string, string>;
  call(method: string, path: string, options?: CallOptions): Promise<CallResult>;
  /** A new organization and its owner key, visible to the gateways once they have read it. */
  createOrg(name: string): Promise<{ orgId: string; apiKey: string }>;
  /** Stops the services this stack holds now (a test may replace one) and drops its database. */
  stop(): Promise<void>;
}

/**
 * Gateways, the pods and ledger services in this process, on a database and NATS prefix of
 * their own, with provider-sim. Each organization starts with `credit` USD (default 10,000).
 */
export async function startStack(options: { env?: Record<string, string>; gateways?: number; transitionMs?: number; credit?: number; liumCopies?: number } = {}): Promise<TestStack> {
  const db = await createTestDatabase(allMigrations);
  const messaging = await createTestMessaging();
  const sim = await startProviderSim({ transitionMs: options.transitionMs ?? 100, liumCopies: options.liumCopies ?? 1, targonCapacity: 4, priceDrift: 0, pricePeriodMs: 60_000 });
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    NATS_URL: TEST_NATS_URL,
    VOLT_NATS_PREFIX: messaging.prefix,
    PORT: '0',
    LOG_LEVEL: 'silent',
    VOLT_SECRETS_KEY: Keyring.generate('test1'),
    VOLT_PROVIDER_LIUM_URL: `${sim.url}/lium`,
    VOLT_PROVIDER_TARGON_URL: `${sim.url}/targon`,
    VOLT_PROVIDER_TIMEOUT_MS: '500',
    VOLT_PROVIDER_BACKOFF_MS: '20',
    VOLT_RECONCILE_INTERVAL_MS: '100',
    VOLT_RETRY_BACKOFF_MS: '100',
    VOLT_CATALOGUE_REFRESH_MS: '60000',
    VOLT_CREATE_GRACE_MS: '1000',
    VOLT_ORPHAN_GRACE_MS: '1000',
    ...options.env,
  };
  const pods = await startService(podsService(env), env);
  const ledger = await startService(ledgerService(), env);
  const billing = await startService(billingService(env), env);
  const gateways: RunningService[] = [];
  for (let i = 0; i < (options.gateways ?? 1); i++) gateways.push(await startService(gatewayService(env), env));
  const store = new EventStore(db.db);

  const createOrg = async (name: string) => {
    const org = await createOrganization(store, { name });
    const credit = options.credit ?? 10_000;
    if (credit > 0) {
      await new Ledger(db.db).transfer({ id: `test-credit:${org.orgId}`, debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org.orgId), amount: usdToMicros(credit) });
    }
    // Every gateway instance answers from its read model: wait until each has applied the
    // organization's last event (a catch-up alone can stop short while an older transaction is open).
    const events = await store.readStream(`identity:org:${org.orgId}`);
    const last = checkpointOf(events[events.length - 1]);
    for (const g of gateways) await g.runtime.projections.waitFor(last);
    return { orgId: org.orgId, apiKey: org.apiKey };
  };
  const first = await createOrg('E2E Org');

  const call = async (method: string, path: string, o: CallOptions = {}): Promise<CallResult> => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (o.key !== null) headers['x-api-key'] ??= o.key ?? first.apiKey;
    let body: string | undefined;
    if (o.rawBody !== undefined) body = o.rawBody;
    else if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${gateways[o.via ?? 0].url}${path}`, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: response.status, body: parsed, headers: response.headers };
  };

  return {
    gateway: gateways[0],
    gateways,
    pods,
    ledger,
    billing,
    sim,
    apiKey: first.apiKey,
    orgId: first.orgId,
    db,
    messaging,
    env,
    call,
    createOrg,
    // The services as they are now: a test may have replaced one (stopped it, started another).
    async stop(this: TestStack) {
      for (const g of this.gateways) await g.stop();
      await this.pods.stop();
      await this.billing.stop();
      await this.ledger.stop();
      await sim.close();
      await messaging.cleanup();
      await db.drop();
    },
  };
}

/**
 * Waits until each service's read models have applied everything appended so far. (A plain
 * catch-up can stop short while an older transaction is still open: the store's readers wait
 * for it rather than skip past it.)
 */
export async function settle(db: TestDatabase, ...services: RunningService[]): Promise<void> {
  const { rows } = await sql<{ transaction_id: string; position: string }>`SELECT transaction_id::text, position::text FROM es_events ORDER BY transaction_id DESC, position DESC LIMIT 1`.execute(db.db);
  if (rows.length === 0) return;
  for (const s of services) await s.runtime.projections.waitFor({ transactionId: rows[0].transaction_id, position: rows[0].position });
}
