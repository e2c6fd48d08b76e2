import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore, eventStoreMigrations } from '@volt/event-store';
import { connectNats, type NatsConnection } from '@volt/messaging';
import { ProjectionRunner, projectionMigrations, type Projection } from '@volt/projections';
import { TEST_NATS_URL, createTestDatabase, createTestMessaging, testEvent, type TestDatabase, type TestMessaging } from '@volt/testing';
import { AppendSignal } from './append-signal';
import { CatchUps } from './catch-up';

// A service's read model, kept by a runner of its own; the writer is another process: an event
// store and a NATS connection of its own, which tell that runner nothing directly.
let t: TestDatabase;
let m: TestMessaging;
let writerNats: NatsConnection;
let writer: EventStore;
beforeAll(async () => {
  t = await createTestDatabase([eventStoreMigrations, projectionMigrations]);
  m = await createTestMessaging();
  writerNats = await connectNats(TEST_NATS_URL, 'test-writer-process');
  writer = new EventStore(t.db);
});
afterAll(async () => {
  await writerNats.close();
  await m.cleanup();
  await t.drop();
});

/** A read model of the ids of events of one type, in a table of its own. */
async function readModel(name: string, type: string): Promise<{ projection: Projection; count: () => Promise<number> }> {
  await sql`CREATE TABLE ${sql.table(name)} (id uuid PRIMARY KEY)`.execute(t.db);
  return {
    projection: {
      name: `test.${name}`,
      handles: [type],
      tables: [name],
      async apply(trx, events) {
        for (const e of events) await sql`INSERT INTO ${sql.table(name)} (id) VALUES (${e.id})`.execute(trx);
      },
    },
    count: async () => Number((await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(name)}`.execute(t.db)).rows[0].n),
  };
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

describe('catching another process’s read models up before a read', () => {
  let runner: ProjectionRunner;
  let subscription: { unsubscribe(): void };
  let count: () => Promise<number>;
  const reader = () => new CatchUps(writerNats, m.names, writer);

  beforeAll(async () => {
    const model = await readModel('caught_up', 'ThingHappened');
    count = model.count;
    const owner = new EventStore(t.db);
    runner = new ProjectionRunner(t.db, owner, [model.projection]);
    runner.start();
    subscription = new CatchUps(m.nc, m.names, owner).serve('owner', runner);
  });
  afterAll(async () => {
    subscription.unsubscribe();
    await runner.stop();
  });

  it('answers once the owner’s read models hold every event committed before the request', async () => {
    // Let the owner's runner go quiet, so that it would look again only at its slow poll.
    await new Promise((r) => setTimeout(r, 600));
    for (let round = 1; round <= 5; round++) {
      await writer.append(`test:caught-${round}`, [testEvent('ThingHappened', { round })], { expectedVersion: 0 });
      expect(await reader().of('owner')).toBe(true);
      expect(await count()).toBe(round);
    }
  });

  it('says false at once when no instance of the service answers, so the caller reads what is there', async () => {
    const started = Date.now();
    expect(await reader().of('nobody', 5_000)).toBe(false);
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('refuses a request that is not a checkpoint', async () => {
    for (const body of ['nonsense', '{"transactionId":"1"}', '{"transactionId":"1; DROP","position":"2"}']) {
      const reply = await m.nc.request(m.names.catchUpSubject('owner'), body, { timeout: 2_000 });
      expect(reply.string()).toBe('bad checkpoint');
    }
  });
});

describe('telling other processes that something was appended', () => {
  it('wakes an idle read model in another process at once, where it would otherwise rest 30 s', async () => {
    const model = await readModel('signalled', 'SignalledThing');
    const runner = new ProjectionRunner(t.db, new EventStore(t.db), [model.projection], { idleMs: 30_000, maxIdleMs: 30_000 });
    const subscription = new AppendSignal(m.nc, m.names).listen(() => runner.nudge());
    runner.start();
    await new Promise((r) => setTimeout(r, 300)); // its first look found nothing: it rests now
    await writer.append('test:signalled-1', [testEvent('SignalledThing')], { expectedVersion: 0 });
    new AppendSignal(writerNats, m.names).announce();
    expect(await until(async () => (await model.count()) === 1, 5_000)).toBe(true);
    subscription.unsubscribe();
    await runner.stop();
  });

  it('sends at most one signal per interval, however many appends', async () => {
    let received = 0;
    const subscription = new AppendSignal(m.nc, m.names).listen(() => received++);
    await m.nc.flush(); // the subscription is in place at the server
    const signal = new AppendSignal(writerNats, m.names, 1_000);
    for (let i = 0; i < 100; i++) signal.announce();
    await writerNats.flush();
    expect(await until(async () => received === 1, 2_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(received).toBe(1);
    subscription.unsubscribe();
  });
});
