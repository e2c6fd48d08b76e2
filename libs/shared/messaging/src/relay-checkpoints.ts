import { sql } from 'kysely';
import type { GlobalCheckpoint } from '@volt/contracts';
import type { Database } from '@volt/event-store';

/** Where a relay has published up to, as stored (nothing before its first save). */
export async function relayCheckpoint(db: Database, name: string): Promise<GlobalCheckpoint | undefined> {
  const { rows } = await sql<{ transaction_id: string; position: string }>`SELECT transaction_id::text, position::text
    FROM msg_relay_checkpoints WHERE name = ${name}`.execute(db);
  return rows[0] && { transactionId: rows[0].transaction_id, position: rows[0].position };
}

export async function saveRelayCheckpoint(db: Database, name: string, cp: GlobalCheckpoint): Promise<void> {
  await sql`INSERT INTO msg_relay_checkpoints (name, transaction_id, position) VALUES (${name}, ${cp.transactionId}::xid8, ${cp.position}::bigint)
    ON CONFLICT (name) DO UPDATE SET transaction_id = EXCLUDED.transaction_id, position = EXCLUDED.position, updated_at = now()`.execute(db);
}

/** Every relay's stored checkpoint and when it last moved, by relay name (for operators: `volt-admin projections`). */
export async function relayCheckpoints(db: Database): Promise<Map<string, { checkpoint: GlobalCheckpoint; updatedAt: Date }>> {
  const { rows } = await sql<{ name: string; transaction_id: string; position: string; updated_at: Date }>`SELECT name, transaction_id::text,
    position::text, updated_at FROM msg_relay_checkpoints ORDER BY name`.execute(db);
  return new Map(rows.map((r) => [r.name, { checkpoint: { transactionId: r.transaction_id, position: r.position }, updatedAt: r.updated_at }]));
}
