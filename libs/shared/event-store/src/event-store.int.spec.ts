import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { Client } from 'pg';
import { createTestDatabase, tableScans, terminateLockHolder, testEvent, type TestDatabase } from '@volt/testing';
import { START_OF_STORE } from '@volt/contracts';
import { ConcurrencyConflictError, EventIdReusedError, EventStore, EventTooLargeError, MAX_EVENT_BYTES, checkpointOf, createDatabase, eventStoreMigrations, newId, poolOf, verifyStore, withSessionLock } from './index';

let t: TestDatabase;
let store: EventStore;

beforeAll(async () => {
  t = await createTestDatabase([eventStoreMigrations], { poolSize: 20 });
  store = new EventStore(t.db);
});
afterAll(() => t.drop());

describe('append and read a stream', () => {
  it('appends with expected versions and reads the stream back in order', async () => {
    const first = await store.append('s-basic', [testEvent('A', { n: 1 }), testEvent('B', { n: 2 })], { expectedVersion: 0 });
    expect(first.streamVersion).toBe(2);
    expect(first.positions).toHaveLength(2);
    expect(first.duplicate).toBe(false);
    await store.append('s-basic', [testEvent('C', { n: 3 })], { expectedVersion: 2 });
    const events = await store.readStream('s-basic');
    expect(events.map((e) => [e.type, e.streamVersion, e.data])).toEqual([
      ['A', 1, { n: 1 }],
      ['B', 2, { n: 2 }],
      ['C', 3, { n: 3 }],
    ]);
    expect(events[0].tenantId).toBe('org_test');
    expect(await store.streamVersion('s-basic')).toBe(3);
    expect(await store.streamVersion('s-missing')).toBe(0);
  });

  it("gives each event its own append's metadata, also where neighbours share it", async () => {
    const by = (correlationId: string, actor: string, trace?: { traceparent: string }) => (type: string) => ({
      ...testEvent(type),
      metadata: { tenantId: 'org_test', correlationId, causationId: null, actor: { type: 'user' as const, id: actor }, ...(trace ? { trace } : {}) },
    });
    const first = by('c-1', 'u-1', { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    await store.append('s-meta', [first('A'), first('B')], { expectedVersion: 0 });
    await store.append('s-meta', [by('c-2', 'u-2')('C')], { expectedVersion: 2 });
    await store.append('s-meta', [first('D')], { expectedVersion: 3 });
    const events = await store.readStream('s-meta');
    expect(events.map((e) => [e.type, e.correlationId, e.actor.id, e.trace?.traceparent?.slice(3, 7) ?? null])).toEqual([
      ['A', 'c-1', 'u-1', '0af7'],
      ['B', 'c-1', 'u-1', '0af7'],
      ['C', 'c-2', 'u-2', null],
      ['D', 'c-1', 'u-1', '0af7'],
    ]);
    // One append whose events differ in metadata and time, and one whose events share both
    // (sent once rather than per event): each event reads back as it was given, chain intact.
    const mixed = [{ ...by('c-3', 'u-3')('E'), occurredAt: '2026-11-30T10:00:00.001Z' }, { ...by('c-4', 'u-4')('F'), occurredAt: '2026-11-30T10:00:00.002Z' }];
    const shared = by('c-5', 'u-5')('G');
    await store.append('s-meta', mixed, { expectedVersion: 4 });
    await store.append('s-meta', [shared, { ...shared, type: 'H' }], { expectedVersion: 6 });
    const more = (await store.readStream('s-meta', { fromVersion: 4 })).map((e) => [e.type, e.correlationId, e.actor.id, e.occurredAt]);
    expect(more).toEqual([
      ['E', 'c-3', 'u-3', '2026-11-30T10:00:00.001Z'],
      ['F', 'c-4', 'u-4', '2026-11-30T10:00:00.002Z'],
      ['G', 'c-5', 'u-5', shared.occurredAt],
      ['H', 'c-5', 'u-5', shared.occurredAt],
    ]);
    expect((await verifyStore(t.db)).ok).toBe(true);

    // The same through a group-committed batch of multi-event appends (es_append): three at
    // once, the first alone, the other two together, one sharing metadata and time, one not.
    const [, a, b] = await Promise.all([
      store.append('s-meta-batch-0', [shared, { ...shared, type: 'H' }], { expectedVersion: 0 }),
      store.append('s-meta-batch-1', [shared, { ...shared, type: 'H' }], { expectedVersion: 0 }),
      store.append('s-meta-batch-2', mixed, { expectedVersion: 0 }),
    ]);
    expect(a.transactionId).toBe(b.transactionId);
    const read = async (id: string) => (await store.readStream(id)).map((e) => [e.type, e.correlationId, e.actor.id, e.occurredAt]);
    expect(await read('s-meta-batch-1')).toEqual(more.slice(2));
    expect(await read('s-meta-batch-2')).toEqual(more.slice(0, 2));
    expect((await verifyStore(t.db)).ok).toBe(true);
  });

  it('refuses a stale expected version with a typed conflict', async () => {
    await store.append('s-stale', [testEvent('A')], { expectedVersion: 0 });
    const error = await store.append('s-stale', [testEvent('B')], { expectedVersion: 0 }).catch((e) => e);
    expect(error).toBeInstanceOf(ConcurrencyConflictError);
    expect(error).toMatchObject({ streamId: 's-stale', expectedVersion: 0, actualVersion: 1 });
    const missing = await store.append('s-never', [testEvent('B')], { expectedVersion: 3 }).catch((e) => e);
    expect(missing).toBeInstanceOf(ConcurrencyConflictError);
    expect(await store.readStream('s-never')).toEqual([]);
    // The same for appends of several events, looked up or after a head another store remembers.
    const other = new EventStore(t.db);
    await other.append('s-stale-many', [testEvent('A'), testEvent('A')], { expectedVersion: 0 });
    for (const expectedVersion of [0, 1, 3]) {
      const stale = await store.append('s-stale-many', [testEvent('B'), testEvent('B')], { expectedVersion }).catch((e) => e);
      expect(stale).toMatchObject({ streamId: 's-stale-many', expectedVersion, actualVersion: 2 });
    }
    await store.append('s-stale-many', [testEvent('B'), testEvent('B')], { expectedVersion: 2 });
    const behind = await other.append('s-stale-many', [testEvent('A'), testEvent('A')], { expectedVersion: 2 }).catch((e) => e);
    expect(behind).toBeInstanceOf(ConcurrencyConflictError);
    expect(behind).toMatchObject({ expectedVersion: 2, actualVersion: 4 });
    expect((await store.readStream('s-stale-many')).map((e) => e.type)).toEqual(['A', 'A', 'B', 'B']);
  });

  it('lets exactly one of many concurrent writers with the same expected version win, round after round', async () => {
    const rounds = 30;
    const writers = 12;
    for (let round = 0; round < rounds; round++) {
      const outcomes = await Promise.allSettled(
        Array.from({ length: writers }, (_, w) =>
          store.append('s-race', [testEvent('Raced', { round, w })], { expectedVersion: round }),
        ),
      );
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      const lost = outcomes.filter((o) => o.status === 'rejected');
      expect(won).toHaveLength(1);
      for (const l of lost) expect((l as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrencyConflictError);
    }
    const events = await store.readStream('s-race');
    expect(events.map((e) => e.streamVersion)).toEqual(Array.from({ length: rounds }, (_, i) => i + 1));
  });

  it('also refuses concurrent writers that live in separate stores (separate connections)', async () => {
    const stores = Array.from({ length: 6 }, () => new EventStore(t.db, { writers: 1 }));
    for (let round = 0; round < 10; round++) {
      const outcomes = await Promise.allSettled(
        stores.map((s, i) => s.append('s-race-2', [testEvent('Raced', { i })], { expectedVersion: round })),
      );
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    }
  });

  it.each([
    [1, 'volt_es_append_one_event', 'volt_es_append_next_event'],
    [3, 'volt_es_append_one', 'volt_es_append_next'],
  ])('chains a lone append of %i event(s) to the head it remembers without looking it up, and finds out when another writer moved the stream on', async (n, lookup, next) => {
    const pool = poolOf(t.db)!;
    const query = pool.query.bind(pool);
    const sent: string[] = [];
    pool.query = ((config: { name?: string }, ...rest: unknown[]) => {
      if (config?.name) sent.push(config.name);
      return (query as (...args: unknown[]) => unknown)(config, ...rest);
    }) as typeof pool.query;
    const stream = `s-head-${n}`;
    const events = (type: string, ids: string[] = []) => Array.from({ length: n }, (_, i) => testEvent(type, { i }, ids[i]));
    try {
      const a = new EventStore(t.db);
      const b = new EventStore(t.db);
      await a.append(stream, events('A'), { expectedVersion: 0 });
      await a.append(stream, events('A'), { expectedVersion: n });
      expect(sent.filter((name) => name.startsWith('volt_es_append'))).toEqual([lookup, next]);
      await b.append(stream, events('B'), { expectedVersion: 2 * n });
      // a still remembers version 2n as the head: expecting it is a conflict that names the real version.
      const conflict = await a.append(stream, events('A'), { expectedVersion: 2 * n }).catch((e: unknown) => e);
      expect(conflict).toBeInstanceOf(ConcurrencyConflictError);
      expect((conflict as ConcurrencyConflictError).actualVersion).toBe(3 * n);
      expect((await a.append(stream, events('A'), { expectedVersion: 'any' })).streamVersion).toBe(4 * n);
      await b.append(stream, events('B'), { expectedVersion: 4 * n });
      // Appending 'any' after a head that moved on collides, and goes again after the real one.
      expect((await a.append(stream, events('A'), { expectedVersion: 'any' })).streamVersion).toBe(6 * n);
      expect((await a.append(stream, events('A'), { expectedVersion: 6 * n })).streamVersion).toBe(7 * n);
      // A repeat after the remembered head is answered with the original positions.
      const ids = Array.from({ length: n }, () => newId());
      const original = await a.append(stream, events('A', ids), { expectedVersion: 7 * n });
      expect(await a.append(stream, events('A', ids), { expectedVersion: 8 * n })).toEqual({ ...original, duplicate: true });
      expect((await a.readStream(stream)).map((e) => e.streamVersion)).toEqual(Array.from({ length: 8 * n }, (_, i) => i + 1));
      expect(sent.filter((name) => name === next).length).toBeGreaterThanOrEqual(5);
      expect((await verifyStore(t.db)).ok).toBe(true);
    } finally {
      pool.query = query;
    }
  });

  it('fails the append, not the process, when the query after a lost race fails', async () => {
    const stores = Array.from({ length: 6 }, () => new EventStore(t.db, { writers: 1 }));
    for (const s of stores) s.streamVersion = () => Promise.reject(new Error('connection lost'));
    for (let round = 0; round < 10; round++) {
      const outcomes = await Promise.allSettled(
        stores.map((s, i) => s.append('s-race-3', [testEvent('Raced', { i })], { expectedVersion: round })),
      );
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      expect(outcomes.flatMap((o) => (o.status === 'rejected' ? [(o.reason as Error).message] : []))).toEqual(Array(5).fill('connection lost'));
    }
  });

  it('keeps one gap-free, verifiable chain when many processes append to one stream at once', async () => {
    // Separate stores race each other as lone appends (one statement, arbitrated by the unique
    // index) while one store group-commits batches (es_append, under the stream's lock).
    const loners = Array.from({ length: 5 }, () => new EventStore(t.db, { writers: 1 }));
    await Promise.all([
      ...loners.map((s, i) => (async () => {
        for (let k = 0; k < 15; k++) await s.append('s-contended', [testEvent('Contended', { i, k })], { expectedVersion: 'any' });
      })()),
      ...Array.from({ length: 25 }, (_, k) => store.append('s-contended', [testEvent('Contended', { batched: k }), testEvent('Contended', { batched: k, second: true })], { expectedVersion: 'any' })),
    ]);
    const events = await store.readStream('s-contended');
    expect(events.map((e) => e.streamVersion)).toEqual(Array.from({ length: 5 * 15 + 50 }, (_, i) => i + 1));
    expect((await verifyStore(t.db)).ok).toBe(true);
  });

  it('treats re-appending the same event ids as a no-op that returns the original positions', async () => {
    const ids = [newId(), newId()];
    const original = await store.append('s-idem', [testEvent('A', {}, ids[0]), testEvent('B', {}, ids[1])], {
      expectedVersion: 0,
    });
    // The retry carries a stale expected version: it is still the same append, not a conflict.
    const again = await store.append('s-idem', [testEvent('A', {}, ids[0]), testEvent('B', {}, ids[1])], {
      expectedVersion: 0,
    });
    expect(again.duplicate).toBe(true);
    expect(again.positions).toEqual(original.positions);
    expect(again.streamVersion).toBe(2);
    expect(await store.readStream('s-idem')).toHaveLength(2);
    const reused = await store.append('s-other', [testEvent('A', {}, ids[0])], { expectedVersion: 'any' }).catch((e) => e);
    expect(reused).toBeInstanceOf(EventIdReusedError);
    // One id stored and one new, with the version right: refused, and nothing written.
    const half = await store.append('s-idem', [testEvent('A', {}, ids[1]), testEvent('C', {}, newId())], { expectedVersion: 2 }).catch((e) => e);
    expect(half).toBeInstanceOf(EventIdReusedError);
    // Both stored, in another stream.
    const elsewhere = await store.append('s-other-2', [testEvent('A', {}, ids[0]), testEvent('B', {}, ids[1])], { expectedVersion: 0 }).catch((e) => e);
    expect(elsewhere).toBeInstanceOf(EventIdReusedError);
    await expect(store.append('s-twice', [testEvent('A', {}, ids[0]), testEvent('B', {}, ids[0])], { expectedVersion: 0 })).rejects.toThrow('one event id twice');
    expect(await store.readStream('s-idem')).toHaveLength(2);
    expect(await store.streamVersion('s-other-2')).toBe(0);
  });

  it('answers a lone event appended again with its original position, whatever the expected version', async () => {
    const id = newId();
    const original = await store.append('s-idem-one', [testEvent('A', {}, id)], { expectedVersion: 0 });
    for (const expectedVersion of [0, 1, 'any'] as const) {
      const again = await store.append('s-idem-one', [testEvent('A', {}, id)], { expectedVersion });
      expect(again).toEqual({ ...original, duplicate: true });
    }
    expect(await store.readStream('s-idem-one')).toHaveLength(1);
    await expect(store.append('s-idem-other', [testEvent('A', {}, id)], { expectedVersion: 0 })).rejects.toBeInstanceOf(EventIdReusedError);
    await expect(store.append('s-idem-one', [testEvent('B')], { expectedVersion: 0 })).rejects.toBeInstanceOf(ConcurrencyConflictError);
  });

  it('decides each append of a batch of one-event appends to different streams on its own', async () => {
    const [kept, other] = [newId(), newId()];
    await store.append('s-each-dup', [testEvent('A', {}, kept)], { expectedVersion: 0 });
    const original = (await store.readStream('s-each-dup'))[0];
    await store.append('s-each-conflict', [testEvent('A')], { expectedVersion: 0 });
    // The first append goes alone; the rest queue meanwhile and go together as one batch.
    const results = await Promise.allSettled([
      store.append('s-each-first', [testEvent('A', {}, other)], { expectedVersion: 0 }),
      store.append('s-each-new', [testEvent('A')], { expectedVersion: 0 }),
      store.append('s-each-any', [testEvent('A')], { expectedVersion: 'any' }),
      store.append('s-each-dup', [testEvent('A', {}, kept)], { expectedVersion: 0 }),
      store.append('s-each-reused', [testEvent('A', {}, kept)], { expectedVersion: 0 }),
      store.append('s-each-conflict', [testEvent('B')], { expectedVersion: 0 }),
      store.append('s-each-next', [testEvent('A')], { expectedVersion: 0 }),
    ]);
    const [first, fresh, any, dup, reused, conflict, next] = results;
    for (const r of [first, fresh, any, next]) expect(r).toMatchObject({ status: 'fulfilled', value: { streamVersion: 1, duplicate: false } });
    expect(dup).toEqual({ status: 'fulfilled', value: { streamVersion: 1, positions: [original.position], transactionId: original.transactionId, duplicate: true } });
    expect(reused).toMatchObject({ status: 'rejected', reason: expect.any(EventIdReusedError) });
    expect(conflict).toMatchObject({ status: 'rejected', reason: expect.any(ConcurrencyConflictError) });
    expect((conflict as PromiseRejectedResult).reason.actualVersion).toBe(1);
    // One transaction for the batch, its events at new positions, every chain intact.
    const batched = [fresh, any, next].map((r) => (r as PromiseFulfilledResult<{ transactionId: string; positions: string[] }>).value);
    expect(new Set(batched.map((r) => r.transactionId)).size).toBe(1);
    expect(new Set(batched.map((r) => r.positions[0])).size).toBe(3);
    expect(await store.readStream('s-each-reused')).toHaveLength(0);
    expect(await store.readStream('s-each-conflict')).toHaveLength(1);
    const tenants = await sql<{ tenant_id: string | null }>`SELECT DISTINCT tenant_id FROM es_events WHERE stream_id LIKE 's-each-%'`.execute(t.db);
    expect(tenants.rows).toEqual([{ tenant_id: 'org_test' }]);
    expect((await verifyStore(t.db)).ok).toBe(true);
  });

  it('decides each append of a batch of multi-event appends to different streams on its own', async () => {
    const pair = () => [testEvent('A', {}, newId()), testEvent('B', {}, newId())];
    const kept = pair();
    const original = await store.append('s-multi-dup', kept, { expectedVersion: 0 });
    await store.append('s-multi-conflict', [testEvent('A'), testEvent('B')], { expectedVersion: 0 });
    const mixed = [
      { ...testEvent('E'), metadata: { ...testEvent('E').metadata, correlationId: 'c-e' }, occurredAt: '2026-12-03T10:00:00.001Z' },
      { ...testEvent('F'), metadata: { ...testEvent('F').metadata, correlationId: 'c-f' }, occurredAt: '2026-12-03T10:00:00.002Z' },
    ];
    // The first append goes alone; the rest queue meanwhile and go together as one statement.
    const results = await Promise.allSettled([
      store.append('s-multi-first', pair(), { expectedVersion: 0 }),
      store.append('s-multi-new', [testEvent('A'), testEvent('B'), testEvent('C')], { expectedVersion: 0 }),
      store.append('s-multi-any', pair(), { expectedVersion: 'any' }),
      store.append('s-multi-dup', kept, { expectedVersion: 0 }),
      store.append('s-multi-reused', kept, { expectedVersion: 0 }),
      store.append('s-multi-half', [kept[0], testEvent('C', {}, newId())], { expectedVersion: 0 }),
      store.append('s-multi-conflict', pair(), { expectedVersion: 0 }),
      store.append('s-multi-mixed', mixed, { expectedVersion: 0 }),
      store.append('s-multi-one', [testEvent('A')], { expectedVersion: 0 }),
    ]);
    const [first, fresh, any, dup, reused, half, conflict, mixedResult, one] = results;
    for (const r of [first, any, mixedResult]) expect(r).toMatchObject({ status: 'fulfilled', value: { streamVersion: 2, duplicate: false } });
    expect(fresh).toMatchObject({ status: 'fulfilled', value: { streamVersion: 3, duplicate: false } });
    expect(one).toMatchObject({ status: 'fulfilled', value: { streamVersion: 1, duplicate: false } });
    expect(dup).toEqual({ status: 'fulfilled', value: { ...original, duplicate: true } });
    for (const r of [reused, half]) expect(r).toMatchObject({ status: 'rejected', reason: expect.any(EventIdReusedError) });
    expect(conflict).toMatchObject({ status: 'rejected', reason: expect.any(ConcurrencyConflictError) });
    expect((conflict as PromiseRejectedResult).reason.actualVersion).toBe(2);
    // One transaction for the batch; each append's positions its own, rising with its versions.
    const batched = [fresh, any, mixedResult, one].map((r) => (r as PromiseFulfilledResult<{ transactionId: string; positions: string[] }>).value);
    expect(new Set(batched.map((r) => r.transactionId)).size).toBe(1);
    expect(new Set(batched.flatMap((r) => r.positions)).size).toBe(3 + 2 + 2 + 1);
    const fetched = await store.readStream('s-multi-new');
    expect(fetched.map((e) => [e.type, e.position])).toEqual([
      ['A', batched[0].positions[0]],
      ['B', batched[0].positions[1]],
      ['C', batched[0].positions[2]],
    ]);
    expect(BigInt(batched[0].positions[0]) < BigInt(batched[0].positions[2])).toBe(true);
    expect((await store.readStream('s-multi-mixed')).map((e) => [e.type, e.correlationId, e.occurredAt])).toEqual([
      ['E', 'c-e', '2026-12-03T10:00:00.001Z'],
      ['F', 'c-f', '2026-12-03T10:00:00.002Z'],
    ]);
    for (const stream of ['s-multi-reused', 's-multi-half']) expect(await store.readStream(stream)).toHaveLength(0);
    expect(await store.readStream('s-multi-conflict')).toHaveLength(2);
    const tenants = await sql<{ tenant_id: string | null }>`SELECT DISTINCT tenant_id FROM es_events WHERE stream_id LIKE 's-multi-%'`.execute(t.db);
    expect(tenants.rows).toEqual([{ tenant_id: 'org_test' }]);
    expect((await verifyStore(t.db)).ok).toBe(true);
  });

  it('tells its listeners after each append that stored something, not after a repeat', async () => {
    const local = new EventStore(t.db);
    let told = 0;
    local.onAppended(() => told++);
    const event = { ...testEvent('Told'), id: newId() };
    await local.append('s-told', [event], { expectedVersion: 0 });
    expect(told).toBe(1);
    await local.append('s-told', [event], { expectedVersion: 0 }); // the same event again: a no-op
    expect(told).toBe(1);
    await local.append('s-told', [testEvent('Told')], { expectedVersion: 1 });
    expect(told).toBe(2);
    await expect(local.append('s-told', [testEvent('Told')], { expectedVersion: 1 })).rejects.toBeInstanceOf(ConcurrencyConflictError);
    expect(told).toBe(2);
  });

  it('keeps concurrent idempotent retries to one copy', async () => {
    const id = newId();
    const results = await Promise.all(
      Array.from({ length: 10 }, () => store.append('s-idem-race', [testEvent('A', {}, id)], { expectedVersion: 'any' })),
    );
    expect(new Set(results.map((r) => r.positions[0])).size).toBe(1);
    expect(await store.readStream('s-idem-race')).toHaveLength(1);
  });
});

describe('what an event may hold', () => {
  it('refuses a NUL or an unpaired surrogate anywhere in data or metadata, storing nothing, and keeps every other character', async () => {
    const bad: Array<[unknown, string, 'data' | 'metadata']> = [
      [{ name: 'half \ud800 pair' }, 'data.name', 'data'],
      [{ nested: { list: ['ok', 'x\udfff'] } }, 'data.nested.list.1', 'data'],
      [{ ['key\ud83d']: 1 }, 'data.key\ud83d', 'data'],
      [{ note: 'nul \u0000 here' }, 'data.note', 'data'],
      ['\ud800', 'metadata.correlationId', 'metadata'],
    ];
    for (const [value, field, where] of bad) {
      const base = testEvent('Odd');
      const event = where === 'data' ? { ...base, data: value } : { ...base, metadata: { ...base.metadata, correlationId: value as string } };
      // Alone and beside a good append (a batch): the bad one is refused, the good one stored.
      const [refused, stored] = await Promise.allSettled([store.append('s-odd', [event], { expectedVersion: 'any' }), store.append('s-odd-neighbour', [testEvent('Fine')], { expectedVersion: 'any' })]);
      expect(refused).toMatchObject({ status: 'rejected', reason: { name: 'UnstorableEventError', field, streamId: 's-odd' } });
      expect(stored.status).toBe('fulfilled');
    }
    expect(await store.readStream('s-odd')).toEqual([]);
    expect(await store.readStream('s-odd-neighbour')).toHaveLength(bad.length);
    // Whole surrogate pairs, other control characters and text PostgreSQL must escape are data like any other.
    const fine = { emoji: 'GPU 😀', bell: 'a\u0007b', quote: 'say "hi" \\u0000 \\ud800' };
    await store.append('s-fine', [testEvent('Fine', fine)], { expectedVersion: 0 });
    expect((await store.readStream('s-fine'))[0].data).toEqual(fine);
    // …and PostgreSQL reads every stored field back as text, as projections do.
    const texts = await sql<{ v: string }>`SELECT j.value AS v FROM es_events e, json_each_text(e.data) j WHERE e.stream_id = 's-fine'`.execute(t.db);
    expect(texts.rows.map((r) => r.v).sort()).toEqual(Object.values(fine).sort());
  });

  it('checks every event of an append, those sharing one metadata object too', async () => {
    const shared = { ...testEvent('Odd').metadata, causationId: 'cause \u0000' };
    const two = [testEvent('Odd'), testEvent('Odd')].map((e) => ({ ...e, metadata: shared }));
    await expect(store.append('s-odd-shared', two, { expectedVersion: 0 })).rejects.toMatchObject({ name: 'UnstorableEventError', field: 'metadata.causationId' });
    const secondBad = [testEvent('Odd', { fine: true }), testEvent('Odd', { list: [{ deep: 'x\udbff' }] })];
    await expect(store.append('s-odd-shared', secondBad, { expectedVersion: 0 })).rejects.toMatchObject({ name: 'UnstorableEventError', field: 'data.list.0.deep' });
    expect(await store.readStream('s-odd-shared')).toEqual([]);
  });
});

describe('how large an event may be', () => {
  it('refuses one whose data and metadata take more than MAX_EVENT_BYTES of JSON, counting bytes, not characters', async () => {
    const metadataBytes = Buffer.byteLength(JSON.stringify(testEvent('X').metadata));
    const room = MAX_EVENT_BYTES - metadataBytes - Buffer.byteLength(JSON.stringify({ text: '' }));
    // ASCII to the byte: stored. One byte more: refused, nothing written.
    await store.append('s-size-fits', [testEvent('Sized', { text: 'a'.repeat(room) })], { expectedVersion: 0 });
    await expect(store.append('s-size-over', [testEvent('Sized', { text: 'a'.repeat(room + 1) })], { expectedVersion: 0 })).rejects.toMatchObject({ name: 'EventTooLargeError', bytes: MAX_EVENT_BYTES + 1 });
    // Fewer characters than bytes: control characters, which JSON writes as six-byte escapes…
    await expect(store.append('s-size-over', [testEvent('Sized', { text: '\u0001'.repeat(Math.ceil((room + 1) / 6)) })], { expectedVersion: 0 })).rejects.toBeInstanceOf(EventTooLargeError);
    // …and three-byte characters, a third as many: also too many.
    await expect(store.append('s-size-over', [testEvent('Sized', { text: '€'.repeat(Math.ceil((room + 1) / 3)) })], { expectedVersion: 0 })).rejects.toBeInstanceOf(EventTooLargeError);
    // Spread over many fields and the metadata, and inside a batch with a neighbour that is stored.
    const many = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`field_${i}`, 'b'.repeat(600)]));
    const [refused, stored] = await Promise.allSettled([
      store.append('s-size-over', [testEvent('Sized', many)], { expectedVersion: 'any' }),
      store.append('s-size-neighbour', [testEvent('Sized', { text: 'fine' })], { expectedVersion: 'any' }),
    ]);
    expect(refused).toMatchObject({ status: 'rejected', reason: { name: 'EventTooLargeError' } });
    expect(stored.status).toBe('fulfilled');
    expect(await store.readStream('s-size-over')).toEqual([]);
    expect((await store.readStream('s-size-fits'))[0].data).toEqual({ text: 'a'.repeat(room) });
  });
});

