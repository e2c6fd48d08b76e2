import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore, eventStoreMigrations } from '@volt/event-store';
import { ProjectionRunner, projectionMigrations, type Projection } from '@volt/projections';
import { createTestDatabase, createTestMessaging, testEvent, type TestDatabase, type TestMessaging } from '@volt/testing';
import { CatchUps } from './catch-up';

const seen: Projection = {
  name: 'test.seen',
  handles: ['ThingHappened'],
  tables: ['test_seen'],
  async apply(trx, events) {
    for (const e of events) await sql`INSERT INTO test_seen (id) VALUES (${e.id})`.execute(trx);
  },
};

const count = async (t: TestDatabase) => Number((await sql<{ n: string }>`SELECT count(*) AS n FROM test_seen`.execute(t.db)).rows[0].n);

describe('catching another process’s read models up before a read', () => {
  let t: TestDatabase;
  let m: TestMessaging;
  let runner: ProjectionRunner;
  let subscription: { unsubscribe(): void };
  let reader: CatchUps;
  // The writer is another process in production: an event store of its own, which tells the
  // owning service's runner nothing.
  let writer: EventStore;

  beforeAll(async () => {
    t = await createTestDatabase([eventStoreMigrations, projectionMigrations]);
    await sql`CREATE TABLE test_seen (id uuid PRIMARY KEY)`.execute(t.db);
    m = await createTestMessaging();
    const owner = new EventStore(t.db);
    runner = new ProjectionRunner(t.db, owner, [seen]);
    runner.start();
    subscription = new CatchUps(m.nc, m.names, owner, runner).serve('owner');
    reader = new CatchUps(m.nc, m.names, new EventStore(t.db), new ProjectionRunner(t.db, new EventStore(t.db), []));
    writer = new EventStore(t.db);
  });
  afterAll(async () => {
    subscription.unsubscribe();
    await runner.stop();
    await m.cleanup();
    await t.drop();
  });

  it('answers once the owner’s read models hold every event committed before the request', async () => {
    // Let the owner's runner go quiet, so that it would look again only at its slow poll.
    await new Promise((r) => setTimeout(r, 600));
    for (let round = 1; round <= 5; round++) {
      await writer.append(`test:thing-${round}`, [testEvent('ThingHappened', { round })], { expectedVersion: 0 });
      expect(await reader.of('owner')).toBe(true);
      expect(await count(t)).toBe(round);
    }
  });

  it('says false at once when no instance of the service answers, so the caller reads what is there', async () => {
    const started = Date.now();
    expect(await reader.of('nobody', 5_000)).toBe(false);
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('refuses a request that is not a checkpoint', async () => {
    for (const body of ['nonsense', '{"transactionId":"1"}', '{"transactionId":"1; DROP","position":"2"}']) {
      const reply = await m.nc.request(m.names.catchUpSubject('owner'), body, { timeout: 2_000 });
      expect(reply.string()).toBe('bad checkpoint');
    }
  });
});
