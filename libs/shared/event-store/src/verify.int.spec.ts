import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createTestDatabase, migrationsBefore, testEvent, type TestDatabase } from '@volt/testing';
import { EventStore, createDatabase, eventStoreMigrations, migrateToLatest, newId, sealNextRange, verifyStore } from './index';

let t: TestDatabase;
let store: EventStore;

beforeEach(async () => {
  t = await createTestDatabase([eventStoreMigrations]);
  store = new EventStore(t.db);
  for (let i = 0; i < 30; i++) {
    await store.append(`s-${i % 3}`, [testEvent('Happened', { i, amount: i * 100 })], { expectedVersion: 'any' });
  }
  await sealNextRange(t.db, 10);
  await sealNextRange(t.db, 1000);
});
afterEach(() => t.drop());

/** Goes behind the store's back: replica mode skips the append-only triggers. */
async function tamper(statement: ReturnType<typeof sql>) {
  await t.db.connection().execute(async (conn) => {
    await sql`SET session_replication_role = replica`.execute(conn);
    await statement.execute(conn);
    await sql`SET session_replication_role = origin`.execute(conn);
  });
}

async function positionOf(stream: string, version: number): Promise<string> {
  const r = await sql<{ p: string }>`SELECT position::text AS p FROM es_events WHERE stream_id = ${stream} AND stream_version = ${version}`.execute(t.db);
  return r.rows[0].p;
}

describe('verify', () => {
  it('passes an untouched store, with every event sealed', async () => {
    const report = await verifyStore(t.db);
    expect(report).toMatchObject({ ok: true, eventsChecked: 30, streamsChecked: 3, sealsChecked: 2, problems: [] });
  });

  it('checks seals in their number order past the hundredth (not as text: 10, 100, 11)', async () => {
    for (let i = 0; i < 100; i++) {
      await store.append('many-seals', [testEvent('Happened', { i })], { expectedVersion: i });
      expect(await sealNextRange(t.db)).not.toBeNull();
    }
    expect(await verifyStore(t.db)).toMatchObject({ ok: true, eventsChecked: 130, sealsChecked: 102, problems: [] });
  });

  it('refuses UPDATE, DELETE and TRUNCATE through the normal path', async () => {
    await expect(sql`UPDATE es_events SET data = '{}'`.execute(t.db)).rejects.toThrow(/append-only/);
    await expect(sql`DELETE FROM es_events`.execute(t.db)).rejects.toThrow(/append-only/);
    await expect(sql`TRUNCATE es_events`.execute(t.db)).rejects.toThrow(/append-only/);
  });

  it('catches an UPDATE of an event and names its position', async () => {
    const target = await positionOf('s-1', 4);
    await tamper(sql`UPDATE es_events SET data = jsonb_set(data::jsonb, '{amount}', '1')::json WHERE position = ${target}::bigint`);
    const report = await verifyStore(t.db);
    expect(report.ok).toBe(false);
    expect(report.firstBadPosition).toBe(target);
    expect(report.problems.map((p) => p.kind)).toContain('hash_mismatch');
  });

  it('catches an edit of the stored text that leaves its meaning alone', async () => {
    const target = await positionOf('s-2', 3);
    await tamper(sql`UPDATE es_events SET metadata = replace(metadata::text, ',', ', ')::json WHERE position = ${target}::bigint`);
    const [row] = (await sql<{ same: boolean }>`SELECT metadata::jsonb = ${JSON.stringify(testEvent('X').metadata)}::jsonb AS same FROM es_events WHERE position = ${target}::bigint`.execute(t.db)).rows;
    expect(row.same).toBe(true);
    const report = await verifyStore(t.db);
    expect(report.firstBadPosition).toBe(target);
    expect(report.problems.map((p) => p.kind)).toContain('hash_mismatch');
  });

  it('catches a DELETE in the middle of a stream', async () => {
    const target = await positionOf('s-2', 5);
    const next = await positionOf('s-2', 6);
    await tamper(sql`DELETE FROM es_events WHERE position = ${target}::bigint`);
    const report = await verifyStore(t.db);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.kind)).toEqual(expect.arrayContaining(['version_gap', 'seal_mismatch']));
    // The removed event's neighbour in the global order is where the damage shows first.
    expect(BigInt(report.firstBadPosition!)).toBeLessThanOrEqual(BigInt(next));
  });

  it("catches the removal of a stream's last event through the seals", async () => {
    const last = await positionOf('s-0', 10);
    await tamper(sql`DELETE FROM es_events WHERE position = ${last}::bigint`);
    const report = await verifyStore(t.db);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.kind)).toContain('seal_mismatch');
  });

  it('catches a swap of two events (their payloads, or their positions)', async () => {
    const a = await positionOf('s-0', 2);
    const b = await positionOf('s-0', 3);
    await tamper(sql`UPDATE es_events SET data = CASE WHEN position = ${a}::bigint THEN (SELECT data FROM es_events WHERE position = ${b}::bigint)
      ELSE (SELECT data FROM es_events WHERE position = ${a}::bigint) END WHERE position IN (${a}::bigint, ${b}::bigint)`);
    const report = await verifyStore(t.db);
    expect(report.ok).toBe(false);
    expect(report.firstBadPosition).toBe(a);

    await t.drop();
    t = await createTestDatabase([eventStoreMigrations]);
    store = new EventStore(t.db);
    for (let i = 0; i < 6; i++) await store.append('s', [testEvent('E', { i })], { expectedVersion: 'any' });
    const [p2, p4] = [await positionOf('s', 2), await positionOf('s', 4)];
    await tamper(sql`UPDATE es_events SET position = -1 WHERE position = ${p2}::bigint`);
    await tamper(sql`UPDATE es_events SET position = ${p2}::bigint WHERE position = ${p4}::bigint`);
    await tamper(sql`UPDATE es_events SET position = ${p4}::bigint WHERE position = -1`);
    const swapped = await verifyStore(t.db);
    expect(swapped.ok).toBe(false);
    expect(swapped.firstBadPosition).toBe(p2);
  });
});

