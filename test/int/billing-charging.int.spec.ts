import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore, eventStoreMigrations, migrateToLatest } from '@volt/event-store';
import { SYSTEM_ACCOUNTS, arrearsAccount, customerAccount, microsToUsd, usdToMicros } from '@volt/ledger-contracts';
import { Ledger, ledgerHistoryProjection, ledgerMigrations } from '@volt/ledger-infra';
import { START_OF_STORE } from '@volt/contracts';
import { ProjectionRunner, projectionMigrations } from '@volt/projections';
import { createTestDatabase, failingAfter, migrationsBefore, pausedAt, tableScans, terminateLockHolder, type TestDatabase } from '@volt/testing';
import { sql } from 'kysely';
import { ChargingCycle, GracePolicy, billingMigrations, metersProjection, podUsage, usageOf, type ChargeLedger } from '@volt/billing-infra';

/** The billing service's database: the store, the projections' checkpoints, the ledger and billing. */
const BILLING_SETS = [eventStoreMigrations, projectionMigrations, ledgerMigrations, billingMigrations];

let t: TestDatabase;
let store: EventStore;
let ledger: Ledger;
let runner: ProjectionRunner;
beforeAll(async () => {
  t = await createTestDatabase(BILLING_SETS);
  store = new EventStore(t.db);
  ledger = new Ledger(t.db);
  runner = new ProjectionRunner(t.db, store, [metersProjection]);
});
afterAll(() => t.drop());

/**
 * A database of the calling describe block's own (made before its tests, dropped after them), with
 * an event store and a ledger on it: for tests whose counts or locks the other tests would disturb.
 */
function ownDatabase(options: { poolSize?: number } = {}): { db: TestDatabase['db']; store: EventStore; ledger: Ledger } {
  let own: TestDatabase;
  const handle = {} as { db: TestDatabase['db']; store: EventStore; ledger: Ledger };
  beforeAll(async () => {
    own = await createTestDatabase(BILLING_SETS, options);
    Object.assign(handle, { db: own.db, store: new EventStore(own.db), ledger: new Ledger(own.db) });
  });
  afterAll(() => own.drop());
  return handle;
}

const t0 = Date.parse('2026-06-01T10:00:00.000Z');
const at = (s: number) => new Date(t0 + s * 1000).toISOString();
const meta = (org: string) => ({ tenantId: org, correlationId: 'c', causationId: null, actor: { type: 'system' as const, id: 'test' } });

async function podLife(org: string, podId: string, events: [string, number, Record<string, unknown>?][]) {
  for (const [type, s, extra] of events) {
    const data =
      type === 'PodRequested'
        ? { podId, costPerHour: 0.39, volumeSizeGb: 50, holdId: null, requestedAt: at(s), ...extra }
        : { podId, at: at(s), ...(type === 'PodStopRequested' ? { reason: null } : {}), ...extra };
    await store.append(`pods:pod:${podId}`, [{ type, data, metadata: meta(org), occurredAt: at(s) }], { expectedVersion: 'any' });
  }
  await runner.catchUp();
}

/** The ids of the windows given back for a pod's meters, in window order. */
async function refunds(podId: string): Promise<string[]> {
  const rows = await t.db.selectFrom('ledger_entries').select('entry_id').where('entry_id', 'like', `charge:${podId}:%:refund`).execute();
  return rows.map((r) => r.entry_id as string).sort((a, b) => Number(a.split(':').at(-2)) - Number(b.split(':').at(-2)));
}

/** Prepaid credit for an organization, in USD. */
const fund = (org: string, usd: number) => ledger.transfer({ id: `fund:${org}`, debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org), amount: usdToMicros(usd) });

/** A billing cycle every 60 s of the controlled clock, from its start to `until` seconds. */
async function chargeEveryMinute(until: number): Promise<void> {
  const cycle = new ChargingCycle(t.db, store, ledger, 60_000);
  for (let s = 0; s <= until; s += 60) await cycle.run(new Date(t0 + s * 1000));
}

