import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decider } from '@volt/domain';
import { createTestDatabase, type TestDatabase } from '@volt/testing';
import { EventIdReusedError, EventStore, eventStoreMigrations, runDecider } from './index';

// A counter that refuses to go past 3: deciding again against a moved-on stream gives a
// different answer, so a replay that decided again would show.
type Command = { add: number };
type Event = { type: 'Added'; data: { n: number; total: number } };
const counter: Decider<Command, Event, number> = {
  initialState: () => 0,
  evolve: (total, e) => e.data.total,
  decide: (c, total) =>
    total + c.add > 3 ? { code: 'CONFLICT', message: 'over the limit' } : [{ type: 'Added', data: { n: c.add, total: total + c.add } }],
};

let t: TestDatabase;
let store: EventStore;
const metadata = { tenantId: 'org_test', correlationId: 'c', actor: { type: 'system' as const, id: 'test' } };
const run = (streamId: string, commandId: string, add: number) =>
  runDecider(store, counter, { streamId, commandId, command: { add }, metadata, occurredAt: new Date().toISOString() });

beforeAll(async () => {
  t = await createTestDatabase([eventStoreMigrations]);
  store = new EventStore(t.db);
});
afterAll(() => t.drop());

describe('runDecider', () => {
  it('answers a redelivered command from its first run, even after the stream moved on', async () => {
    const first = await run('counter-1', 'cmd-a', 2);
    expect(first).toMatchObject({ ok: true, replayed: false, events: [{ type: 'Added', data: { n: 2, total: 2 } }], state: 2 });
    expect((await run('counter-1', 'cmd-b', 1)).ok).toBe(true); // total 3: cmd-a decided again now would be refused

    const again = await run('counter-1', 'cmd-a', 2);
    // The same answer; the state is the stream's as it stands now.
    expect(again).toEqual({ ...first, replayed: true, state: 3 });
    expect((await store.readStream('counter-1')).map((e) => e.data)).toEqual([
      { n: 2, total: 2 },
      { n: 1, total: 3 },
    ]);
  });

  it('gives the state the decision leaves', async () => {
    expect(await run('counter-5', 'cmd-e', 1)).toMatchObject({ ok: true, state: 1 });
    expect(await run('counter-5', 'cmd-f', 2)).toMatchObject({ ok: true, state: 3 });
  });

  it('refuses a command id already used on another stream', async () => {
    await run('counter-2', 'cmd-c', 1);
    await expect(run('counter-3', 'cmd-c', 1)).rejects.toBeInstanceOf(EventIdReusedError);
    expect(await store.readStream('counter-3')).toEqual([]);
  });

  it('decides once when the same command arrives twice at once', async () => {
    const [a, b] = await Promise.all([run('counter-4', 'cmd-d', 1), run('counter-4', 'cmd-d', 1)]);
    expect(a.ok && b.ok && a.events).toEqual(b.ok && b.events);
    expect(a.ok && b.ok && a.checkpoint).toEqual(b.ok && b.checkpoint);
    expect(await store.readStream('counter-4')).toHaveLength(1);
  });
});