describe('event times', () => {
  it('reads back the instant appended, to the millisecond, whatever its offset or precision and whatever the session time zone', async () => {
    const given = ['2026-01-02T03:04:05.678Z', '2026-01-02T03:04:05Z', '2026-01-02T03:04:05.5Z', '2026-01-02T03:04:05.678912Z', '2026-01-02T05:04:05.25+02:00', '1999-12-31T23:59:59.999Z'];
    const expected = ['2026-01-02T03:04:05.678Z', '2026-01-02T03:04:05.000Z', '2026-01-02T03:04:05.500Z', '2026-01-02T03:04:05.678Z', '2026-01-02T03:04:05.250Z', '1999-12-31T23:59:59.999Z'];
    const appended = await store.append('s-times', given.map((occurredAt) => ({ ...testEvent('Timed'), occurredAt })), { expectedVersion: 0 });
    expect((await store.readStream('s-times')).map((e) => e.occurredAt)).toEqual(expected);
    // A server or database whose time zone is not UTC changes nothing.
    await sql.raw(`ALTER DATABASE ${t.name} SET timezone = 'Asia/Kolkata'`).execute(t.db);
    const elsewhere = createDatabase(t.url, { max: 1 });
    try {
      const other = new EventStore(elsewhere);
      expect((await other.readStream('s-times')).map((e) => e.occurredAt)).toEqual(expected);
      expect((await other.readEvents([...(await store.readStream('s-times')).map((e) => e.id)])).map((e) => e.occurredAt)).toEqual(expected);
      expect(appended.positions.every((p) => /^[0-9]+$/.test(p))).toBe(true);
    } finally {
      await elsewhere.destroy();
      await sql.raw(`ALTER DATABASE ${t.name} RESET timezone`).execute(t.db);
    }
  });
});