describe('charging cycle (controlled clock)', () => {
  it('charges exactly rate × running seconds, then storage while stopped, nothing while deploying or after delete', async () => {
    const org = 'org_clock1';
    await fund(org, 10);
    // Requested at 0, running at 10 s (deploying is free), stopped at 3,735 s, deleted 1,800 s later.
    await podLife(org, 'pod_clock1', [
      ['PodRequested', 0],
      ['PodRunning', 10, { ip: null, sshPort: null }],
      ['PodStopRequested', 3735],
      ['PodDeleteRequested', 5535],
    ]);
    const cycle = new ChargingCycle(t.db, store, ledger, 60_000);
    // A cycle every 60 s of the clock, well past the delete.
    for (let s = 0; s <= 7200; s += 60) await cycle.run(new Date(t0 + s * 1000));
    const gpu = Math.floor((390_000 * 3725) / 3600); // 0.39 USD/h for 3,725 s
    const storage = Math.floor((50 * 137 * 1800) / 3600); // 50 GB at 0.000137 USD/GB-h for 1,800 s
    expect(gpu).toBe(403_541);
    expect(storage).toBe(3_425);
    expect(await ledger.account(customerAccount(org))).toEqual({ balance: usdToMicros(10) - gpu - storage, held: 0, available: usdToMicros(10) - gpu - storage });
    // Cycles after the end, and cycles repeated for the same moment, charge nothing more.
    await cycle.run(new Date(t0 + 9000_000));
    await cycle.run(new Date(t0 + 9000_000));
    expect((await ledger.account(customerAccount(org))).balance).toBe(usdToMicros(10) - gpu - storage);
    // The pod's cost as its detail shows it is what the ledger charged, to the cent.
    expect(await podUsage(t.db, org, 'pod_clock1', new Date(t0 + 9000_000))).toEqual({ uptime_hours: 1.03, total_cost: microsToUsd(gpu + storage) });
  });

  it('charges a volume resized while stopped at its new size from the resize on', async () => {
    const org = 'org_resize';
    await fund(org, 10);
    // Stopped at 100 s with 100 GB; shrunk to 20 GB at 1,900 s; deleted at 5,500 s.
    await podLife(org, 'pod_resize', [
      ['PodRequested', 0, { volumeSizeGb: 100 }],
      ['PodRunning', 0, { ip: null, sshPort: null }],
      ['PodStopRequested', 100],
      ['PodUpdated', 1900, { volumeSizeGb: 20 }],
      ['PodDeleteRequested', 5500],
    ]);
    await chargeEveryMinute(6000);
    const gpu = Math.floor((390_000 * 100) / 3600);
    const storage = Math.floor((100 * 137 * 1800) / 3600) + Math.floor((20 * 137 * 3600) / 3600);
    expect((await ledger.account(customerAccount(org))).balance).toBe(usdToMicros(10) - gpu - storage);
    expect((await podUsage(t.db, org, 'pod_resize', new Date(t0 + 6000_000))).total_cost).toBe(microsToUsd(gpu + storage));
  });

  it('lists usage charges as one history line per pod, kind and hour charged, summing to what the ledger took', async () => {
    const org = 'org_lines';
    await fund(org, 10);
    await podLife(org, 'pod_lines', [
      ['PodRequested', 0, { volumeSizeGb: 100 }],
      ['PodRunning', 0, { ip: null, sshPort: null }],
      ['PodStopRequested', 1800],
      ['PodDeleteRequested', 3600],
    ]);
    await chargeEveryMinute(3660);
    const history = new ProjectionRunner(t.db, store, [ledgerHistoryProjection]);
    await history.catchUp();
    const lines = async () =>
      (await t.db.selectFrom('ledger_history').select(['entry_id', 'description', 'amount', 'at', 'position']).where('tenant_id', '=', org).where('type', '=', 'charge').orderBy('entry_id').execute()).map(
        (r) => ({ ...(r as { entry_id: string; description: string; at: Date; position: string }), amount: Number(r.amount) }),
      );
    // What the ledger took: a charge per meter per minute, each its own transfer.
    const charged = (await store.readAll(START_OF_STORE, 1_000_000)).filter((e) => e.type === 'ChargePosted' && (e.data as { debit: string }).debit === customerAccount(org));
    expect(charged.length).toBeGreaterThanOrEqual(60);
    const hours = new Set(charged.map((e) => `${(e.data as { description: string }).description}:${(e.data as { at: string }).at.slice(0, 13)}`));
    const listed = await lines();
    // One line per kind and hour they were charged in (two kinds; a run crossing an hour has more).
    expect(listed).toHaveLength(hours.size);
    expect(listed.map((l) => l.entry_id)).toEqual(expect.arrayContaining([expect.stringMatching(/^charges:pod_lines:gpu-time:/), expect.stringMatching(/^charges:pod_lines:storage-while-stopped:/)]));
    expect(listed[0].description).toMatch(/^GPU time, charged \d{4}-\d\d-\d\d \d\d:00–\d\d:00 UTC$/);
    expect(listed.reduce((s, l) => s + l.amount, 0)).toBe(-charged.reduce((s, e) => s + (e.data as { amount: number }).amount, 0));
    // Summed lines still rebuild into the same rows.
    await history.rebuild('ledger.history');
    expect(await lines()).toEqual(listed);
  });

  it('reports GPU-seconds as GPUs × seconds, a pod resized while stopped counting its new GPUs from its next start', async () => {
    const org = 'org_gpus';
    // Two GPUs for 600 s; stopped and resized to four; four GPUs for 300 s; deleted.
    await podLife(org, 'pod_gpus', [
      ['PodRequested', 0, { gpuCount: 2 }],
      ['PodRunning', 0, { ip: null, sshPort: null }],
      ['PodStopRequested', 600],
      ['PodUpdated', 700, { gpuCount: 4, costPerHour: 0.78 }],
      ['PodRunning', 800, { ip: null, sshPort: null }],
      ['PodStopRequested', 1100],
      ['PodDeleteRequested', 1200],
    ]);
    const usage = await usageOf(t.db, org, new Date(t0), new Date(t0 + 86_400_000));
    expect(usage.usage).toEqual([{ date: '2026-06-01', resource: 'pod_gpus', gpu_seconds: 2 * 600 + 4 * 300, storage_seconds: 200 + 100, cost: expect.any(Number), currency: 'USD' }]);
  });

  it('gives the same total whether charged every minute or once at the end', async () => {
    const life = (org: string) =>
      podLife(org, `pod_${org}`, [
        ['PodRequested', 0, { costPerHour: 2.69, volumeSizeGb: 200 }],
        ['PodRunning', 37, { ip: null, sshPort: null }],
        ['PodStopRequested', 1999],
        ['PodRunning', 2500, { ip: null, sshPort: null }],
        ['PodDeleteRequested', 4321],
      ]);
    for (const org of ['org_every', 'org_once']) await fund(org, 50);
    const cycle = new ChargingCycle(t.db, store, ledger, 60_000);
    await life('org_every');
    for (let s = 0; s <= 4400; s += 60) await cycle.run(new Date(t0 + s * 1000));
    // The second pod's whole life reaches billing only now: one cycle charges all of its windows.
    await life('org_once');
    await cycle.run(new Date(t0 + 4400_000));
    const spentEvery = usdToMicros(50) - (await ledger.account(customerAccount('org_every'))).balance;
    const spentOnce = usdToMicros(50) - (await ledger.account(customerAccount('org_once'))).balance;
    const expected = Math.floor((2_690_000 * 1962) / 3600) + Math.floor((200 * 137 * 501) / 3600) + Math.floor((2_690_000 * 1821) / 3600);
    expect(spentEvery).toBe(expected);
    expect(spentOnce).toBe(expected);
  });

  describe('a stop that reaches billing after windows past it were charged', () => {
    /** Running from 10 s; the cycles at 60, 120 and 180 s charge three windows; then the stop, stamped 95 s, arrives. */
    async function lateStop(org: string, podId: string, beforeStop?: () => Promise<unknown>) {
      await podLife(org, podId, [
        ['PodRequested', 0],
        ['PodRunning', 10, { ip: null, sshPort: null }],
      ]);
      const cycle = new ChargingCycle(t.db, store, ledger, 60_000);
      for (const s of [60, 120, 180]) await cycle.run(new Date(t0 + s * 1000));
      await beforeStop?.();
      await podLife(org, podId, [['PodStopRequested', 95]]);
      return { cycle, report: await cycle.run(new Date(t0 + 240_000)) };
    }
    const gpuDue = Math.floor((390_000 * 85) / 3600); // 85 s of GPU time
    const storage = Math.floor((50 * 137 * 145) / 3600); // stopped 95–240 s

    it('gives back what they took beyond the stop, to the micro-dollar, once', async () => {
      const org = 'org_stopped_late';
      await fund(org, 10);
      const { cycle, report } = await lateStop(org, 'pod_stopped_late');
      // 170 s were charged as GPU time (18,416): the window that held the stop gives back 2,708, the next one all of its 6,500.
      expect(report.givenBack).toBe(2);
      const ids = await refunds('pod_stopped_late');
      expect([...(await ledger.posted(ids)).values()]).toEqual([2708, 6500]);
      expect((await ledger.account(customerAccount(org))).balance).toBe(usdToMicros(10) - gpuDue - storage);
      expect(await podUsage(t.db, org, 'pod_stopped_late', new Date(t0 + 240_000))).toEqual({ uptime_hours: 0.02, total_cost: microsToUsd(gpuDue + storage) });
      // Later cycles, and the same moment again, give back nothing more.
      for (const s of [240, 300]) expect((await cycle.run(new Date(t0 + s * 1000))).givenBack).toBe(0);
      expect(await refunds('pod_stopped_late')).toEqual(ids);
      expect((await ledger.account(customerAccount(org))).balance).toBe(usdToMicros(10) - gpuDue - Math.floor((50 * 137 * 205) / 3600));
      // The customer's history shows the money given back as a refund naming the pod.
      const history = new ProjectionRunner(t.db, store, [ledgerHistoryProjection]);
      await history.catchUp();
      const back = await t.db.selectFrom('ledger_history').select(['amount', 'resource', 'description']).where('tenant_id', '=', org).where('type', '=', 'refund').execute();
      expect(back.map((b) => [Number(b.amount), b.resource, b.description])).toEqual(
        expect.arrayContaining([[2708, 'pod_stopped_late', expect.stringMatching(/^GPU time charged past its end \(2026-06-01T10:01:35.000Z\), given back$/)], [6500, 'pod_stopped_late', expect.any(String)]]),
      );
    });

    it('gives them back after a crash that lost how far the meter was charged', async () => {
      const org = 'org_late_crash';
      await fund(org, 10);
      // The windows were posted, but the cycle died before it wrote its progress: only its plan remains.
      await lateStop(org, 'pod_late_crash', () =>
        sql`UPDATE billing_progress p SET charged_until = m.started_at FROM billing_meters m
            WHERE m.meter_id = p.meter_id AND m.pod_id = 'pod_late_crash' AND m.kind = 'gpu'`.execute(t.db),
      );
      expect((await ledger.account(customerAccount(org))).balance).toBe(usdToMicros(10) - gpuDue - storage);
      expect(await refunds('pod_late_crash')).toHaveLength(2);
    });

    it('gives windows owed as arrears back against what is owed', async () => {
      const org = 'org_late_poor';
      await ledger.transfer({ id: 'fund:late_poor', debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org), amount: 1000 });
      await lateStop(org, 'pod_late_poor');
      // 18,416 owed for 170 s; 9,208 due for 85 s: the 9,208 given back pays the arrears down, the balance keeps paying storage.
      expect((await ledger.account(arrearsAccount(org))).balance).toBe(-gpuDue);
      expect((await ledger.account(customerAccount(org))).balance).toBe(1000 - storage);
    });
  });

  it('records what the balance cannot pay as arrears and says the balance is exhausted, once per window', async () => {
    const org = 'org_poor';
    await ledger.transfer({ id: 'fund:poor', debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org), amount: 1000 });
    await podLife(org, 'pod_poor', [
      ['PodRequested', 0],
      ['PodRunning', 0, { ip: null, sshPort: null }],
    ]);
    const cycle = new ChargingCycle(t.db, store, ledger, 60_000);
    const first = await cycle.run(new Date(t0 + 120_000));
    expect(first.exhausted).toEqual([org]);
    await cycle.run(new Date(t0 + 120_000));
    const exhausted = await store.readStream(`billing:org:${org}`);
    expect(exhausted.map((e) => e.type)).toEqual(['BalanceExhausted', 'BalanceExhausted']);
    // Each 60 s window is 6,500 micro-dollars; neither fits in 1,000.
    expect((await ledger.account(customerAccount(org))).balance).toBe(1000);
    expect((await ledger.account(`arrears:${org}`)).balance).toBe(-13_000);
  });
});

