import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { EventStore, eventStoreMigrations } from '@volt/event-store';
import { START_OF_STORE } from '@volt/contracts';
import { metricsRegistry } from '@volt/telemetry';
import { createTestDatabase, failingAfter, pausedAt, testEvent, type TestDatabase } from '@volt/testing';
import { ProjectionRunner, projectionMigrations, type Projection } from './index';

let t: TestDatabase;
let store: EventStore;

/** Per stream: how many deposits, their sum, and the last one seen (order matters for it). */
const totals: Projection = {
  name: 'test.totals',
  handles: ['Deposited', 'Withdrawn'],
  tables: ['test_totals'],
  async apply(trx, events) {
    for (const e of events) {
      const amount = (e.data as { amount: number }).amount * (e.type === 'Withdrawn' ? -1 : 1);
      await sql`INSERT INTO test_totals (stream_id, count, balance, last_amount) VALUES (${e.streamId}, 1, ${amount}, ${amount})
        ON CONFLICT (stream_id) DO UPDATE SET count = test_totals.count + 1, balance = test_totals.balance + ${amount}, last_amount = ${amount}`.execute(trx);
    }
  },
};

/**
 * The same read model as one statement per batch (a StatementProjection): each stream's events
 * summed in memory and added to its row, so an event applied twice, or missed, shows in the sums.
 */
const totalsByStatement: Projection = {
  name: 'test.totals',
  handles: ['Deposited', 'Withdrawn'],
  tables: ['test_totals'],
  async write(_db, events, claimed) {
    const sums = new Map<string, { count: number; balance: number; last: number }>();
    for (const e of events) {
      const amount = (e.data as { amount: number }).amount * (e.type === 'Withdrawn' ? -1 : 1);
      const sum = sums.get(e.streamId) ?? { count: 0, balance: 0, last: 0 };
      sums.set(e.streamId, { count: sum.count + 1, balance: sum.balance + amount, last: amount });
    }
    const streams = [...sums.keys()].sort();
    return sql`INSERT INTO test_totals (stream_id, count, balance, last_amount)
      SELECT * FROM unnest(${streams}::text[], ${streams.map((s) => sums.get(s)!.count)}::int[], ${streams.map((s) => sums.get(s)!.balance)}::bigint[],
                           ${streams.map((s) => sums.get(s)!.last)}::bigint[])
      WHERE ${claimed}
      ON CONFLICT (stream_id) DO UPDATE SET count = test_totals.count + EXCLUDED.count, balance = test_totals.balance + EXCLUDED.balance,
        last_amount = EXCLUDED.last_amount`;
  },
};

beforeAll(async () => {
  t = await createTestDatabase([eventStoreMigrations, projectionMigrations]);
  await sql`CREATE TABLE test_totals (stream_id text PRIMARY KEY, count int NOT NULL, balance bigint NOT NULL, last_amount bigint NOT NULL)`.execute(t.db);
  store = new EventStore(t.db);
});
afterAll(() => t.drop());

const rows = async () => (await sql`SELECT * FROM test_totals ORDER BY stream_id`.execute(t.db)).rows;

const kinds: [string, Projection][] = [
  ['in a transaction', totals],
  ['as one statement', totalsByStatement],
];

