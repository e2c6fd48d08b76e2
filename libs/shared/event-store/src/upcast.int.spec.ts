import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { z } from 'zod';
import { START_OF_STORE, defineEvent } from '@volt/contracts';
import { createTestDatabase, testEvent, type TestDatabase } from '@volt/testing';
import { EventStore, eventStoreMigrations, verifyStore } from './index';

// Version 1 recorded feet; version 2 records metres.
defineEvent('test', 'DepthMeasured', z.object({ metres: z.number() }), 2, { 1: (d: { feet: number }) => ({ metres: Math.round(d.feet * 304.8) / 1000 }) });

let t: TestDatabase;
let store: EventStore;
beforeAll(async () => {
  t = await createTestDatabase([eventStoreMigrations]);
  store = new EventStore(t.db);
});
afterAll(() => t.drop());

describe('an event type at a later schema version', () => {
  it('is written at that version, and its events stored at an older one are read as it', async () => {
    // One written before the change (at version 1), then new ones, alone, together and batched.
    await store.append('well-1', [{ ...testEvent('DepthMeasured', { feet: 10 }), schemaVersion: 1 }], { expectedVersion: 0 });
    await store.append('well-1', [testEvent('DepthMeasured', { metres: 4 })], { expectedVersion: 1 });
    await store.append('well-1', [testEvent('DepthMeasured', { metres: 5 }), testEvent('Other', { n: 1 })], { expectedVersion: 2 });
    await Promise.all(Array.from({ length: 6 }, (_, i) => store.append(`well-${i + 2}`, [testEvent('DepthMeasured', { metres: i }), testEvent('DepthMeasured', { metres: i })], { expectedVersion: 0 })));

    const stored = await sql<{ schema_version: number; n: number }>`SELECT schema_version, count(*)::int AS n FROM es_events WHERE type = 'DepthMeasured' GROUP BY 1 ORDER BY 1`.execute(t.db);
    expect(stored.rows).toEqual([
      { schema_version: 1, n: 1 },
      { schema_version: 2, n: 14 },
    ]);
    const stream = await store.readStream('well-1');
    expect(stream.map((e) => [e.type, e.schemaVersion, e.data])).toEqual([
      ['DepthMeasured', 2, { metres: 3.048 }],
      ['DepthMeasured', 2, { metres: 4 }],
      ['DepthMeasured', 2, { metres: 5 }],
      ['Other', 1, { n: 1 }],
    ]);
    // The global order (projections, the relay) reads the same.
    const all = await store.readAll(START_OF_STORE, 100);
    expect(all.filter((e) => e.type === 'DepthMeasured').every((e) => e.schemaVersion === 2 && typeof (e.data as { metres: number }).metres === 'number')).toBe(true);
    expect(all.find((e) => e.streamId === 'well-1')?.data).toEqual({ metres: 3.048 });
    // The stored event is untouched: its hash still holds.
    expect(await verifyStore(t.db)).toMatchObject({ ok: true, eventsChecked: 16 });
  });
});
