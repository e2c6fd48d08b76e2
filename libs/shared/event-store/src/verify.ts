import { sql } from 'kysely';
import type { Database } from './database';

export interface VerifyProblem {
  /** Global position of the first event found wrong (null when no event can be named). */
  position: string | null;
  kind: 'hash_mismatch' | 'version_gap' | 'seal_mismatch' | 'seal_chain_broken';
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  eventsChecked: number;
  streamsChecked: number;
  sealsChecked: number;
  problems: VerifyProblem[];
  firstBadPosition: string | null;
}

const GENESIS = sql.raw(`'\\x${'00'.repeat(32)}'::bytea`);

/**
 * Checks that no stored event was changed, removed or reordered behind the store's
 * back: every event's hash against its stream predecessor, stream versions without
 * gaps, and every sealed range of the global order against its digest (which is what
 * catches the removal of a stream's last event).
 */
export async function verifyStore(db: Database): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];

  const chain = await sql<{ position: string; stream_id: string; stream_version: number; expected_version: number; hash_ok: boolean }>`
    SELECT position::text, stream_id, stream_version, expected_version, hash_ok FROM (
      SELECT e.position, e.stream_id, e.stream_version,
             coalesce(lag(e.stream_version) OVER w, 0) + 1 AS expected_version,
             e.hash = es_event_hash(coalesce(lag(e.hash) OVER w, ${GENESIS}), e.position, e.transaction_id,
               e.stream_id, e.stream_version, e.event_id, e.type, e.schema_version, e.data, e.metadata,
               e.occurred_at) AS hash_ok
      FROM es_events e
      WINDOW w AS (PARTITION BY e.stream_id ORDER BY e.stream_version)
    ) checked
    WHERE NOT hash_ok OR stream_version <> expected_version
    ORDER BY checked.position LIMIT 100`.execute(db);
  for (const row of chain.rows) {
    if (row.stream_version !== row.expected_version) {
      problems.push({
        position: row.position,
        kind: 'version_gap',
        detail: `stream ${row.stream_id}: version ${row.stream_version} follows ${row.expected_version - 1} (events missing or reordered)`,
      });
    } else {
      problems.push({
        position: row.position,
        kind: 'hash_mismatch',
        detail: `stream ${row.stream_id} version ${row.stream_version}: hash does not match its content and predecessor`,
      });
    }
  }

  const seals = await verifySeals(db, problems);
  const counts = await sql<{ events: string; streams: string }>`
    SELECT (SELECT count(*) FROM es_events)::text AS events, (SELECT count(DISTINCT stream_id) FROM es_events)::text AS streams`.execute(db);

  const positions = problems.map((p) => p.position).filter((p): p is string => p !== null);
  const firstBadPosition = positions.length ? positions.reduce((a, b) => (BigInt(a) <= BigInt(b) ? a : b)) : null;
  return {
    ok: problems.length === 0,
    eventsChecked: Number(counts.rows[0].events),
    streamsChecked: Number(counts.rows[0].streams),
    sealsChecked: seals,
    problems,
    firstBadPosition,
  };
}

async function verifySeals(db: Database, problems: VerifyProblem[]): Promise<number> {
  // Ordered by the column, qualified: a bare seal_no names the text output column, and seal 100
  // would come between seals 10 and 11.
  const seals = await sql<{
    seal_no: string;
    first_position: string;
    last_transaction_id: string;
    last_position: string;
    event_count: number;
    prev_digest: Buffer;
    digest: Buffer;
  }>`SELECT seal_no::text, first_position::text, last_transaction_id::text, last_position::text, event_count,
            prev_digest, digest FROM es_seals ORDER BY es_seals.seal_no`.execute(db);
  let prevDigest: Buffer = Buffer.alloc(32);
  let prevEnd = { transactionId: '0', position: '0' };
  for (const seal of seals.rows) {
    if (!seal.prev_digest.equals(prevDigest)) {
      problems.push({
        position: seal.first_position,
        kind: 'seal_chain_broken',
        detail: `seal ${seal.seal_no} does not chain from the seal before it`,
      });
    }
    // Recomputed over everything after the previous seal up to this one's end, so a
    // removed, added or reordered event anywhere in the range changes the result.
    const recomputed = await sql<{ event_count: number; digest: Buffer | null; first_position: string | null }>`
      SELECT count(*)::int AS event_count,
             sha256(${seal.prev_digest} || string_agg(hash, ''::bytea ORDER BY transaction_id, position)) AS digest,
             (array_agg(position ORDER BY transaction_id, position))[1]::text AS first_position
      FROM es_events
      WHERE (transaction_id, position) > (${prevEnd.transactionId}::xid8, ${prevEnd.position}::bigint)
        AND (transaction_id, position) <= (${seal.last_transaction_id}::xid8, ${seal.last_position}::bigint)`.execute(db);
    const r = recomputed.rows[0];
    if (r.event_count !== seal.event_count || !r.digest || !r.digest.equals(seal.digest)) {
      problems.push({
        position: r.first_position ?? seal.first_position,
        kind: 'seal_mismatch',
        detail: `seal ${seal.seal_no} (positions ${seal.first_position}..${seal.last_position}): ${seal.event_count} events sealed, ${r.event_count} found, digest ${r.digest?.equals(seal.digest) ? 'matches' : 'differs'}`,
      });
    }
    prevDigest = seal.digest;
    prevEnd = { transactionId: seal.last_transaction_id, position: seal.last_position };
  }
  return seals.rows.length;
}