describe('projection runner', () => {
  it.each(kinds)('builds incrementally while events arrive, and a rebuild from position 0 gives identical rows (%s)', async (_kind, projection) => {
    await sql`TRUNCATE test_totals`.execute(t.db);
    await sql`DELETE FROM proj_checkpoints`.execute(t.db);
    const earlier = await store.readAll(START_OF_STORE, 1_000_000);
    const earlierMoves = earlier.filter((e) => e.type === 'Deposited' || e.type === 'Withdrawn').length;
    const runner = new ProjectionRunner(t.db, store, [projection], { batchSize: 37, idleMs: 2 });
    runner.start();
    let n = 0;
    for (let round = 0; round < 20; round++) {
      await Promise.all(
        Array.from({ length: 25 }, () => {
          n++;
          return store.append(`acct-${n % 11}`, [testEvent(n % 4 === 0 ? 'Withdrawn' : 'Deposited', { amount: n }), testEvent('Noted', {})], { expectedVersion: 'any' });
        }),
      );
    }
    const last = await store.append('acct-final', [testEvent('Deposited', { amount: 1 })], { expectedVersion: 'any' });
    await runner.waitFor({ transactionId: last.transactionId, position: last.positions[0] });
    await runner.stop();
    const incremental = await rows();
    expect(incremental.reduce((s, r: any) => s + r.count, 0)).toBe(earlierMoves + n + 1);

    const replayed = await new ProjectionRunner(t.db, store, [projection]).rebuild('test.totals');
    expect(replayed).toBe(earlier.length + 2 * n + 1);
    expect(await rows()).toEqual(incremental);
  });

  it('names the projection that fails a batch, and the others in the same read apply theirs', async () => {
    await sql`CREATE TABLE test_seen (projection text PRIMARY KEY, events int NOT NULL)`.execute(t.db);
    const counting = (name: string, refuses: () => boolean): Projection => ({
      name,
      handles: ['Seen', 'Refused'],
      tables: ['test_seen'],
      async apply(trx, events) {
        if (refuses() && events.some((e) => e.type === 'Refused')) throw new Error('cannot apply Refused');
        await sql`INSERT INTO test_seen VALUES (${name}, ${events.length}) ON CONFLICT (projection) DO UPDATE SET events = test_seen.events + ${events.length}`.execute(trx);
      },
    });
    let refusing = true;
    const healthy = counting('test.healthy', () => false);
    const picky = counting('test.picky', () => refusing);
    await store.append('seen-1', [testEvent('Seen'), testEvent('Refused'), testEvent('Seen')], { expectedVersion: 0 });
    const head = await store.head();
    const runner = new ProjectionRunner(t.db, store, [healthy, picky]);
    await expect(runner.catchUp()).rejects.toThrow(/^projection test\.picky failed on the events after position \d+: cannot apply Refused$/);
    const seen = async () => Object.fromEntries((await sql<{ projection: string; events: number }>`SELECT * FROM test_seen`.execute(t.db)).rows.map((r) => [r.projection, r.events]));
    const all = (await store.readAll(START_OF_STORE, 1_000_000)).filter((e) => e.type === 'Seen' || e.type === 'Refused').length;
    expect(await seen()).toEqual({ 'test.healthy': all });
    refusing = false;
    await runner.catchUp();
    expect(await seen()).toEqual({ 'test.healthy': all, 'test.picky': all });
    await runner.waitFor(head);
  });

  it('shows a projection that cannot apply its batch further and further behind and counts its failures, while the others keep up', async () => {
    const sample = async (name: string, projection: string) =>
      (await metricsRegistry().getSingleMetric(name)!.get()).values.find((v) => v.labels.projection === projection)?.value;
    const behind = (projection: string) => sample('volt_projection_behind_seconds', projection);
    let refusing = true;
    const steady: Projection = { name: 'test.steady', handles: ['Blocking'], tables: [], apply: async () => undefined };
    const stalled: Projection = {
      name: 'test.stalled',
      handles: ['Blocking'],
      tables: [],
      apply: async () => {
        if (refusing) throw new Error('cannot apply Blocking yet');
      },
    };
    const runner = new ProjectionRunner(t.db, store, [steady, stalled], { idleMs: 5 });
    expect(await behind('test.stalled')).toBeUndefined();
    runner.start();
    await store.append('blocking-1', [testEvent('Blocking')], { expectedVersion: 0 });
    const until = async (check: () => Promise<boolean>) => {
      const deadline = Date.now() + 10_000;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error('condition not met in time');
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    await until(async () => ((await sample('volt_projection_failures_total', 'test.stalled')) ?? 0) >= 2);
    const first = (await behind('test.stalled'))!;
    expect(first).toBeGreaterThanOrEqual(0.5);
    await new Promise((r) => setTimeout(r, 600));
    expect((await behind('test.stalled'))!).toBeGreaterThanOrEqual(first + 0.5);
    expect((await behind('test.steady'))!).toBeLessThan(0.5);
    expect(await sample('volt_projection_failures_total', 'test.steady')).toBeUndefined();

    refusing = false;
    await runner.waitForHead();
    await until(async () => (await behind('test.stalled'))! < 0.5);
    await runner.stop();
    expect(await behind('test.stalled')).toBeUndefined();
    expect(await behind('test.steady')).toBeUndefined();
  });

  it('stores its checkpoint past long runs of events it does not handle, so a restart does not read them again', async () => {
    const rare: Projection = { name: 'test.rare', handles: ['Rare'], tables: [], apply: async () => undefined };
    const runner = new ProjectionRunner(t.db, store, [rare], { batchSize: 1000, idleMs: 2 });
    const stored = async () => (await sql<{ position: string }>`SELECT position::text FROM proj_checkpoints WHERE name = 'test.rare'`.execute(t.db)).rows[0]?.position;
    await runner.catchUp();
    const before = await stored();
    const appended = [];
    for (let i = 0; i < 25; i++) appended.push(await store.append(`noise-${i}`, Array.from({ length: 500 }, () => testEvent('Noted', {})), { expectedVersion: 'any' }));
    await runner.catchUp();
    // Every event so far passed over, in batches of 1,000: stored once, at the end of the batch
    // that took it past 10,000, and not at each batch.
    const nth = async (n: number) => (await sql<{ position: string }>`SELECT position::text FROM es_events ORDER BY transaction_id, position OFFSET ${n - 1} LIMIT 1`.execute(t.db)).rows[0].position;
    const after = await stored();
    expect(before).toBeUndefined();
    expect(BigInt(after!)).toBeGreaterThanOrEqual(BigInt(await nth(10_000)));
    expect(BigInt(after!)).toBeLessThan(BigInt(await nth(11_000)));
    expect(BigInt(after!)).toBeLessThan(BigInt(appended[24].positions[499]));
  });

  it.each(kinds)('applies each event once when two runners share one projection (%s)', async (_kind, projection) => {
    await sql`TRUNCATE test_totals`.execute(t.db);
    await sql`DELETE FROM proj_checkpoints`.execute(t.db);
    const a = new ProjectionRunner(t.db, store, [projection], { batchSize: 10, idleMs: 1 });
    const b = new ProjectionRunner(t.db, store, [projection], { batchSize: 13, idleMs: 1 });
    a.start();
    b.start();
    const last = await store.append('acct-x', [testEvent('Deposited', { amount: 5 })], { expectedVersion: 'any' });
    const cp = { transactionId: last.transactionId, position: last.positions[0] };
    await Promise.all([a.waitFor(cp), b.waitFor(cp)]);
    await Promise.all([a.stop(), b.stop()]);
    const shared = await rows();
    const rebuilt = await new ProjectionRunner(t.db, store, [projection]).rebuild('test.totals');
    expect(rebuilt).toBeGreaterThan(0);
    expect(await rows()).toEqual(shared);
  });

  it.each(kinds)('never shows readers the read model emptied: a rebuild under way, or killed half-way, leaves it whole (%s)', async (_kind, projection) => {
    await sql`TRUNCATE test_totals`.execute(t.db);
    await sql`DELETE FROM proj_checkpoints`.execute(t.db);
    const live = new ProjectionRunner(t.db, store, [projection]);
    for (let i = 1; i <= 40; i++) await store.append(`half-${i % 4}`, [testEvent('Deposited', { amount: i })], { expectedVersion: 'any' });
    await live.catchUp();
    const whole = await rows();
    // A rebuild whose second batch waits until the test has read the table, then goes on.
    const paused = pausedAt(projection, 2);
    const rebuilding = new ProjectionRunner(t.db, store, [paused.projection], { batchSize: 5 }).rebuild('test.totals');
    await paused.reached;
    expect(await rows()).toEqual(whole);
    // One rebuild of a projection at a time.
    await expect(new ProjectionRunner(t.db, store, [projection]).rebuild('test.totals')).rejects.toThrow('under way elsewhere');
    paused.resume();
    expect(await rebuilding).toBeGreaterThanOrEqual(40);
    expect(await rows()).toEqual(whole);
    // Killed after its first batch (an operator's volt-admin, say): the tables in use are untouched.
    await expect(new ProjectionRunner(t.db, store, [failingAfter(projection, 1)], { batchSize: 5 }).rebuild('test.totals')).rejects.toThrow('killed');
    expect(await rows()).toEqual(whole);
    // Events after it go on into the same tables, and the next rebuild starts clean and gives the same rows.
    await store.append('half-0', [testEvent('Deposited', { amount: 1000 })], { expectedVersion: 'any' });
    await live.catchUp();
    const grown = await rows();
    expect(grown).not.toEqual(whole);
    await new ProjectionRunner(t.db, store, [projection]).rebuild('test.totals');
    expect(await rows()).toEqual(grown);
  });

  it('keeps the names the migrations gave the indexes and constraints, so a later migration finds them', async () => {
    await sql`CREATE INDEX test_totals_by_balance ON test_totals (balance) WHERE count > 1`.execute(t.db);
    await sql`CREATE UNIQUE INDEX test_totals_odd_name ON test_totals (stream_id, count)`.execute(t.db);
    const names = async () =>
      (await sql<{ name: string }>`SELECT indexname AS name FROM pg_indexes WHERE tablename = 'test_totals' ORDER BY 1`.execute(t.db)).rows.map((r) => r.name);
    const before = await names();
    expect(before).toEqual(['test_totals_by_balance', 'test_totals_odd_name', 'test_totals_pkey']);
    await new ProjectionRunner(t.db, store, [totals]).rebuild('test.totals');
    expect(await names()).toEqual(before);
    const constraints = await sql<{ n: string }>`SELECT conname AS n FROM pg_constraint WHERE conrelid = 'test_totals'::regclass ORDER BY 1`.execute(t.db);
    expect(constraints.rows.map((r) => r.n)).toEqual(['test_totals_pkey']);
    await sql`DROP INDEX test_totals_by_balance, test_totals_odd_name`.execute(t.db);
    const leftover = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname LIKE 'proj_rebuild_%'`.execute(t.db);
    expect(leftover.rows[0].n).toBe(0);
  });

  it('keeps the owner and the grants of the tables in use, so that services connecting as roles of their own go on using them', async () => {
    const suffix = Math.random().toString(36).slice(2, 8);
    const [owner, service, reporting] = ['owner', 'service', 'reporting'].map((r) => `volt_test_${r}_${suffix}`);
    const access = async () =>
      (
        await sql<{ entry: string }>`SELECT e.col || ' ' || pg_get_userbyid(a.grantee) || ' ' || a.privilege_type || ' by ' || pg_get_userbyid(a.grantor) AS entry
          FROM (SELECT '-' AS col, relacl AS acl FROM pg_class WHERE oid = 'test_totals'::regclass
                UNION ALL SELECT attname::text, attacl FROM pg_attribute WHERE attrelid = 'test_totals'::regclass AND attacl IS NOT NULL) e
          CROSS JOIN LATERAL aclexplode(e.acl) a ORDER BY 1`.execute(t.db)
      ).rows.map((r) => r.entry);
    const tableOwner = async () => (await sql<{ o: string }>`SELECT pg_get_userbyid(relowner) AS o FROM pg_class WHERE oid = 'test_totals'::regclass`.execute(t.db)).rows[0].o;
    for (const role of [owner, service, reporting]) await sql`CREATE ROLE ${sql.id(role)} NOLOGIN`.execute(t.db);
    try {
      await sql`ALTER TABLE test_totals OWNER TO ${sql.id(owner)}`.execute(t.db);
      await sql`GRANT SELECT, INSERT, UPDATE ON test_totals TO ${sql.id(service)}`.execute(t.db);
      await sql`GRANT SELECT (stream_id, count) ON test_totals TO ${sql.id(reporting)}`.execute(t.db);
      const before = await access();
      expect(before).toContain(`- ${service} INSERT by ${owner}`);
      expect(before).toContain(`count ${reporting} SELECT by ${owner}`);

      await new ProjectionRunner(t.db, store, [totals]).rebuild('test.totals');

      expect(await tableOwner()).toBe(owner);
      expect(await access()).toEqual(before);
      // The service's role reads and writes the new table (rolled back); the reporting role reads its two columns only.
      const rolledBack = new Error('rolled back');
      const asRoles = t.db.transaction().execute(async (trx) => {
        await sql`SET LOCAL ROLE ${sql.id(service)}`.execute(trx);
        await sql`INSERT INTO test_totals (stream_id, count, balance, last_amount) VALUES ('as-service', 1, 1, 1)`.execute(trx);
        await sql`UPDATE test_totals SET count = count + 1 WHERE stream_id = 'as-service'`.execute(trx);
        await sql`SET LOCAL ROLE ${sql.id(reporting)}`.execute(trx);
        expect((await sql<{ count: number }>`SELECT count FROM test_totals WHERE stream_id = 'as-service'`.execute(trx)).rows).toEqual([{ count: 2 }]);
        throw rolledBack;
      });
      await expect(asRoles).rejects.toBe(rolledBack);
      await expect(
        t.db.transaction().execute(async (trx) => {
          await sql`SET LOCAL ROLE ${sql.id(reporting)}`.execute(trx);
          await sql`SELECT balance FROM test_totals`.execute(trx);
        }),
      ).rejects.toThrow(/permission denied/);
    } finally {
      await sql`ALTER TABLE test_totals OWNER TO CURRENT_USER`.execute(t.db);
      await sql`DROP OWNED BY ${sql.id(owner)}, ${sql.id(service)}, ${sql.id(reporting)}`.execute(t.db);
      for (const role of [owner, service, reporting]) await sql`DROP ROLE ${sql.id(role)}`.execute(t.db);
    }
  });

  it('keeps the storage options of the tables in use, and refuses, before it starts, a table whose triggers or row-level security it would drop', async () => {
    const options = async () => (await sql<{ o: string[] | null }>`SELECT reloptions AS o FROM pg_class WHERE oid = 'test_totals'::regclass`.execute(t.db)).rows[0].o;
    await sql`ALTER TABLE test_totals SET (fillfactor = 70, autovacuum_analyze_threshold = 500)`.execute(t.db);
    await new ProjectionRunner(t.db, store, [totals]).rebuild('test.totals');
    expect(await options()).toEqual(['fillfactor=70', 'autovacuum_analyze_threshold=500']);
    await sql`ALTER TABLE test_totals RESET (fillfactor, autovacuum_analyze_threshold)`.execute(t.db);

    const whole = await rows();
    const oid = async () => (await sql<{ oid: number }>`SELECT 'test_totals'::regclass::oid AS oid`.execute(t.db)).rows[0].oid;
    const before = await oid();
    await sql`CREATE FUNCTION test_totals_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`.execute(t.db);
    await sql`CREATE TRIGGER test_totals_touched BEFORE INSERT ON test_totals FOR EACH ROW EXECUTE FUNCTION test_totals_touch()`.execute(t.db);
    await sql`ALTER TABLE test_totals ENABLE ROW LEVEL SECURITY`.execute(t.db);
    try {
      await expect(new ProjectionRunner(t.db, store, [totals]).rebuild('test.totals')).rejects.toThrow(
        'test_totals has row-level security, trigger test_totals_touched, which a rebuild cannot carry over to a new table; the tables in use are untouched',
      );
      expect(await oid()).toBe(before);
      expect(await rows()).toEqual(whole);
    } finally {
      await sql`ALTER TABLE test_totals DISABLE ROW LEVEL SECURITY`.execute(t.db);
      await sql`DROP TRIGGER test_totals_touched ON test_totals`.execute(t.db);
      await sql`DROP FUNCTION test_totals_touch()`.execute(t.db);
    }
  });

  it.each(kinds)('rebuilds while another instance keeps running and events keep coming, missing and repeating nothing (%s)', async (_kind, projection) => {
    await sql`TRUNCATE test_totals`.execute(t.db);
    await sql`DELETE FROM proj_checkpoints`.execute(t.db);
    const live = new ProjectionRunner(t.db, store, [projection], { batchSize: 7, idleMs: 1 });
    live.start();
    const append = (i: number) => store.append(`acct-${i % 13}`, [testEvent(i % 5 === 0 ? 'Withdrawn' : 'Deposited', { amount: i })], { expectedVersion: 'any' });
    for (let i = 1; i <= 300; i++) await append(i);
    const head = await store.head();
    await live.waitFor(head);
    // The live instance stands at the head; the rebuild starts from 0 in small batches while
    // new events keep the live one moving the checkpoint.
    const writer = (async () => {
      for (let i = 301; i <= 450; i++) await append(i);
    })();
    const replayed = await new ProjectionRunner(t.db, store, [projection], { batchSize: 5 }).rebuild('test.totals');
    await writer;
    await live.waitFor(await store.head());
    await live.stop();
    expect(replayed).toBeGreaterThan(0);

    // What the read model must hold: every event of the store folded once, in order.
    const expected = new Map<string, { stream_id: string; count: number; balance: string; last_amount: string }>();
    for (const e of await store.readAll(START_OF_STORE, 1_000_000)) {
      if (e.type !== 'Deposited' && e.type !== 'Withdrawn') continue;
      const amount = (e.data as { amount: number }).amount * (e.type === 'Withdrawn' ? -1 : 1);
      const row = expected.get(e.streamId) ?? { stream_id: e.streamId, count: 0, balance: '0', last_amount: '0' };
      expected.set(e.streamId, { stream_id: e.streamId, count: row.count + 1, balance: String(Number(row.balance) + amount), last_amount: String(amount) });
    }
    expect(await rows()).toEqual([...expected.values()].sort((a, b) => (a.stream_id < b.stream_id ? -1 : 1)));
  });
});
