import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { EventStore, eventStoreMigrations } from '@volt/event-store';
import { createTestDatabase, testEvent, type TestDatabase } from '@volt/testing';
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

beforeAll(async () => {
  t = await createTestDatabase([eventStoreMigrations, projectionMigrations]);
  await sql`CREATE TABLE test_totals (stream_id text PRIMARY KEY, count int NOT NULL, balance bigint NOT NULL, last_amount bigint NOT NULL)`.execute(t.db);
  store = new EventStore(t.db);
});
afterAll(() => t.drop());

const rows = async () => (await sql`SELECT * FROM test_totals ORDER BY stream_id`.execute(t.db)).rows;

describe('projection runner', () => {
  it('builds incrementally while events arrive, and a rebuild from position 0 gives identical rows', async () => {
    const runner = new ProjectionRunner(t.db, store, [totals], { batchSize: 37, idleMs: 2 });
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
    expect(incremental.reduce((s, r: any) => s + r.count, 0)).toBe(n + 1);

    const replayed = await new ProjectionRunner(t.db, store, [totals]).rebuild('test.totals');
    expect(replayed).toBe(2 * n + 1);
    expect(await rows()).toEqual(incremental);
  });

  it('applies each event once when two runners share one projection', async () => {
    await sql`TRUNCATE test_totals`.execute(t.db);
    await sql`DELETE FROM proj_checkpoints`.execute(t.db);
    const a = new ProjectionRunner(t.db, store, [totals], { batchSize: 10, idleMs: 1 });
    const b = new ProjectionRunner(t.db, store, [totals], { batchSize: 13, idleMs: 1 });
    a.start();
    b.start();
    const last = await store.append('acct-x', [testEvent('Deposited', { amount: 5 })], { expectedVersion: 'any' });
    const cp = { transactionId: last.transactionId, position: last.positions[0] };
    await Promise.all([a.waitFor(cp), b.waitFor(cp)]);
    await Promise.all([a.stop(), b.stop()]);
    const shared = await rows();
    const rebuilt = await new ProjectionRunner(t.db, store, [totals]).rebuild('test.totals');
    expect(rebuilt).toBeGreaterThan(0);
    expect(await rows()).toEqual(shared);
  });
});
