import { GENESIS_HASH_SQL } from './migrations';

/**
 * The head (`version` and `hash`; 0 and the genesis hash for a new stream) of the stream `stream`
 * names, for each row of `from`, with `columns` of that row before them. The last event is
 * looked up LATERAL … LIMIT 1 so that it stays an index scan whatever the table's size was
 * when the statement was planned.
 */
const headOf = (stream: string, from: string, columns = '') => `SELECT ${columns}coalesce(last.stream_version, 0) AS version,
  coalesce(last.hash, ${GENESIS_HASH_SQL}) AS hash
  FROM ${from} LEFT JOIN LATERAL (SELECT ev.stream_version, ev.hash FROM es_events ev WHERE ev.stream_id = ${stream}
  ORDER BY ev.stream_version DESC LIMIT 1) last ON true`;

/**
 * One append as one statement, for when it is the only one in flight. There is no
 * lock: it reads the stream's head, checks the expected version and inserts the
 * chained events; a writer that raced it on the same stream makes it fail on the
 * (stream, version) unique index, which the caller turns into a conflict (or, for
 * an `any` append, a retry). Its events and hashes are exactly those es_append makes.
 * It does not look for the event ids first: an append that repeats stored ids fails on
 * their unique index (or, its version having moved on, inserts nothing), and only then
 * does the caller look them up: the common case needs no lookup (and, planned while the
 * table was small, that lookup was one of two kept as sequential scans; see the migration
 * 2026-11-30T1600). The chain is built from the arrays by index, without joining the events
 * to themselves: 12% less per 10-event append than doing so (measured). It returns the rows it
 * inserted, as APPEND_ONE_EVENT_SQL does its one, and no row when the expected version did not
 * hold (the caller then asks for the stream's version): summing them up in the statement cost 4%
 * more per 10-event append (measured).
 *
 * $1 stream id, $2 expected version (null: any), $3 ids, $4 types, $5 schema versions,
 * $6 data, $7 metadata, $8 occurred-at; when every event has the same metadata or time (the
 * usual: one decision's events), $7 or $8 is null and $9 or $10 the one value, sent once
 * instead of escaped into an array for each event (6% less per 10-event append, measured;
 * the tenant is then read out of it once, not once per event: 1.5% less, measured).
 */
export const APPEND_ONE_SQL = chainedAppend(`(${headOf('$1', '(SELECT 1) one')})`);

/**
 * APPEND_ONE_SQL after a head the caller knows, because it wrote it ($2 its version, $11 its
 * hash): no lookup of the stream's last event (4% less per 10-event append, measured). As with
 * APPEND_NEXT_EVENT_SQL, a stream that has moved on fails the insert on the (stream, version)
 * unique index.
 */
export const APPEND_NEXT_SQL = chainedAppend('(SELECT $2::int AS version, $11::bytea AS hash)');

function chainedAppend(head: string): string {
  return `
WITH RECURSIVE head AS MATERIALIZED ${head}, chain (k, position, version, hash) AS (
  -- Row 0 is the stream's head, there only when the expected version holds; row k is the k-th
  -- event, chained to row k-1 and taking its fields from the k-th element of each array.
  SELECT 0, 0::bigint, h.version, h.hash FROM head h WHERE $2::int IS NULL OR $2::int = h.version
  UNION ALL
  SELECT c.k + 1, p.position, c.version + 1,
         es_event_hash(c.hash, p.position, pg_current_xact_id(), $1, c.version + 1, ($3::uuid[])[c.k + 1], ($4::text[])[c.k + 1],
                       ($5::int[])[c.k + 1], ($6::json[])[c.k + 1], coalesce(($7::json[])[c.k + 1], $9::json), coalesce(($8::timestamptz[])[c.k + 1], $10::timestamptz))
  FROM chain c CROSS JOIN LATERAL (SELECT nextval('es_position_seq') AS position) p
  WHERE c.k < cardinality($3::uuid[])
)
INSERT INTO es_events (position, transaction_id, stream_id, stream_version, event_id, type, schema_version,
                       tenant_id, data, metadata, occurred_at, hash)
SELECT c.position, pg_current_xact_id(), $1, c.version, ($3::uuid[])[c.k], ($4::text[])[c.k], ($5::int[])[c.k],
       CASE WHEN $7::json[] IS NULL THEN (SELECT $9::json->>'tenantId') ELSE ($7::json[])[c.k]->>'tenantId' END,
       ($6::json[])[c.k], coalesce(($7::json[])[c.k], $9::json), coalesce(($8::timestamptz[])[c.k], $10::timestamptz), c.hash
FROM chain c WHERE c.k > 0
RETURNING position::text AS positions, stream_version, transaction_id::text AS transaction_id, hash`;
}