describe('grace period at zero balance (controlled clock, the default 72 h and 24 h)', () => {
  const HOUR = 3_600_000;
  const events = async (org: string) => (await store.readStream(`billing:org:${org}`)).filter((e) => e.type !== 'BalanceExhausted');
  // An organization with 1,000 micro-dollars whose pod ran 60 s and was stopped: its GPU
  // minute (6,500) is owed from the first cycle, and storage accrues after. Hourly windows
  // keep three days of charging short.
  async function broke(org: string) {
    await ledger.transfer({ id: `fund:${org}`, debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org), amount: 1000 });
    await podLife(org, `pod_${org}`, [
      ['PodRequested', 0],
      ['PodRunning', 0, { ip: null, sshPort: null }],
      ['PodStopRequested', 60],
    ]);
  }
  async function tick(cycle: ChargingCycle, grace: GracePolicy, ms: number) {
    const report = await cycle.run(new Date(t0 + ms));
    await grace.run(report.exhausted, new Date(t0 + ms));
  }

  it('warns 24 h before and expires 72 h after the first unpaid charge, naming the stopped pods, once each', async () => {
    const org = 'org_late';
    await broke(org);
    const cycle = new ChargingCycle(t.db, store, ledger, HOUR);
    const grace = new GracePolicy(t.db, store, ledger, 72 * HOUR, 24 * HOUR);
    const zero = 120_000;
    await tick(cycle, grace, zero);
    expect((await ledger.account(arrearsAccount(org))).balance).toBeLessThan(0);
    await tick(cycle, grace, zero + 48 * HOUR - 1);
    expect(await events(org)).toEqual([]);
    await tick(cycle, grace, zero + 48 * HOUR);
    await tick(cycle, grace, zero + 49 * HOUR);
    const warned = await events(org);
    expect(warned.map((e) => e.type)).toEqual(['PodsDeletionScheduled']);
    expect(warned[0].data).toMatchObject({ tenantId: org, zeroSince: new Date(t0 + zero).toISOString(), deleteAt: new Date(t0 + zero + 72 * HOUR).toISOString(), podIds: [`pod_${org}`] });
    await tick(cycle, grace, zero + 72 * HOUR - 1);
    expect((await events(org)).length).toBe(1);
    await tick(cycle, grace, zero + 72 * HOUR);
    await tick(cycle, grace, zero + 73 * HOUR);
    const expired = await events(org);
    expect(expired.map((e) => e.type)).toEqual(['PodsDeletionScheduled', 'GracePeriodExpired']);
    expect(expired[1].data).toMatchObject({ tenantId: org, podIds: [`pod_${org}`] });
    // Storage kept accruing (what the 1,000 could not pay, as arrears); the balance never went below zero.
    expect((await ledger.account(customerAccount(org))).balance).toBeGreaterThanOrEqual(0);
    expect((await ledger.account(arrearsAccount(org))).balance).toBeLessThan(-6500);
  });

  it('stops the clock when a top-up pays the arrears, and keeps it running while it does not', async () => {
    const org = 'org_payer';
    await broke(org);
    const cycle = new ChargingCycle(t.db, store, ledger, HOUR);
    const grace = new GracePolicy(t.db, store, ledger, 72 * HOUR, 24 * HOUR);
    await tick(cycle, grace, 120_000);
    await tick(cycle, grace, 50 * HOUR);
    expect((await events(org)).map((e) => e.type)).toEqual(['PodsDeletionScheduled']);
    // A top-up smaller than what is owed pays part of the arrears and leaves the balance at zero: the clock runs on.
    const owed = -(await ledger.account(arrearsAccount(org))).balance;
    await ledger.transfer({ id: `topup1:${org}`, debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org), amount: owed - 100 });
    await tick(cycle, grace, 51 * HOUR);
    expect((await events(org)).map((e) => e.type)).toEqual(['PodsDeletionScheduled']);
    // One that covers the rest stops it: nothing is deleted at 72 h.
    await ledger.transfer({ id: `topup2:${org}`, debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org), amount: usdToMicros(5) });
    await tick(cycle, grace, 52 * HOUR);
    await tick(cycle, grace, 80 * HOUR);
    expect((await events(org)).map((e) => e.type)).toEqual(['PodsDeletionScheduled', 'BalanceRestored']);
    expect((await ledger.account(arrearsAccount(org))).balance).toBe(0);
  });

  it('stops the clock of an organization whose arrears were recorded after its top-up, paying them from the balance', async () => {
    const org = 'org_late_owed';
    await broke(org);
    const cycle = new ChargingCycle(t.db, store, ledger, HOUR);
    const grace = new GracePolicy(t.db, store, ledger, 72 * HOUR, 24 * HOUR);
    await tick(cycle, grace, 120_000);
    await ledger.transfer({ id: `topup:${org}`, debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org), amount: usdToMicros(5) });
    // A window refused before the top-up whose arrears land after it.
    await ledger.transfer({ id: `late-owed:${org}`, debit: arrearsAccount(org), credit: SYSTEM_ACCOUNTS.revenue, amount: 7000 });
    expect((await ledger.account(arrearsAccount(org))).balance).toBe(-7000);
    await tick(cycle, grace, 2 * HOUR);
    expect((await events(org)).map((e) => e.type)).toEqual(['BalanceRestored']);
    expect((await ledger.account(arrearsAccount(org))).balance).toBe(0);
    await tick(cycle, grace, 80 * HOUR);
    expect((await events(org)).map((e) => e.type)).toEqual(['BalanceRestored']);
  });
});

