import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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

  it('refuses, as a validation error naming the field or as too large, a command whose events could not be stored', async () => {
    const naming: Decider<{ name: string }, { type: 'Named'; data: { name: string } }, null> = {
      initialState: () => null,
      evolve: (state) => state,
      decide: (c) => [{ type: 'Named', data: { name: c.name } }],
    };
    const name = (streamId: string, value: string) => runDecider(store, naming, { streamId, commandId: `name-${streamId}`, command: { name: value }, metadata, occurredAt: new Date().toISOString() });
    expect(await name('named-1', 'half \udc00')).toEqual({
      ok: false,
      error: { code: 'VALIDATION_ERROR', message: 'name contains an unpaired UTF-16 surrogate (not valid Unicode)', details: [{ field: 'name', rule: 'well_formed_unicode', message: 'name contains an unpaired UTF-16 surrogate (not valid Unicode)' }] },
    });
    expect(await name('named-2', 'nul \u0000')).toMatchObject({ ok: false, error: { details: [{ field: 'name', rule: 'no_nul' }] } });
    expect(await store.readStream('named-1')).toEqual([]);
    expect(await name('named-3', 'fine 😀')).toMatchObject({ ok: true, events: [{ data: { name: 'fine 😀' } }] });
    expect(await name('named-4', 'x'.repeat(600 * 1024))).toEqual({ ok: false, error: { code: 'PAYLOAD_TOO_LARGE', message: 'The change is too large to record (601 KiB; at most 512 KiB). Send less.' } });
    expect(await store.readStream('named-4')).toEqual([]);
  });

  it('decides once when the same command arrives twice at once', async () => {
    const [a, b] = await Promise.all([run('counter-4', 'cmd-d', 1), run('counter-4', 'cmd-d', 1)]);
    expect(a.ok && b.ok && a.events).toEqual(b.ok && b.events);
    expect(a.ok && b.ok && a.checkpoint).toEqual(b.ok && b.checkpoint);
    expect(await store.readStream('counter-4')).toHaveLength(1);
  });

  describe('a stream this process decided on lately', () => {
    // Another process: its own store (and memory) on the same database.
    let elsewhere: EventStore;
    const runElsewhere = (streamId: string, commandId: string, add: number) =>
      runDecider(elsewhere, counter, { streamId, commandId, command: { add }, metadata, occurredAt: new Date().toISOString() });
    beforeAll(() => {
      elsewhere = new EventStore(t.db);
    });

    it('decides the next command without reading the stream again', async () => {
      await run('recent-1', 'r1-a', 1);
      const reads = vi.spyOn(store, 'readStream');
      try {
        expect(await run('recent-1', 'r1-b', 1)).toMatchObject({ ok: true, replayed: false, state: 2 });
        expect(reads).not.toHaveBeenCalled();
        // A replay answers with the stream as it stands, so it looks at what was stored since.
        expect(await run('recent-1', 'r1-a', 1)).toMatchObject({ ok: true, replayed: true, state: 2 });
        expect(reads).toHaveBeenCalledTimes(1);
      } finally {
        reads.mockRestore();
      }
      expect((await store.readStream('recent-1')).map((e) => e.data)).toEqual([
        { n: 1, total: 1 },
        { n: 1, total: 2 },
      ]);
    });

    it('decides again on the stored stream when another process appended since', async () => {
      await run('recent-2', 'r2-a', 1);
      await runElsewhere('recent-2', 'r2-b', 1);
      // Decided on total 1, the append expects version 1 and meets 2: read again, decided on 2.
      expect(await run('recent-2', 'r2-c', 1)).toMatchObject({ ok: true, state: 3, events: [{ data: { n: 1, total: 3 } }] });
      expect((await store.readStream('recent-2')).map((e) => e.data)).toEqual([
        { n: 1, total: 1 },
        { n: 1, total: 2 },
        { n: 1, total: 3 },
      ]);
    });

    it('does not refuse on what it remembers when the stored stream says otherwise', async () => {
      const refuses: Decider<Command, Event, number> = {
        ...counter,
        // Adding 0 asks "is the total 3?": refused unless it is.
        decide: (c, total) => (c.add === 0 ? (total === 3 ? [] : { code: 'CONFLICT', message: `total ${total}` }) : counter.decide(c, total)),
      };
      const ask = (s: EventStore, commandId: string, add: number) =>
        runDecider(s, refuses, { streamId: 'recent-3', commandId, command: { add }, metadata, occurredAt: new Date().toISOString() });
      await ask(store, 'r3-a', 2);
      await ask(elsewhere, 'r3-b', 1);
      // Remembered at total 2 this would be refused, and nothing would have checked the version.
      expect(await ask(store, 'r3-c', 0)).toMatchObject({ ok: true, events: [], state: 3 });
      expect(await ask(elsewhere, 'r3-d', 0)).toMatchObject({ ok: true, state: 3 });
    });

    it('answers a redelivery whose first run was in another process', async () => {
      await run('recent-4', 'r4-a', 1);
      const first = await runElsewhere('recent-4', 'r4-b', 2);
      // Remembered at total 1, r4-b would be decided again and appended a second time; its
      // append expects version 1, meets 2, and the stream read afresh shows the first run.
      expect(await run('recent-4', 'r4-b', 2)).toEqual({ ...first, replayed: true });
      expect(await store.readStream('recent-4')).toHaveLength(2);
    });
  });
  describe('a stream the command makes (newStream)', () => {
    const make = (streamId: string, commandId: string, add: number, s = store) =>
      runDecider(s, counter, { streamId, commandId, command: { add }, metadata, occurredAt: new Date().toISOString(), newStream: true });

    it('is decided as empty without reading it', async () => {
      const reads = vi.spyOn(store, 'readStream');
      try {
        expect(await make('new-1', 'n1-a', 2)).toMatchObject({ ok: true, replayed: false, state: 2 });
        expect(reads).not.toHaveBeenCalled();
      } finally {
        reads.mockRestore();
      }
    });

    it('is decided on what is stored when it was not new after all', async () => {
      await runDecider(new EventStore(t.db), counter, { streamId: 'new-2', commandId: 'n2-a', command: { add: 2 }, metadata, occurredAt: new Date().toISOString() });
      // As if empty, 2 would be allowed; the stream holds 2 already, so 2 more is over the limit.
      expect(await make('new-2', 'n2-b', 2)).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });
      expect(await store.readStream('new-2')).toHaveLength(1);
    });

    it('answers a repeat of the command that made it from the stored events', async () => {
      const elsewhere = new EventStore(t.db);
      const first = await make('new-3', 'n3-a', 1, elsewhere);
      await runDecider(elsewhere, counter, { streamId: 'new-3', commandId: 'n3-b', command: { add: 1 }, metadata, occurredAt: new Date().toISOString() });
      expect(await make('new-3', 'n3-a', 1)).toEqual({ ...first, replayed: true, state: 2 });
      expect(await store.readStream('new-3')).toHaveLength(2);
    });
  });
});
