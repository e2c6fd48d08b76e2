import { sql } from 'kysely';
import type { GlobalCheckpoint } from '@volt/contracts';
import type { Database } from '@volt/event-store';

/** Makes a projection's checkpoint row, at the start of the store, unless it is there. */
export async function createCheckpoint(db: Database, name: string): Promise<void> {
  await sql`INSERT INTO proj_checkpoints (name, transaction_id, position) VALUES (${name}, '0'::xid8, 0) ON CONFLICT DO NOTHING`.execute(db);
}

/** Every projection's stored checkpoint and when it last moved, by projection name (for operators: `volt-admin projections`). */
export async function projectionCheckpoints(db: Database): Promise<Map<string, { checkpoint: GlobalCheckpoint; updatedAt: Date }>> {
  const { rows } = await sql<{ name: string; transaction_id: string; position: string; updated_at: Date }>`SELECT name, transaction_id::text,
    position::text, updated_at FROM proj_checkpoints`.execute(db);
  return new Map(rows.map((r) => [r.name, { checkpoint: { transactionId: r.transaction_id, position: r.position }, updatedAt: r.updated_at }]));
}