/**
 * The commonest append of all, one event alone, as a plain INSERT … SELECT. Returns no
 * row when the expected version did not hold; an event id already stored fails it on the
 * event-id unique index, as the multi-event statements do (the caller then looks whether it
 * is a repeat). No ON CONFLICT: its speculative insertion cost 2% of the statement
 * (`bench:event-store:statements`). $1 stream, $2 expected version (null: any), $3 id, $4 type,
 * $5 schema version, $6 data, $7 metadata, $8 occurred-at. Returns the event's hash too, so
 * that the next append to the stream can chain to it without looking it up.
 */
export const APPEND_ONE_EVENT_SQL = `
INSERT INTO es_events (position, transaction_id, stream_id, stream_version, event_id, type, schema_version,
                       tenant_id, data, metadata, occurred_at, hash)
SELECT p.position, pg_current_xact_id(), $1, h.version + 1, $3::uuid, $4, $5::int, $7::json->>'tenantId', $6::json,
       $7::json, $8::timestamptz,
       es_event_hash(h.hash, p.position, pg_current_xact_id(), $1, h.version + 1, $3::uuid, $4, $5::int, $6::json,
                     $7::json, $8::timestamptz)
FROM (${headOf('$1', '(SELECT 1) one')}) h,
     LATERAL (SELECT nextval('es_position_seq') AS position) p
WHERE $2::int IS NULL OR h.version = $2::int
RETURNING position::text AS positions, stream_version, transaction_id::text AS transaction_id, hash`;

/**
 * One event after a head the caller knows, because it wrote it ($2 its version, $9 its hash;
 * the rest as APPEND_ONE_EVENT_SQL's): no lookup of the stream's last event. A version and its
 * hash never change once stored, so the chain is right whenever the head still is that version;
 * when it is not, another writer stored version $2 + 1 and the insert fails on the (stream,
 * version) unique index, as it does on the event-id one when the event id is already stored.
 */
export const APPEND_NEXT_EVENT_SQL = `
INSERT INTO es_events (position, transaction_id, stream_id, stream_version, event_id, type, schema_version,
                       tenant_id, data, metadata, occurred_at, hash)
SELECT p.position, pg_current_xact_id(), $1, $2::int + 1, $3::uuid, $4, $5::int, $7::json->>'tenantId', $6::json,
       $7::json, $8::timestamptz,
       es_event_hash($9::bytea, p.position, pg_current_xact_id(), $1, $2::int + 1, $3::uuid, $4, $5::int, $6::json,
                     $7::json, $8::timestamptz)
FROM (SELECT nextval('es_position_seq') AS position) p
RETURNING position::text AS positions, stream_version, transaction_id::text AS transaction_id, hash`;

/**
 * A group-committed batch in which every request appends one event to a stream no other
 * request in it names (the usual batch: concurrent appends to different streams), as one
 * statement over a flat JSON payload (one object per request: its stream, expected version and
 * event's fields), read as json in one pass so that each event's data and metadata are stored as
 * their text in it, unconverted. Without es_append's per-request
 * PL/pgSQL and its locks it costs 10–30% less per batch (measured, 16 and 64 requests); a
 * writer that raced it on a stream makes it fail on the (stream, version) unique index, and
 * the caller then appends each request alone. Its events and hashes are those es_append
 * makes. The event-id lookups are LATERAL … LIMIT 1, as the head's is, so that they stay index
 * scans: a plan made on a small table would otherwise hash-join a sequential scan of es_events
 * and keep doing so.
 */