describe('read all without skipping', () => {
  it('delivers every committed event exactly once, none rolled back, despite late commits with lower positions', async () => {
    const before = await sql<{ n: string }>`SELECT count(*)::text AS n FROM es_events`.execute(t.db);
    const preexisting = Number(before.rows[0].n);
    const seen: string[] = [];
    const seenIds = new Set<string>();
    const seenOrder: Array<[bigint, bigint]> = [];
    let checkpoint = START_OF_STORE;
    let done = false;
    const reader = (async () => {
      while (!done) {
        const batch = await store.readAll(checkpoint, 50);
        for (const e of batch) {
          seen.push(e.position);
          seenIds.add(e.id);
          seenOrder.push([BigInt(e.transactionId), BigInt(e.position)]);
          checkpoint = checkpointOf(e);
        }
        if (batch.length === 0) await new Promise((r) => setTimeout(r, 5));
      }
    })();

    const committedIds: string[] = [];
    const rolledBackIds: string[] = [];
    let highestFastPosition = 0n;
    let lateCommits = 0;
    // Slow writers take a position early, hold their transaction open, then commit or roll back
    // while fast writers keep committing higher positions.
    const slow = Array.from({ length: 8 }, async (_, i) => {
      const id = newId();
      const payload = JSON.stringify([
        { stream_id: `slow-${i}`, expected_version: 0, events: [{ event_id: id, type: 'Slow', schema_version: 1, data: { i }, metadata: { tenantId: null, correlationId: 'c', causationId: null, actor: { type: 'system', id: 't' } }, occurred_at: new Date().toISOString() }] },
      ]);
      await t.db.connection().execute(async (conn) => {
        await sql`BEGIN`.execute(conn);
        const appended = await sql<{ positions: string }>`SELECT positions FROM es_append(${payload}::jsonb)`.execute(conn);
        await new Promise((r) => setTimeout(r, 100 + i * 40));
        if (i % 3 === 0) {
          await sql`ROLLBACK`.execute(conn);
          rolledBackIds.push(id);
        } else {
          if (highestFastPosition > BigInt(appended.rows[0].positions.split(',')[0])) lateCommits++;
          await sql`COMMIT`.execute(conn);
          committedIds.push(id);
        }
      });
    });
    const fast = Array.from({ length: 200 }, async (_, i) => {
      await new Promise((r) => setTimeout(r, i * 2));
      const id = newId();
      const result = await store.append(`fast-${i % 20}`, [testEvent('Fast', { i }, id)], { expectedVersion: 'any' });
      committedIds.push(id);
      if (BigInt(result.positions[0]) > highestFastPosition) highestFastPosition = BigInt(result.positions[0]);
    });
    await Promise.all([...slow, ...fast]);
    const total = preexisting + committedIds.length;
    while (seen.length < total) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    done = true;
    await reader;

    expect(seen).toHaveLength(total);
    // Delivered strictly in the global order (transaction, then position), compared as numbers.
    for (let i = 1; i < seenOrder.length; i++) {
      const [a, b] = [seenOrder[i - 1], seenOrder[i]];
      expect(a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])).toBe(true);
    }
    expect(new Set(seen).size).toBe(total);
    for (const id of committedIds) expect(seenIds.has(id)).toBe(true);
    for (const id of rolledBackIds) expect(seenIds.has(id)).toBe(false);
    // Slow commits really did land below positions that fast writers had already committed.
    expect(lateCommits).toBeGreaterThan(0);
    // A second reader from the start sees the same order.
    const replay: string[] = [];
    let cp = START_OF_STORE;
    for (;;) {
      const batch = await store.readAll(cp, 1000);
      if (batch.length === 0) break;
      replay.push(...batch.map((e) => e.position));
      cp = checkpointOf(batch[batch.length - 1]);
    }
    expect(replay).toEqual(seen);
  });

  it('is held back, not skipped, by a long open transaction', async () => {
    let cp = START_OF_STORE;
    for (;;) {
      const batch = await store.readAll(cp, 1000);
      if (batch.length === 0) break;
      cp = checkpointOf(batch[batch.length - 1]);
    }
    const longId = newId();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const longTx = t.db.connection().execute(async (conn) => {
      await sql`BEGIN`.execute(conn);
      await sql`SELECT * FROM es_append(${JSON.stringify([{ stream_id: 'long', expected_version: null, events: [{ event_id: longId, type: 'Long', schema_version: 1, data: {}, metadata: { tenantId: null, correlationId: 'c', causationId: null, actor: { type: 'system', id: 't' } }, occurred_at: new Date().toISOString() }] }])}::jsonb)`.execute(conn);
      await held;
      await sql`COMMIT`.execute(conn);
    });
    await new Promise((r) => setTimeout(r, 50));
    const later = await store.append('after-long', [testEvent('After')], { expectedVersion: 'any' });
    expect(await store.readAll(cp, 100)).toEqual([]);
    // The head is what readAll would give: not past what it holds back.
    expect(await store.head()).toEqual(cp);
    release();
    await longTx;
    const batch = await store.readAll(cp, 100);
    expect(batch.map((e) => e.type)).toEqual(['Long', 'After']);
    expect(batch[1].position).toBe(later.positions[0]);
    expect(await store.head()).toEqual(checkpointOf(batch[1]));
  });

  it('is not held back by a transaction open in another database of the same server', async () => {
    const before = await store.head();
    const elsewhere = new URL(t.url);
    elsewhere.pathname = '/postgres';
    const other = new Client({ connectionString: elsewhere.toString() });
    await other.connect();
    try {
      // A transaction id of the cluster, older than the append below, that can never write here.
      await other.query('BEGIN');
      await other.query('SELECT pg_current_xact_id()');
      const appended = await store.append('beside-another-database', [testEvent('Beside')], { expectedVersion: 'any' });
      const batch = await store.readAll(before, 100);
      expect(batch.map((e) => e.position)).toEqual(appended.positions);
      expect(await store.head()).toEqual({ transactionId: appended.transactionId, position: appended.positions[0] });
    } finally {
      await other.query('ROLLBACK');
      await other.end();
    }
  });
});