describe('the settled mark (a database of its own)', () => {
  const own = ownDatabase({ poolSize: 3 });
  let ownRunner: ProjectionRunner;
  beforeAll(() => {
    ownRunner = new ProjectionRunner(own.db, own.store, [metersProjection]);
  });

  async function life(org: string, podId: string, events: [string, number][]) {
    for (const [type, s] of events) {
      const data = type === 'PodRequested' ? { podId, costPerHour: 0.39, volumeSizeGb: 50, holdId: null, requestedAt: at(s) } : { podId, at: at(s), ...(type === 'PodRunning' ? { ip: null, sshPort: null } : {}) };
      await own.store.append(`pods:pod:${podId}`, [{ type, data, metadata: meta(org), occurredAt: at(s) }], { expectedVersion: 'any' });
    }
    await ownRunner.catchUp();
  }
  // Each connection reports its scan counters once it is idle, at most once a second: wait, then
  // have all three (held at once, so each its own) report before the counters are read.
  const scans = async () => {
    await new Promise((r) => setTimeout(r, 1100));
    await Promise.all([1, 2, 3].map(() => sql`SELECT pg_stat_force_next_flush(), pg_sleep(0.05)`.execute(own.db)));
    return tableScans(own.db, 'billing_meters');
  };
  const mark = async () => (await sql<{ p: string }>`SELECT position::text AS p FROM billing_settled_through`.execute(own.db)).rows[0]?.p ?? null;
  const closedAt = async (podId: string) =>
    (await sql<{ p: string }>`SELECT closed_position::text AS p FROM billing_meters WHERE pod_id = ${podId} AND ended_at IS NOT NULL`.execute(own.db)).rows[0].p;

  it('stops at the first closed meter not yet charged to its end, and charges every window of both', async () => {
    const org = 'org_mark';
    await own.ledger.transfer({ id: 'fund:mark', debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org), amount: usdToMicros(10) });
    // pod_early's meter closes first in the order but at 600 s; pod_late's closes after it, at 300 s.
    await life(org, 'pod_early', [['PodRequested', 0], ['PodRunning', 0], ['PodDeleteRequested', 600]]);
    await life(org, 'pod_late', [['PodRequested', 0], ['PodRunning', 0], ['PodDeleteRequested', 300]]);
    const cycle = new ChargingCycle(own.db, own.store, own.ledger, 60_000);
    await cycle.run(new Date(t0 + 400_000));
    // pod_late is settled, but pod_early, closed before it, is charged only to 400 s: no mark yet.
    expect(await mark()).toBeNull();
    await cycle.run(new Date(t0 + 700_000));
    expect(await mark()).toBe(await closedAt('pod_late'));
    const spent = usdToMicros(10) - (await own.ledger.account(customerAccount(org))).balance;
    expect(spent).toBe(Math.floor((390_000 * 600) / 3600) + Math.floor((390_000 * 300) / 3600));
  });

  it('reads only open meters and those closed after the mark, not a long settled history', async () => {
    const org = 'org_history';
    await own.ledger.transfer({ id: 'fund:history', debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org), amount: usdToMicros(10) });
    // 50,000 meters closed and settled before the mark, as a busy year leaves them.
    await sql`INSERT INTO billing_meters (meter_id, pod_id, tenant_id, kind, rate, hold_id, started_at, ended_at, closed_transaction_id, closed_position)
      SELECT 'old_' || i, 'pod_old_' || (i % 10000), ${org}, 'gpu', 390000, null, ${at(-90_000)}::timestamptz, ${at(-86_400)}::timestamptz, '1'::xid8, i
      FROM generate_series(1, 50000) i`.execute(own.db);
    await sql`ANALYZE billing_meters`.execute(own.db);
    await life(org, 'pod_now', [['PodRequested', 1000], ['PodRunning', 1000]]);
    const cycle = new ChargingCycle(own.db, own.store, own.ledger, 60_000);
    const before = await scans();
    const report = await cycle.run(new Date(t0 + 1600_000));
    const after = await scans();
    expect(report.meters).toBe(1);
    expect(after.seq - before.seq).toBe(0);
    // Complete windows only, for a meter still open: 1,000 s to 1,560 s.
    expect(usdToMicros(10) - (await own.ledger.account(customerAccount(org))).balance).toBe(Math.floor((390_000 * 560) / 3600));
  });
});