export const APPEND_EACH_SQL = `
WITH req AS MATERIALIZED (
  SELECT (r.o - 1)::integer AS request_index, r.stream_id, r.expected_version, r.check_ids, r.id, r.type, r.schema_version,
         r.tenant_id, r.data, r.metadata, r.at
  FROM ROWS FROM (json_to_recordset($1::json) AS (stream_id text, expected_version integer, check_ids boolean, id uuid, type text,
                                                  schema_version integer, tenant_id text, data json, metadata json, at timestamptz))
       WITH ORDINALITY AS r(stream_id, expected_version, check_ids, id, type, schema_version, tenant_id, data, metadata, at, o)
), seen AS MATERIALIZED (
  SELECT q.request_index, ev.stream_id, ev.stream_version, ev.position, ev.transaction_id
  FROM req q CROSS JOIN LATERAL (SELECT e.stream_id, e.stream_version, e.position, e.transaction_id FROM es_events e
                                 WHERE q.check_ids AND e.event_id = q.id LIMIT 1) ev
), head AS MATERIALIZED (
  ${headOf('q.stream_id', 'req q', 'q.request_index, ')}
), go AS MATERIALIZED (
  SELECT q.*, h.version + 1 AS version, h.hash AS prev, nextval('es_position_seq') AS position
  FROM req q JOIN head h USING (request_index)
  WHERE NOT EXISTS (SELECT 1 FROM seen s WHERE s.request_index = q.request_index)
    AND (q.expected_version IS NULL OR q.expected_version = h.version)
), inserted AS (
  INSERT INTO es_events (position, transaction_id, stream_id, stream_version, event_id, type, schema_version,
                         tenant_id, data, metadata, occurred_at, hash)
  SELECT g.position, pg_current_xact_id(), g.stream_id, g.version, g.id, g.type, g.schema_version, g.tenant_id,
         g.data, g.metadata, g.at,
         es_event_hash(g.prev, g.position, pg_current_xact_id(), g.stream_id, g.version, g.id, g.type, g.schema_version,
                       g.data, g.metadata, g.at)
  FROM go g
  RETURNING event_id
)
SELECT q.request_index,
       CASE WHEN s.request_index IS NOT NULL THEN CASE WHEN s.stream_id = q.stream_id THEN 'duplicate' ELSE 'event_id_reused' END
            WHEN g.request_index IS NULL THEN 'conflict' ELSE 'appended' END AS outcome,
       coalesce(s.stream_version, g.version, h.version) AS stream_version,
       coalesce(s.position, g.position)::text AS positions,
       (CASE WHEN s.request_index IS NOT NULL THEN s.transaction_id WHEN g.request_index IS NOT NULL THEN pg_current_xact_id() END)::text
         AS transaction_id
FROM req q JOIN head h USING (request_index)
LEFT JOIN seen s USING (request_index)
LEFT JOIN go g USING (request_index)`;

/**
 * A group-committed batch in which each request names a stream no other request in it names,
 * with any number of events (concurrent decisions on different streams), as one statement:
 * APPEND_EACH_SQL's checks for every request at once, and each request's events chained to its
 * stream's head by a recursion over their index within the request. $1 the requests (stream,
 * expected version, whether its ids are the caller's, its number of events, and the tenant,
 * metadata and time its events share unless one carries its own), $2 the events (request index,
 * index within it from 1, fields). Positions are taken request by request, in the events' order.
 * As with APPEND_EACH_SQL, a writer that raced it on a stream makes it fail on the (stream,
 * version) unique index, and the caller then appends each request alone. Its events and hashes
 * are those es_append makes.
 */