describe('head', () => {
  it('is the last event of the global order where one transaction’s positions gain a digit', async () => {
    const { rows } = await sql<{ last: string }>`SELECT last_value::text AS last FROM es_position_seq`.execute(t.db);
    const next = BigInt(rows[0].last) + 1n;
    let boundary = 10n;
    while (boundary <= next) boundary *= 10n;
    // One append, so one transaction, whose positions run from below a power of ten to past it:
    // ordered as text, its last event would not be its greatest position.
    const count = Number(boundary - next) + 2;
    const appended = await store.append(`digits-${newId()}`, Array.from({ length: count }, (_, i) => testEvent('Counted', { i })), { expectedVersion: 0 });
    const last = appended.positions[appended.positions.length - 1];
    expect([BigInt(appended.positions[0]) < boundary, BigInt(last) > boundary]).toEqual([true, true]);
    expect(await store.head()).toEqual({ transactionId: appended.transactionId, position: last });
  });
});

describe('connections', () => {
  it('runs every session in UTC with ISO dates, whatever the database’s own defaults', async () => {
    await sql.raw(`ALTER DATABASE ${t.name} SET timezone TO 'America/New_York'`).execute(t.db);
    await sql.raw(`ALTER DATABASE ${t.name} SET datestyle TO 'SQL, DMY'`).execute(t.db);
    const fresh = createDatabase(t.url, { max: 1 });
    try {
      const { rows } = await sql<{ zone: string; style: string; day: string }>`SELECT current_setting('TimeZone') AS zone, current_setting('DateStyle') AS style,
        ('2026-03-07T00:00:00Z'::timestamptz + interval '2 days')::text AS day`.execute(fresh);
      // Across New York's change to summer time, two days are still 48 hours.
      expect(rows[0]).toEqual({ zone: 'UTC', style: expect.stringMatching(/^ISO, /), day: '2026-03-09 00:00:00+00' });
    } finally {
      await fresh.destroy();
      await sql.raw(`ALTER DATABASE ${t.name} RESET timezone`).execute(t.db);
      await sql.raw(`ALTER DATABASE ${t.name} RESET datestyle`).execute(t.db);
    }
  });

  it('lets one holder at a time have a session lock, and tells the holder when its connection is lost', async () => {
    let told: Error | undefined;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let seen: Error | undefined;
    const holder = withSessionLock(
      t.db,
      'test:lock',
      async (lost) => {
        // Meanwhile another taker is refused at once.
        expect(await withSessionLock(t.db, 'test:lock', async () => 'no')).toEqual({ held: false });
        await terminateLockHolder(t.db, 'test:lock');
        await released;
        seen = lost();
        return 'held';
      },
      (error) => {
        told = error;
        release();
      },
    );
    expect(await holder).toEqual({ held: true, value: 'held' });
    expect(told).toBeInstanceOf(Error);
    expect(seen).toBe(told);
    // PostgreSQL freed it with the session: the next taker gets it.
    expect(await withSessionLock(t.db, 'test:lock', async () => 'again')).toEqual({ held: true, value: 'again' });
  });

  it('survives losing a connection held between queries: its holder sees an error, the pool goes on', async () => {
    await t.db.connection().execute(async (conn) => {
      const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(conn);
      // With a timeout PostgreSQL answers once the session has ended, so no sleep is needed.
      await sql`SELECT pg_terminate_backend(${rows[0].pid}, 5000)`.execute(t.db);
      await expect(sql`SELECT 1`.execute(conn)).rejects.toThrow();
    });
    expect((await sql<{ one: number }>`SELECT 1 AS one`.execute(t.db)).rows[0].one).toBe(1);
  });
});