describe('the settled-mark migration on a database that already has meters', () => {
  const MIGRATION = '2026-11-30T0100-billing-settled-through';

  // A billing database as the previous release left it: the projection's checkpoint, a meter
  // still open, and closed meters charged to their end or (when `owed`) not yet.
  async function olderDatabase(owed: boolean): Promise<TestDatabase> {
    const old = await createTestDatabase([migrationsBefore(MIGRATION, ...BILLING_SETS)]);
    await sql`INSERT INTO proj_checkpoints (name, transaction_id, position) VALUES ('billing.meters', '900'::xid8, 4200)`.execute(old.db);
    await sql`INSERT INTO billing_meters (meter_id, pod_id, tenant_id, kind, rate, hold_id, started_at, ended_at) VALUES
      ('m_open', 'pod_a', 'org_m', 'gpu', 390000, null, ${at(0)}::timestamptz, null),
      ('m_done', 'pod_b', 'org_m', 'gpu', 390000, null, ${at(0)}::timestamptz, ${at(600)}::timestamptz),
      ('m_owed', 'pod_c', 'org_m', 'gpu', 390000, null, ${at(0)}::timestamptz, ${at(600)}::timestamptz)`.execute(old.db);
    await sql`INSERT INTO billing_progress (meter_id, charged_until) VALUES ('m_done', ${at(600)}::timestamptz), ('m_owed', ${at(owed ? 300 : 600)}::timestamptz)`.execute(old.db);
    await migrateToLatest(old.db, ...BILLING_SETS);
    return old;
  }
  const places = async (d: TestDatabase) =>
    (await sql<{ meter_id: string; place: string | null }>`SELECT meter_id, closed_transaction_id::text || ':' || closed_position AS place FROM billing_meters ORDER BY meter_id`.execute(d.db)).rows;
  const markOf = async (d: TestDatabase) => (await sql<{ m: string }>`SELECT transaction_id::text || ':' || position AS m FROM billing_settled_through`.execute(d.db)).rows[0]?.m ?? null;

  it('places the closed meters at the projection checkpoint, and starts the mark there when all were settled', async () => {
    const settled = await olderDatabase(false);
    try {
      expect(await places(settled)).toEqual([
        { meter_id: 'm_done', place: '900:4200' },
        { meter_id: 'm_open', place: null },
        { meter_id: 'm_owed', place: '900:4200' },
      ]);
      expect(await markOf(settled)).toBe('900:4200');
    } finally {
      await settled.drop();
    }
    const owing = await olderDatabase(true);
    try {
      expect(await markOf(owing)).toBeNull();
      // The next cycle charges what is owed (300 s to 600 s), then the mark passes both.
      const l = new Ledger(owing.db);
      await l.transfer({ id: 'fund:m', debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount('org_m'), amount: usdToMicros(10) });
      await new ChargingCycle(owing.db, new EventStore(owing.db), l, 60_000).run(new Date(t0 + 700_000));
      expect(await markOf(owing)).toBe('900:4200');
      // The open meter's complete windows (0 to 660 s) and the rest of the owed one.
      expect(usdToMicros(10) - (await l.account(customerAccount('org_m'))).balance).toBe(Math.floor((390_000 * 660) / 3600) + Math.floor((390_000 * 600) / 3600) - Math.floor((390_000 * 300) / 3600));
    } finally {
      await owing.drop();
    }
  });
});

