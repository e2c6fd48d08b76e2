import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore, eventStoreMigrations } from '@volt/event-store';
import { connectNats, type NatsConnection } from '@volt/messaging';
import { ProjectionRunner, projectionMigrations, type Projection } from '@volt/projections';
import { TEST_NATS_URL, createTestDatabase, createTestMessaging, testEvent, type TestDatabase, type TestMessaging } from '@volt/testing';
import { AppendSignal } from './append-signal';

const seen: Projection = {
  name: 'test.signalled',
  handles: ['ThingHappened'],
  tables: ['test_signalled'],
  async apply(trx, events) {
    for (const e of events) await sql`INSERT INTO test_signalled (id) VALUES (${e.id})`.execute(trx);
  },
};

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

describe('telling other processes that something was appended', () => {
  let t: TestDatabase;
  let m: TestMessaging;
  // Two processes' connections.
  let other: NatsConnection;

  beforeAll(async () => {
    t = await createTestDatabase([eventStoreMigrations, projectionMigrations]);
    await sql`CREATE TABLE test_signalled (id uuid PRIMARY KEY)`.execute(t.db);
    m = await createTestMessaging();
    other = await connectNats(TEST_NATS_URL, 'test-other-process');
  });
  afterAll(async () => {
    await other.close();
    await m.cleanup();
    await t.drop();
  });

  it('wakes an idle read model in another process at once, where it would otherwise rest 30 s', async () => {
    const runner = new ProjectionRunner(t.db, new EventStore(t.db), [seen], { idleMs: 30_000, maxIdleMs: 30_000 });
    const subscription = new AppendSignal(m.nc, m.names).listen(() => runner.nudge());
    runner.start();
    await new Promise((r) => setTimeout(r, 300)); // its first look found nothing: it rests now
    const writer = new AppendSignal(other, m.names);
    await new EventStore(t.db).append('test:signalled-1', [testEvent('ThingHappened')], { expectedVersion: 0 });
    writer.announce();
    const count = async () => Number((await sql<{ n: string }>`SELECT count(*) AS n FROM test_signalled`.execute(t.db)).rows[0].n);
    expect(await until(async () => (await count()) === 1, 5_000)).toBe(true);
    subscription.unsubscribe();
    await runner.stop();
  });

  it('sends at most one signal per interval, however many appends', async () => {
    let received = 0;
    const subscription = new AppendSignal(m.nc, m.names).listen(() => received++);
    await m.nc.flush(); // the subscription is in place at the server
    const writer = new AppendSignal(other, m.names, 1_000);
    for (let i = 0; i < 100; i++) writer.announce();
    await other.flush();
    expect(await until(async () => received === 1, 2_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(received).toBe(1);
    subscription.unsubscribe();
  });
});
