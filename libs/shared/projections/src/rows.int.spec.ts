import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { EventStore, eventStoreMigrations } from '@volt/event-store';
import { createTestDatabase, testEvent, type TestDatabase } from '@volt/testing';
import { ProjectionRunner, projectionMigrations, rowsByKey } from './index';

let t: TestDatabase;
let store: EventStore;

/** A row per thing: opened, renamed, ticked (counts, and keeps the last tick's time), closed. */
const things = rowsByKey({
  name: 'test.things',
  table: 'test_things',
  key: 'thing_id',
  columns: { thing_id: 'text', name: 'text', ticks: 'integer', ratio: 'double precision', tags: 'jsonb', ticked_at: 'timestamptz', closed: 'boolean' },
  keyOf: (e) => e.data.thingId,
  handlers: {
    Opened: (row, e) => row ?? { thing_id: e.data.thingId, name: e.data.name, ticks: 0, ratio: 1 / 3, tags: e.data.tags, ticked_at: null, closed: false },
    Renamed: (row, e) => row && { ...row, name: e.data.name },
    Ticked: (row, e) => row && { ...row, ticks: (row.ticks as number) + 1, ticked_at: e.data.at },
    Closed: (row) => row && (row.closed ? row : { ...row, closed: true }),
  },
});

const rows = async () => (await sql<{ row: string }>`SELECT row_to_json(x)::text AS row FROM test_things x ORDER BY thing_id`.execute(t.db)).rows.map((r) => r.row);

beforeAll(async () => {
  t = await createTestDatabase([eventStoreMigrations, projectionMigrations]);
  await sql`CREATE TABLE test_things (thing_id text PRIMARY KEY, name text NOT NULL, ticks integer NOT NULL, ratio double precision NOT NULL,
    tags jsonb NOT NULL, ticked_at timestamptz, closed boolean NOT NULL)`.execute(t.db);
  store = new EventStore(t.db);
});
afterAll(() => t.drop());

describe('rowsByKey', () => {
  it('folds a batch in event order, leaves what it does not change exactly as stored, and rebuilds to the same rows', async () => {
    // A row written by other means, with a time to the microsecond: a batch that changes its name
    // must write the rest back exactly.
    await sql`INSERT INTO test_things VALUES ('t0', 'zero', 5, 0.1, '{"a": [1, 2.5, "x"]}', '2026-11-30T10:00:00.123456Z', false)`.execute(t.db);
    const before = (await rows())[0];
    const append = (type: string, data: object) => store.append(`things:${(data as { thingId: string }).thingId}`, [testEvent(type, data)], { expectedVersion: 'any' });
    await append('Renamed', { thingId: 't0', name: 'zero again' });
    await append('Opened', { thingId: 't1', name: 'one', tags: { nested: { deep: [true, null] } } });
    for (let i = 0; i < 3; i++) await append('Ticked', { thingId: 't1', at: `2026-11-30T11:00:0${i}.000Z` });
    await append('Renamed', { thingId: 't1', name: 'one, renamed after its ticks' });
    await append('Opened', { thingId: 't1', name: 'opened twice: ignored' });
    await append('Ticked', { thingId: 'nobody', at: '2026-11-30T12:00:00.000Z' }); // no row: nothing made
    await append('Closed', { thingId: 't1' });

    // Every event in one batch: each sees the row as the ones before it left it.
    await new ProjectionRunner(t.db, store, [things], { batchSize: 5000 }).catchUp();
    const built = await rows();
    expect(built).toHaveLength(2);
    expect(JSON.parse(built[0])).toEqual({ ...JSON.parse(before), name: 'zero again' });
    expect(built[0]).toBe(before.replace('"zero"', '"zero again"'));
    expect(JSON.parse(built[1])).toEqual({
      thing_id: 't1',
      name: 'one, renamed after its ticks',
      ticks: 3,
      ratio: 1 / 3,
      tags: { nested: { deep: [true, null] } },
      ticked_at: '2026-11-30T11:00:02+00:00',
      closed: true,
    });

    // One event per batch gives the same rows (t0's row is gone in a rebuild: no event made it).
    await new ProjectionRunner(t.db, store, [things], { batchSize: 1 }).rebuild('test.things');
    expect(await rows()).toEqual(built.slice(1));
  });
});