describe('the GPU-count migration on a database that already has meters', () => {
  it('gives each pod its latest count and each GPU meter the count its pod had when it opened (one where no event said)', async () => {
    const old = await createTestDatabase([migrationsBefore('2026-12-01T0400-billing-meter-gpus', ...BILLING_SETS)]);
    try {
      const oldStore = new EventStore(old.db);
      const append = async (podId: string, type: string, data: Record<string, unknown>) =>
        (await oldStore.append(`pods:pod:${podId}`, [{ type, data: { podId, ...data }, metadata: meta('org_g'), occurredAt: at(0) }], { expectedVersion: 'any' })).positions[0];
      await append('pod_g', 'PodRequested', { gpuCount: 3 });
      const first = await append('pod_g', 'PodRunning', {});
      await append('pod_g', 'PodUpdated', { gpuCount: 1 });
      const second = await append('pod_g', 'PodRunning', {});
      const legacy = await append('pod_legacy', 'PodRunning', {});
      await sql`INSERT INTO billing_pods (pod_id, tenant_id, provider, gpu_type, gpu_rate, volume_size_gb) VALUES
        ('pod_g', 'org_g', 'lium', 'A100', 1, 50), ('pod_legacy', 'org_g', 'lium', 'A100', 1, 50)`.execute(old.db);
      await sql`INSERT INTO billing_meters (meter_id, pod_id, tenant_id, kind, rate, started_at) VALUES
        (${`pod_g:${first}`}, 'pod_g', 'org_g', 'gpu', 1, now()), (${`pod_g:${second}`}, 'pod_g', 'org_g', 'gpu', 1, now()),
        (${`pod_legacy:${legacy}`}, 'pod_legacy', 'org_g', 'gpu', 1, now())`.execute(old.db);
      await migrateToLatest(old.db, ...BILLING_SETS);
      const pods = await sql<{ pod_id: string; gpu_count: number }>`SELECT pod_id, gpu_count FROM billing_pods ORDER BY pod_id`.execute(old.db);
      expect(pods.rows).toEqual([{ pod_id: 'pod_g', gpu_count: 1 }, { pod_id: 'pod_legacy', gpu_count: 1 }]);
      const meters = await sql<{ meter_id: string; gpu_count: number }>`SELECT meter_id, gpu_count FROM billing_meters ORDER BY meter_id`.execute(old.db);
      expect(Object.fromEntries(meters.rows.map((r) => [r.meter_id, r.gpu_count]))).toEqual({ [`pod_g:${first}`]: 3, [`pod_g:${second}`]: 1, [`pod_legacy:${legacy}`]: 1 });
    } finally {
      await old.drop();
    }
  });
});

