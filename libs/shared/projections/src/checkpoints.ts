import { sql } from 'kysely';
import type { Database } from '@volt/event-store';

/** Makes a projection's checkpoint row, at the start of the store, unless it is there. */
export async function createCheckpoint(db: Database, name: string): Promise<void> {
  await sql`INSERT INTO proj_checkpoints (name, transaction_id, position) VALUES (${name}, '0'::xid8, 0) ON CONFLICT DO NOTHING`.execute(db);
}