export const APPEND_CHAINED_EACH_SQL = `
WITH RECURSIVE req AS MATERIALIZED (
  SELECT (r.o - 1)::integer AS request_index, r.stream_id, r.expected_version, r.check_ids, r.n, r.tenant_id, r.metadata, r.at
  FROM ROWS FROM (json_to_recordset($1::json) AS (stream_id text, expected_version integer, check_ids boolean, n integer, tenant_id text,
                                                  metadata json, at timestamptz))
       WITH ORDINALITY AS r(stream_id, expected_version, check_ids, n, tenant_id, metadata, at, o)
), ev AS MATERIALIZED (
  SELECT e.r AS request_index, e.k, e.id, e.type, e.schema_version, e.tenant_id, e.data, e.metadata, e.at
  FROM json_to_recordset($2::json) AS e(r integer, k integer, id uuid, type text, schema_version integer, tenant_id text, data json,
                                        metadata json, at timestamptz)
), seen AS MATERIALIZED (
  SELECT e.request_index, count(*)::integer AS found, bool_and(x.stream_id = q.stream_id) AS same_stream,
         max(x.stream_version) AS stream_version, string_agg(x.position::text, ',' ORDER BY x.stream_version) AS positions,
         (array_agg(x.transaction_id))[1] AS transaction_id
  FROM ev e JOIN req q USING (request_index)
  CROSS JOIN LATERAL (SELECT x.stream_id, x.stream_version, x.position, x.transaction_id FROM es_events x
                      WHERE q.check_ids AND x.event_id = e.id LIMIT 1) x
  GROUP BY e.request_index
), head AS MATERIALIZED (
  ${headOf('q.stream_id', 'req q', 'q.request_index, ')}
), go AS MATERIALIZED (
  SELECT q.request_index, q.stream_id, q.tenant_id, q.metadata, q.at, h.version, h.hash
  FROM req q JOIN head h USING (request_index)
  WHERE NOT EXISTS (SELECT 1 FROM seen s WHERE s.request_index = q.request_index)
    AND (q.expected_version IS NULL OR q.expected_version = h.version)
), pos AS MATERIALIZED (
  -- Each event as stored, with its position; nextval is evaluated after the sort (a volatile
  -- output is), so positions follow the order.
  SELECT e.request_index, e.k, g.stream_id, e.id, e.type, e.schema_version, coalesce(e.tenant_id, g.tenant_id) AS tenant_id, e.data,
         coalesce(e.metadata, g.metadata) AS metadata, coalesce(e.at, g.at) AS at, nextval('es_position_seq') AS position
  FROM ev e JOIN go g USING (request_index) ORDER BY e.request_index, e.k
), chain (request_index, k, version, hash, position, stream_id, id, type, schema_version, tenant_id, data, metadata, at) AS (
  -- Row k of a request is its k-th event, chained to row k-1 (row 0 is the stream's head) and
  -- carrying every field it is stored with, so that the insert needs no join.
  SELECT g.request_index, 0, g.version, g.hash, NULL::bigint, g.stream_id, NULL::uuid, NULL::text, NULL::integer, NULL::text, NULL::json,
         NULL::json, NULL::timestamptz
  FROM go g
  UNION ALL
  SELECT c.request_index, c.k + 1, c.version + 1,
         es_event_hash(c.hash, p.position, pg_current_xact_id(), c.stream_id, c.version + 1, p.id, p.type, p.schema_version, p.data,
                       p.metadata, p.at),
         p.position, c.stream_id, p.id, p.type, p.schema_version, p.tenant_id, p.data, p.metadata, p.at
  FROM chain c JOIN pos p ON p.request_index = c.request_index AND p.k = c.k + 1
), inserted AS (
  INSERT INTO es_events (position, transaction_id, stream_id, stream_version, event_id, type, schema_version,
                         tenant_id, data, metadata, occurred_at, hash)
  SELECT c.position, pg_current_xact_id(), c.stream_id, c.version, c.id, c.type, c.schema_version, c.tenant_id, c.data, c.metadata, c.at, c.hash
  FROM chain c WHERE c.k > 0
  RETURNING 1
), written AS MATERIALIZED (
  SELECT p.request_index, string_agg(p.position::text, ',' ORDER BY p.k) AS positions FROM pos p GROUP BY p.request_index
)
SELECT q.request_index,
       CASE WHEN s.request_index IS NOT NULL THEN CASE WHEN s.found = q.n AND s.same_stream THEN 'duplicate' ELSE 'event_id_reused' END
            WHEN g.request_index IS NULL THEN 'conflict' ELSE 'appended' END AS outcome,
       coalesce(s.stream_version, g.version + q.n, h.version) AS stream_version,
       coalesce(s.positions, w.positions) AS positions,
       (CASE WHEN s.request_index IS NOT NULL THEN s.transaction_id WHEN g.request_index IS NOT NULL THEN pg_current_xact_id() END)::text
         AS transaction_id
FROM req q JOIN head h USING (request_index)
LEFT JOIN seen s USING (request_index)
LEFT JOIN go g USING (request_index)
LEFT JOIN written w USING (request_index)`;
