import { sql } from 'kysely';
import { START_OF_STORE, type GlobalCheckpoint } from '@volt/contracts';
import type { Database } from '@volt/event-store';
import type { Projection } from '@volt/projections';

/** A projection or an outbox relay as the database holds it. */
export interface Follower {
  kind: 'projection' | 'relay';
  name: string;
  /** Its stored checkpoint's position ('0': none yet). */
  position: string;
  /** Events after that checkpoint that are its to apply (a projection: of the types it handles) or to publish (a relay: all). */
  pending: number;
  /** When its checkpoint last moved (null: never). */
  updatedAt: string | null;
  tables?: readonly string[];
}

interface CheckpointRow {
  name: string;
  transaction_id: string;
  position: string;
  updated_at: Date;
}

/**
 * Every projection and every relay that has stored a checkpoint, with how much is waiting for it
 * in the store: what `volt_projection_behind_seconds` and `volt_relay_behind_seconds` tell in
 * time, told in events and from the database alone. A running relay stores its checkpoint every
 * 250 ms at most, so a few of its pending events may be published already; a projection stores
 * its own with each batch it applies, so its count is exact.
 */
export async function followers(db: Database, projections: Projection[]): Promise<Follower[]> {
  const stored = await sql<CheckpointRow>`SELECT name, transaction_id::text, position::text, updated_at FROM proj_checkpoints`.execute(db);
  const byName = new Map(stored.rows.map((r) => [r.name, r]));
  const relays = await sql<CheckpointRow>`SELECT name, transaction_id::text, position::text, updated_at FROM msg_relay_checkpoints ORDER BY name`.execute(db);
  const list: Follower[] = [];
  for (const p of projections) {
    const row = byName.get(p.name);
    const from = row ? { transactionId: row.transaction_id, position: row.position } : START_OF_STORE;
    list.push({ kind: 'projection', name: p.name, position: from.position, pending: await eventsAfter(db, from, p.handles), updatedAt: row?.updated_at.toISOString() ?? null, tables: p.tables });
  }
  for (const r of relays.rows) {
    const from = { transactionId: r.transaction_id, position: r.position };
    list.push({ kind: 'relay', name: r.name, position: r.position, pending: await eventsAfter(db, from), updatedAt: r.updated_at.toISOString() });
  }
  return list;
}

/** Events committed after `from` in the global order (of `types` only, when given). */
async function eventsAfter(db: Database, from: GlobalCheckpoint, types?: readonly string[]): Promise<number> {
  const { rows } = await sql<{ n: string }>`SELECT count(*)::text AS n FROM es_events e
    WHERE (e.transaction_id, e.position) > (${from.transactionId}::xid8, ${from.position}::bigint)
    ${types ? sql`AND e.type = ANY(${[...types]}::text[])` : sql``}`.execute(db);
  return Number(rows[0].n);
}

export function followerLine(f: Follower): string {
  const what = f.kind === 'projection' ? 'to apply' : 'to publish';
  const tables = f.tables ? `  tables ${f.tables.join(', ')}` : '';
  return `${f.kind} ${f.name}  position ${f.position}  ${what} ${f.pending}  moved ${f.updatedAt ?? 'never'}${tables}`;
}