describe('a cycle whose lock is lost (a database of its own)', () => {
  const own = ownDatabase();

  it('stops taking meters, and the next cycle charges the rest, each window once', async () => {
    const org = 'org_lost_lock';
    await own.ledger.transfer({ id: 'fund:lost', debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org), amount: usdToMicros(1000) });
    const pods = 300;
    for (let i = 0; i < pods; i++) {
      const podId = `pod_lost${i}`;
      const append = (type: string, data: Record<string, unknown>) =>
        own.store.append(`pods:pod:${podId}`, [{ type, data, metadata: meta(org), occurredAt: at(0) }], { expectedVersion: 'any' });
      await append('PodRequested', { podId, costPerHour: 0.39, volumeSizeGb: 50, holdId: null, requestedAt: at(0) });
      await append('PodRunning', { podId, at: at(10), ip: null, sshPort: null });
    }
    await new ProjectionRunner(own.db, own.store, [metersProjection]).catchUp();
    // At the first charge, PostgreSQL loses the connection that holds the cycle's lock.
    let terminated: Promise<unknown> | undefined;
    const terminate = () =>
      (terminated ??= terminateLockHolder(own.db, 'volt:billing:cycle'));
    const hour = 3_600_000;
    const cycle = new ChargingCycle(own.db, own.store, own.ledger, hour, undefined, terminate);
    // One whole hourly window to charge per pod: 3,590 running seconds each.
    const now = new Date(t0 + hour + 10_000);
    const first = await cycle.run(now);
    await terminated;
    expect(first.charges).toBeGreaterThan(0);
    expect(first.charges).toBeLessThan(pods);
    const second = await cycle.run(now);
    expect(first.charges + second.charges).toBe(pods);
    const perPod = Math.floor((390_000 * 3590) / 3600);
    expect((await own.ledger.account(customerAccount(org))).balance).toBe(usdToMicros(1000) - pods * perPod);
  });
});