describe('batched appends on a growing store', () => {
  it('look up event ids by index even when the session planned them while the store was empty', async () => {
    // One connection, so es_append's cached plans and the scan counters are this session's.
    const one = await createTestDatabase([eventStoreMigrations], { poolSize: 1 });
    try {
      const small = new EventStore(one.db);
      const scans = async () => (await tableScans(one.db, 'es_events')).seq;
      // Three appends at once: the first goes alone, the other two as one batch, whose
      // caller-chosen ids it checks: one event each (one statement), or two (es_append).
      const batch = async (tag: string) => {
        const singles = await Promise.all([1, 2, 3].map((k) => small.append(`grow-${tag}-${k}`, [{ ...testEvent('A'), id: newId() }], { expectedVersion: 0 })));
        const pair = () => [{ ...testEvent('A'), id: newId() }, { ...testEvent('B'), id: newId() }];
        const pairs = await Promise.all([1, 2, 3].map((k) => small.append(`grow-${tag}-pair-${k}`, pair(), { expectedVersion: 0 })));
        for (const [, second, third] of [singles, pairs]) expect(second.transactionId).toBe(third.transactionId);
      };
      // And alone: one event, and ten (the chained statement), with caller-chosen ids.
      const lone = async (tag: string) => {
        await small.append(`lone-${tag}`, [{ ...testEvent('A'), id: newId() }], { expectedVersion: 0 });
        const ten = Array.from({ length: 10 }, () => ({ ...testEvent('A'), id: newId() }));
        await small.append(`lone-${tag}`, ten, { expectedVersion: 1 });
        expect(await small.streamVersion(`lone-${tag}`)).toBe(11);
        expect(await small.readStream(`lone-${tag}`, { fromVersion: 9 })).toHaveLength(2);
      };
      await batch('first'); // plans made on an empty table
      await lone('first');
      await sql`INSERT INTO es_events (position, transaction_id, stream_id, stream_version, event_id, type, schema_version, data, metadata, occurred_at, hash)
        SELECT nextval('es_position_seq'), pg_current_xact_id(), 'filler', i, gen_random_uuid(), 'F', 1, '{}', '{}', now(), '\\x00'
        FROM generate_series(1, 20000) i`.execute(one.db);
      const before = await scans();
      for (let i = 0; i < 5; i++) {
        await batch(`later-${i}`);
        await lone(`later-${i}`);
      }
      expect((await scans()) - before).toBe(0);
    } finally {
      await one.drop();
    }
  });

  it('is not analyzed while small, so that no session plans its lookups as scans of a one-page table', async () => {
    // Those plans are kept per connection until the next ANALYZE (see the migration); autovacuum
    // would analyze after 50 changed rows, the store waits for 1,000.
    const { rows } = await sql<{ options: string[] }>`SELECT reloptions AS options FROM pg_class WHERE oid = 'es_events'::regclass`.execute(t.db);
    expect(rows[0].options).toContain('autovacuum_analyze_threshold=1000');
  });
});
