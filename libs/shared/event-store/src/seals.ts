import { sql } from 'kysely';
import type { Database } from './database';
import { READ_HORIZON_SQL } from './read-horizon.sql';

export interface Seal {
  sealNo: string;
  firstPosition: string;
  lastPosition: string;
  eventCount: number;
  digest: string;
}

/**
 * Seals the next range of the global order: its digest chains the previous seal's
 * digest with the hashes of every event in the range, in order. It reads only what
 * all older transactions have finished with, so sealing never blocks an append and
 * a sealed range can never gain a late event. Two sealers racing collide on the
 * seal number and one of them simply loses.
 */
export async function sealNextRange(db: Database, maxEvents = 5000): Promise<Seal | null> {
  try {
    const result = await sql<{
      seal_no: string;
      first_position: string;
      last_position: string;
      event_count: number;
      digest: Buffer;
    }>`
      WITH last AS (
        SELECT seal_no, last_transaction_id, last_position, digest FROM es_seals ORDER BY seal_no DESC LIMIT 1
      ), next_range AS (
        SELECT e.transaction_id, e.position, e.hash FROM es_events e
        WHERE (e.transaction_id, e.position) > (
                coalesce((SELECT last_transaction_id FROM last), '0'::xid8),
                coalesce((SELECT last_position FROM last), 0))
          AND e.transaction_id < ${sql.raw(READ_HORIZON_SQL)}
        ORDER BY e.transaction_id, e.position
        LIMIT ${maxEvents}
      ), summary AS (
        SELECT count(*)::int AS event_count,
               (array_agg(transaction_id ORDER BY transaction_id, position))[1] AS first_transaction_id,
               (array_agg(position ORDER BY transaction_id, position))[1] AS first_position,
               (array_agg(transaction_id ORDER BY transaction_id DESC, position DESC))[1] AS last_transaction_id,
               (array_agg(position ORDER BY transaction_id DESC, position DESC))[1] AS last_position,
               string_agg(hash, ''::bytea ORDER BY transaction_id, position) AS hashes
        FROM next_range
      )
      INSERT INTO es_seals (seal_no, first_transaction_id, first_position, last_transaction_id, last_position,
                            event_count, prev_digest, digest)
      SELECT coalesce((SELECT seal_no FROM last), 0) + 1, first_transaction_id, first_position,
             last_transaction_id, last_position, event_count, prev.digest, sha256(prev.digest || hashes)
      FROM summary,
           LATERAL (SELECT coalesce((SELECT digest FROM last), ${GENESIS}) AS digest) prev
      WHERE event_count > 0
      RETURNING seal_no::text, first_position::text, last_position::text, event_count, digest`.execute(db);
    const row = result.rows[0];
    if (!row) return null;
    return {
      sealNo: row.seal_no,
      firstPosition: row.first_position,
      lastPosition: row.last_position,
      eventCount: row.event_count,
      digest: row.digest.toString('hex'),
    };
  } catch (error) {
    if ((error as { code?: string }).code === '23505') return null;
    throw error;
  }
}

const GENESIS = sql.raw(`'\\x${'00'.repeat(32)}'::bytea`);