describe('a cycle that lost its lock while charging a window past a stop (a database of its own)', () => {
  const own = ownDatabase();

  it('is refused by the ledger once the next cycle has settled the stop, so the pod pays exactly to its stop', async () => {
    const org = 'org_superseded';
    const podId = 'pod_superseded';
    await own.ledger.transfer({ id: 'fund:superseded', debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org), amount: usdToMicros(10) });
    const append = async (type: string, s: number, extra: Record<string, unknown> = {}) => {
      const data = type === 'PodRequested' ? { podId, costPerHour: 0.39, volumeSizeGb: 50, holdId: null, requestedAt: at(s) } : { podId, at: at(s), ...extra };
      await own.store.append(`pods:pod:${podId}`, [{ type, data, metadata: meta(org), occurredAt: at(s) }], { expectedVersion: 'any' });
      await new ProjectionRunner(own.db, own.store, [metersProjection]).catchUp();
    };
    await append('PodRequested', 0);
    await append('PodRunning', 10, { ip: null, sshPort: null });
    const gpu = (await own.db.selectFrom('billing_meters').select('meter_id').where('pod_id', '=', podId).where('kind', '=', 'gpu').executeTakeFirstOrThrow()).meter_id as string;
    // Cycle A, at 130 s, charges the running pod's windows 0–60 s and 60–120 s; it stalls before sending the second.
    const second = `charge:${gpu}:${t0 / 60_000 + 1}`;
    let reached!: () => void;
    let resume!: () => void;
    const stalled = new Promise<void>((r) => (reached = r));
    const resumed = new Promise<void>((r) => (resume = r));
    const slowLedger: ChargeLedger = {
      charge: async (r) => {
        if (r.id === second) {
          reached();
          await resumed;
        }
        return own.ledger.charge(r);
      },
      transfer: (r) => own.ledger.transfer(r),
      posted: (ids) => own.ledger.posted(ids),
      advanceFence: (name) => own.ledger.advanceFence(name),
    };
    const now = new Date(t0 + 130_000);
    const a = new ChargingCycle(own.db, own.store, slowLedger, 60_000).run(now);
    await stalled;
    // Meanwhile the stop, stamped 30 s, reaches billing; A's lock goes with its connection, and cycle B settles the stop.
    await append('PodStopRequested', 30, { reason: null });
    await terminateLockHolder(own.db, 'volt:billing:cycle');
    const b = await new ChargingCycle(own.db, own.store, own.ledger, 60_000).run(now);
    expect(b.givenBack).toBe(1); // window 0, which A charged in full (10–60 s), given back beyond 30 s
    resume();
    // A's charge for 60–120 s, after the stop, is refused rather than posted behind B's back.
    const report = await a;
    expect(report.charges).toBe(1);
    expect(await own.ledger.posted([second])).toEqual(new Map());
    const gpuDue = Math.floor((390_000 * 20) / 3600); // running 10–30 s
    const storage = Math.floor((50 * 137 * 90) / 3600); // stopped 30–120 s, the windows over by 130 s
    expect((await own.ledger.account(customerAccount(org))).balance).toBe(usdToMicros(10) - gpuDue - storage);
    // What A saved of its progress (to 60 s) leaves the settled meter charged to its end.
    const progress = await own.db.selectFrom('billing_progress').select(['charged_until', 'planned_until']).where('meter_id', '=', gpu).executeTakeFirstOrThrow();
    expect([progress.charged_until.toISOString(), progress.planned_until]).toEqual([at(30), null]);
    // The next cycle finds nothing more to give back or charge for the GPU.
    expect((await new ChargingCycle(own.db, own.store, own.ledger, 60_000).run(now)).givenBack).toBe(0);
    expect((await own.ledger.account(customerAccount(org))).balance).toBe(usdToMicros(10) - gpuDue - storage);
  });
});

describe('a rebuild of billing.meters while billing charges (a database of its own)', () => {
  const own = ownDatabase();

  it('charges a meter closed long ago nothing more while a rebuild runs, or after one dies half-way', async () => {
    const org = 'org_rebuild';
    const podId = 'pod_rebuild';
    const events: [string, number, Record<string, unknown>][] = [
      ['PodRequested', 0, { costPerHour: 0.39, volumeSizeGb: 50, holdId: null, requestedAt: at(0) }],
      ['PodRunning', 0, { ip: null, sshPort: null }],
      ['PodStopRequested', 600, { reason: null }],
      ['PodDeleteRequested', 600, {}],
    ];
    for (const [type, s, extra] of events) {
      await own.store.append(`pods:pod:${podId}`, [{ type, data: { podId, at: at(s), ...extra }, metadata: meta(org), occurredAt: at(s) }], { expectedVersion: 'any' });
    }
    await own.ledger.transfer({ id: 'fund:rebuild', debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org), amount: usdToMicros(10) });
    const meters = new ProjectionRunner(own.db, own.store, [metersProjection]);
    await meters.catchUp();
    const cycle = new ChargingCycle(own.db, own.store, own.ledger, 60_000);
    await cycle.run(new Date(t0 + 700_000));
    const spent = async () => usdToMicros(10) - (await own.ledger.account(customerAccount(org))).balance;
    const charged = Math.floor((390_000 * 600) / 3600);
    expect(await spent()).toBe(charged);
    const openMeters = async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM billing_meters WHERE ended_at IS NULL`.execute(own.db)).rows[0].n;

    // An operator's rebuild whose second batch waits while a cycle runs: the meter, replayed as
    // far as its opening, must not be what the cycle sees.
    const paused = pausedAt(metersProjection, 2);
    const rebuilding = new ProjectionRunner(own.db, own.store, [paused.projection], { batchSize: 2 }).rebuild('billing.meters');
    await paused.reached;
    expect(await openMeters()).toBe(0);
    expect((await cycle.run(new Date(t0 + 7_200_000))).charges).toBe(0);
    paused.resume();
    await rebuilding;
    // Killed after its first batch (the pod's first two events): the tables in use are untouched.
    await expect(new ProjectionRunner(own.db, own.store, [failingAfter(metersProjection, 1)], { batchSize: 2 }).rebuild('billing.meters')).rejects.toThrow('killed');
    expect(await openMeters()).toBe(0);
    expect((await cycle.run(new Date(t0 + 10_800_000))).charges).toBe(0);
    expect(await spent()).toBe(charged);
  });
});