describe('a store written before events were kept as json', () => {
  it('still verifies after the conversion, reads the same events and goes on appending', async () => {
    await t.drop();
    t = await createTestDatabase([migrationsBefore('2026-11-30T0800-event-store-json-payloads', eventStoreMigrations)]);
    store = new EventStore(t.db);
    // es_append as it was then (the store's own statements now write json).
    const payload = (i: number) =>
      JSON.stringify([{ stream_id: `old-${i % 2}`, expected_version: null, check_ids: false, events: [{ ...testEvent('Old', { i, nested: { b: 1, a: [i] } }), event_id: newId(), schema_version: 1, occurred_at: new Date().toISOString() }] }]);
    for (let i = 0; i < 6; i++) await sql`SELECT * FROM es_append(${payload(i)}::jsonb)`.execute(t.db);
    await sealNextRange(t.db, 1000);
    const written = await store.readStream('old-1');

    await migrateToLatest(t.db, eventStoreMigrations);
    // As after a deploy: processes that start after the migration (the old pool's prepared
    // statements would still expect jsonb results).
    const db = createDatabase(t.url, { max: 2 });
    try {
      const upgraded = new EventStore(db);
      expect(await verifyStore(db)).toMatchObject({ ok: true, eventsChecked: 6, problems: [] });
      expect(await upgraded.readStream('old-1')).toEqual(written);
      await upgraded.append('old-1', [testEvent('New', { i: 6 })], { expectedVersion: 3 });
      await upgraded.append('old-0', [testEvent('New', { i: 7 }), testEvent('New', { i: 8 })], { expectedVersion: 3 });
      expect(await verifyStore(db)).toMatchObject({ ok: true, eventsChecked: 9, problems: [] });
    } finally {
      await db.destroy();
    }
  });
});
