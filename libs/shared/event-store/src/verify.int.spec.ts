import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createTestDatabase, migrationsBefore, testEvent, type TestDatabase } from '@volt/testing';
import { EventStore, createDatabase, eventStoreMigrations, exportStore, migrateToLatest, newId, sealNextRange, verifyExport, verifyStore } from './index';

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

describe('verify: a stream whose versions are out of order in the global order', () => {
  it('passes when a version was appended by a transaction that took its id before the previous version’s', async () => {
    await t.db.connection().execute(async (conn) => {
      await sql`BEGIN`.execute(conn);
      // The transaction takes its id now (a ledger batch takes it with its first insert)…
      await sql`SELECT pg_current_xact_id()`.execute(conn);
      // …another appends version 1 and commits; then this one appends version 2.
      await store.append('late', [testEvent('E', { v: 1 })], { expectedVersion: 0 });
      const payload = JSON.stringify([{ stream_id: 'late', expected_version: 1, events: [{ ...testEvent('E', { v: 2 }), event_id: newId(), schema_version: 1, occurred_at: new Date().toISOString() }] }]);
      await sql`SELECT * FROM es_append(${payload}::jsonb)`.execute(conn);
      await sql`COMMIT`.execute(conn);
    });
    const order = await sql<{ stream_version: number }>`SELECT stream_version FROM es_events WHERE stream_id = 'late' ORDER BY transaction_id, position`.execute(t.db);
    expect(order.rows.map((r) => r.stream_version)).toEqual([2, 1]);
    await sealNextRange(t.db);
    expect(await verifyStore(t.db)).toMatchObject({ ok: true, eventsChecked: 32, streamsChecked: 4, sealsChecked: 3, problems: [] });
    // A version that never gets its predecessor is a gap, named at that version.
    const one = await positionOf('late', 1);
    await tamper(sql`DELETE FROM es_events WHERE position = ${one}::bigint`);
    const report = await verifyStore(t.db);
    expect(report.problems.map((p) => [p.kind, p.position])).toEqual(expect.arrayContaining([['version_gap', await positionOf('late', 2)], ['seal_mismatch', expect.any(String)]]));
  });
});

describe('export', () => {
  const exported = async () => {
    const lines: string[] = [];
    expect(await exportStore(t.db, (line) => void lines.push(line))).toEqual({ events: 30, seals: 2 });
    return lines;
  };

  it('writes every seal and event so that the same check passes without the database', async () => {
    const lines = await exported();
    expect(lines).toHaveLength(1 + 2 + 30);
    expect(JSON.parse(lines[0])).toMatchObject({ format: 'volt-event-export', version: 1, events: 30, seals: 2 });
    expect(await verifyExport(lines)).toEqual(await verifyStore(t.db));
    expect(await verifyExport(lines)).toMatchObject({ ok: true, eventsChecked: 30, sealsChecked: 2 });
  });

  it('catches an event edited, removed or added in the file, and a file cut short', async () => {
    const lines = await exported();
    const target = await positionOf('s-1', 4);
    const at = lines.findIndex((l) => l.includes(`"position":"${target}"`));
    const edited = [...lines];
    edited[at] = edited[at].replace(/\\"amount\\": ?\d+/, '\\"amount\\": 1');
    expect(edited[at]).not.toEqual(lines[at]);
    expect(await verifyExport(edited)).toMatchObject({ ok: false, firstBadPosition: target, problems: expect.arrayContaining([expect.objectContaining({ kind: 'hash_mismatch' })]) });

    const removed = lines.filter((_, i) => i !== at);
    const gone = await verifyExport(removed);
    expect(gone.ok).toBe(false);
    expect(gone.problems.map((p) => p.kind)).toEqual(expect.arrayContaining(['version_gap', 'seal_mismatch', 'export_incomplete']));

    const added = [...lines.slice(0, at + 1), lines[at], ...lines.slice(at + 1)];
    expect((await verifyExport(added)).problems.map((p) => [p.kind, p.position])).toEqual(
      expect.arrayContaining([['version_gap', target], ['seal_mismatch', expect.any(String)], ['export_incomplete', null]]),
    );

    const cut = await verifyExport(lines.slice(0, -1));
    expect(cut.problems.map((p) => p.kind)).toContain('export_incomplete');

    await expect(verifyExport(lines.slice(1))).rejects.toThrow(/not a Volt event export/);
    await expect(verifyExport([lines[0], '{"event":{"position":"x"}}'])).rejects.toThrow('line 2: an event with no valid "position"');
    await expect(verifyExport([lines[0], lines[5], lines[1]])).rejects.toThrow('line 3: a seal after the events');
    await expect(verifyExport([lines[0], 'null'])).rejects.toThrow('line 2 is not a JSON object');
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
