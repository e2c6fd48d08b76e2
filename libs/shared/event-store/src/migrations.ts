import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

/** Hash of a stream's "event 0": the genesis every chain starts from. */
export const GENESIS_HASH_SQL = `'\\x${'00'.repeat(32)}'::bytea`;

/** How an event's data and metadata are stored: jsonb at first, json (JSON text, stored as given) since 2026-11-30. */
type PayloadType = 'jsonb' | 'json';

/**
 * One definition of an event's hash, used by the append path and by verify. STABLE, as its
 * body (concat_ws, convert_to) is: declared IMMUTABLE it would not be inlined, and every
 * statement calling it would pay to set up a SQL-function call.
 */
const eventHashFunction = (type: PayloadType) => `
        CREATE FUNCTION es_event_hash(
          prev bytea, p_position bigint, p_transaction_id xid8, p_stream_id text, p_version integer,
          p_event_id uuid, p_type text, p_schema_version integer, p_data ${type}, p_metadata ${type},
          p_occurred_at timestamptz
        ) RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE AS $$
          SELECT sha256(prev || convert_to(concat_ws(E'\\x1f',
            p_position::text, p_transaction_id::text, p_stream_id, p_version::text, p_event_id::text,
            p_type, p_schema_version::text, p_data::text, p_metadata::text,
            (extract(epoch FROM p_occurred_at) * 1000000)::bigint::text), 'UTF8'))
        $$;
      `;

/**
 * es_append(requests jsonb): a group-committed batch of appends in one call. Each event's
 * data and metadata are taken from the request and stored (and hashed) as `type`. With
 * `shared`, a request may carry `metadata` and `occurred_at` once for all its events (an
 * event's own still wins): converted once per request instead of once per event.
 */
function appendFunction(type: PayloadType, shared = false): string {
  const cast = type === 'jsonb' ? '' : `::${type}`;
  const metadataOf = shared ? `CASE WHEN e ? 'metadata' THEN (e->'metadata')${cast} ELSE v_metadata END` : `(e->'metadata')${cast}`;
  const atOf = shared ? `coalesce((e->>'occurred_at')::timestamptz, v_at)` : `(e->>'occurred_at')::timestamptz`;
  return `
        CREATE ${shared ? 'OR REPLACE ' : ''}FUNCTION es_append(p_requests jsonb)
        RETURNS TABLE (request_index integer, outcome text, stream_version integer,
                       positions text, transaction_id xid8)
        LANGUAGE plpgsql AS $$
        DECLARE
          v_txid xid8 := pg_current_xact_id();${shared ? `
          v_metadata ${type};
          v_at timestamptz;` : ''}
          n integer := jsonb_array_length(p_requests);
          i integer;
          k integer;
          r jsonb;
          evs jsonb;
          e jsonb;
          v_stream text;
          v_head integer;
          v_version integer;
          v_hash bytea;
          v_expected integer;
          v_pos bigint;
          v_positions text;
          v_next integer := 1;
          v_ids uuid[];
          v_existing text;
          v_existing_txid xid8;
          v_existing_count integer;
          v_same_stream boolean;
          v_existing_version integer;
          h_stream text[];
          h_version integer[];
          h_hash bytea[];
          all_pos bigint[];
          o_outcome text[] := '{}';
          o_version integer[] := '{}';
          o_positions text[] := '{}';
          o_txid xid8[] := '{}';
          a_pos bigint[] := '{}';
          a_stream text[] := '{}';
          a_version integer[] := '{}';
          a_id uuid[] := '{}';
          a_type text[] := '{}';
          a_schema_version integer[] := '{}';
          a_data ${type}[] := '{}';
          a_metadata ${type}[] := '{}';
          a_at timestamptz[] := '{}';
          a_hash bytea[] := '{}';
        BEGIN
          -- One writer per stream at a time: transaction-scoped advisory locks keyed by the
          -- stream ids (no row is written for them), always taken in the same order.
          SELECT array_agg(s ORDER BY s) INTO h_stream
            FROM (SELECT DISTINCT x->>'stream_id' AS s FROM jsonb_array_elements(p_requests) x) d;
          PERFORM pg_advisory_xact_lock(hashtextextended(s, 0)) FROM unnest(h_stream) WITH ORDINALITY AS t(s, o) ORDER BY o;

          -- Under the locks (a new statement, so a new snapshot): each stream's last version and hash.
          SELECT array_agg(coalesce(l.stream_version, 0) ORDER BY t.o), array_agg(coalesce(l.hash, ${GENESIS_HASH_SQL}) ORDER BY t.o)
            INTO h_version, h_hash
            FROM unnest(h_stream) WITH ORDINALITY AS t(s, o)
            LEFT JOIN LATERAL (SELECT ev.stream_version, ev.hash FROM es_events ev WHERE ev.stream_id = t.s
                               ORDER BY ev.stream_version DESC LIMIT 1) l ON true;

          SELECT array_agg(nextval('es_position_seq')) INTO all_pos
            FROM generate_series(1, (SELECT sum(jsonb_array_length(x->'events'))::integer FROM jsonb_array_elements(p_requests) x));

          FOR i IN 0 .. n - 1 LOOP
            r := p_requests->i;
            v_stream := r->>'stream_id';
            evs := r->'events';${shared ? `
            v_metadata := (r->'metadata')${cast};
            v_at := (r->>'occurred_at')::timestamptz;` : ''}

            -- Idempotency, for caller-chosen ids: the same event ids again are a no-op
            -- answered with the original positions. (Ids the store generated cannot repeat.)
            IF (r->>'check_ids')::boolean THEN
              SELECT array_agg((x->>'event_id')::uuid) INTO v_ids FROM jsonb_array_elements(evs) x;
              SELECT string_agg(ev.position::text, ',' ORDER BY ev.stream_version), (array_agg(ev.transaction_id))[1],
                     count(*), bool_and(ev.stream_id = v_stream), max(ev.stream_version)
                INTO v_existing, v_existing_txid, v_existing_count, v_same_stream, v_existing_version
                FROM es_events ev WHERE ev.event_id = ANY (v_ids);
              IF v_existing_count > 0 THEN
                o_outcome := o_outcome || CASE WHEN v_existing_count = cardinality(v_ids) AND v_same_stream THEN 'duplicate' ELSE 'event_id_reused' END;
                o_version := o_version || v_existing_version;
                o_positions := o_positions || v_existing;
                o_txid := o_txid || v_existing_txid;
                CONTINUE;
              END IF;
            END IF;

            v_head := array_position(h_stream, v_stream);
            v_version := h_version[v_head];
            v_hash := h_hash[v_head];
            v_expected := (r->>'expected_version')::integer;
            IF v_expected IS NOT NULL AND v_expected <> v_version THEN
              o_outcome := o_outcome || 'conflict'::text;
              o_version := o_version || v_version;
              o_positions := o_positions || NULL::text;
              o_txid := o_txid || NULL::xid8;
              CONTINUE;
            END IF;

            v_positions := NULL;
            FOR k IN 0 .. jsonb_array_length(evs) - 1 LOOP
              e := evs->k;
              v_pos := all_pos[v_next];
              v_next := v_next + 1;
              v_version := v_version + 1;
              a_pos := a_pos || v_pos;
              a_stream := a_stream || v_stream;
              a_version := a_version || v_version;
              a_id := a_id || (e->>'event_id')::uuid;
              a_type := a_type || (e->>'type');
              a_schema_version := a_schema_version || (e->>'schema_version')::integer;
              a_data := a_data || (e->'data')${cast};
              a_metadata := a_metadata || ${metadataOf};
              a_at := a_at || ${atOf};
              v_hash := es_event_hash(v_hash, v_pos, v_txid, v_stream, v_version, a_id[cardinality(a_id)],
                a_type[cardinality(a_type)], a_schema_version[cardinality(a_schema_version)],
                a_data[cardinality(a_data)], a_metadata[cardinality(a_metadata)], a_at[cardinality(a_at)]);
              a_hash := a_hash || v_hash;
              v_positions := CASE WHEN v_positions IS NULL THEN v_pos::text ELSE v_positions || ',' || v_pos::text END;
            END LOOP;
            h_version[v_head] := v_version;
            h_hash[v_head] := v_hash;
            o_outcome := o_outcome || 'appended'::text;
            o_version := o_version || v_version;
            o_positions := o_positions || v_positions;
            o_txid := o_txid || v_txid;
          END LOOP;

          -- Every event of the batch in one statement.
          INSERT INTO es_events (position, transaction_id, stream_id, stream_version, event_id, type,
                                 schema_version, tenant_id, data, metadata, occurred_at, hash)
          SELECT u.pos, v_txid, u.stream, u.version, u.id, u.type, u.schema_version, u.metadata->>'tenantId',
                 u.data, u.metadata, u.at, u.hash
          FROM unnest(a_pos, a_stream, a_version, a_id, a_type, a_schema_version, a_data, a_metadata, a_at, a_hash)
               AS u(pos, stream, version, id, type, schema_version, data, metadata, at, hash);

          RETURN QUERY SELECT (t.o - 1)::integer, t.outcome, t.version, t.positions, t.txid
            FROM unnest(o_outcome, o_version, o_positions, o_txid) WITH ORDINALITY AS t(outcome, version, positions, txid, o);
        END $$;
      `;
}

/**
 * The event store's schema. The append path is one PL/pgSQL function so that an
 * append (or a whole group-committed batch of appends) costs one round trip and one
 * INSERT; it serialises writers per stream (an advisory transaction lock keyed by the
 * stream id), never across the whole table.
 */
export const eventStoreMigrations: Record<string, Migration> = {
  '2026-11-22T0001-event-store': {
    async up(db: Kysely<any>) {
      await sql`
        CREATE SEQUENCE es_position_seq AS bigint;

        CREATE TABLE es_events (
          position        bigint NOT NULL,
          transaction_id  xid8 NOT NULL,
          stream_id       text NOT NULL,
          stream_version  integer NOT NULL,
          event_id        uuid NOT NULL,
          type            text NOT NULL,
          schema_version  integer NOT NULL,
          tenant_id       text,
          data            jsonb NOT NULL,
          metadata        jsonb NOT NULL,
          occurred_at     timestamptz NOT NULL,
          recorded_at     timestamptz NOT NULL DEFAULT now(),
          hash            bytea NOT NULL,
          -- The global order readers follow: by writing transaction, then position. Positions
          -- come from a sequence and are unique on their own; they need no index of their own.
          CONSTRAINT es_events_pkey PRIMARY KEY (transaction_id, position),
          CONSTRAINT es_events_event_id_key UNIQUE (event_id),
          CONSTRAINT es_events_stream_version_key UNIQUE (stream_id, stream_version)
        );

        CREATE TABLE es_seals (
          seal_no               bigint PRIMARY KEY,
          first_transaction_id  xid8 NOT NULL,
          first_position        bigint NOT NULL,
          last_transaction_id   xid8 NOT NULL,
          last_position         bigint NOT NULL,
          event_count           integer NOT NULL,
          prev_digest           bytea NOT NULL,
          digest                bytea NOT NULL,
          sealed_at             timestamptz NOT NULL DEFAULT now()
        );

        -- Events are never updated or deleted; corrections are new events.
        CREATE FUNCTION es_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'es_events and es_seals are append-only (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
        END $$;
        CREATE TRIGGER es_events_append_only BEFORE UPDATE OR DELETE ON es_events
          FOR EACH ROW EXECUTE FUNCTION es_refuse_change();
        CREATE TRIGGER es_events_no_truncate BEFORE TRUNCATE ON es_events
          FOR EACH STATEMENT EXECUTE FUNCTION es_refuse_change();
        CREATE TRIGGER es_seals_append_only BEFORE UPDATE OR DELETE ON es_seals
          FOR EACH ROW EXECUTE FUNCTION es_refuse_change();
      `.execute(db);

      await sql.raw(eventHashFunction('jsonb')).execute(db);

      await sql.raw(appendFunction('jsonb')).execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`
        DROP FUNCTION IF EXISTS es_append(jsonb);
        DROP FUNCTION IF EXISTS es_event_hash(bytea, bigint, xid8, text, integer, uuid, text, integer, jsonb, jsonb, timestamptz);
        DROP TABLE IF EXISTS es_seals, es_events;
        DROP FUNCTION IF EXISTS es_refuse_change();
        DROP SEQUENCE IF EXISTS es_position_seq;
      `.execute(db);
    },
  },
  '2026-11-29T2300-event-store-append-lookups': {
    async up(db: Kysely<any>) {
      // es_append's lookups (a stream's head, caller-chosen event ids) are by unique keys. A
      // session plans them once and keeps the plan; planned while es_events was small, that plan
      // was a sequential scan, and it stayed one as the table grew (until the next ANALYZE).
      await sql`ALTER FUNCTION es_append(jsonb) SET enable_seqscan = off`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`ALTER FUNCTION es_append(jsonb) RESET enable_seqscan`.execute(db);
    },
  },
  '2026-11-30T0800-event-store-json-payloads': {
    async up(db: Kysely<any>) {
      // An event's data and metadata are kept as JSON text (json, not jsonb): the store never
      // looks inside them, so jsonb's binary form gains nothing, and a read then sends the stored
      // text as it is instead of rebuilding it (a third of the time of reading a 10,000-event
      // stream, measured). The one-statement appends store the text their writer sent; es_append
      // stores jsonb's text of it. Either way the hash covers the very text stored. Stored hashes
      // stay valid: they were computed over jsonb's text, which is what the json columns hold
      // after the conversion. The rewrite locks es_events while it runs, and processes that
      // prepared statements before it must restart (their results change type).
      await payloadsAs(db, 'json');
    },
    async down(db: Kysely<any>) {
      await payloadsAs(db, 'jsonb');
    },
  },
  '2026-11-30T1600-event-store-statistics-once-grown': {
    async up(db: Kysely<any>) {
      // The store's hot statements are prepared per connection and planned once, from the
      // table's statistics. While es_events has never been analyzed, PostgreSQL takes it for at
      // least 10 pages and plans index lookups; analyzed when it held a few dozen events (which
      // autovacuum does after 50 changed rows), it is taken for one page, the stream-head lookup
      // is planned as a sequential scan, and every connection keeps that plan until the next
      // ANALYZE while the table grows: 7–12 ms per 10-event append after 50,000 events instead
      // of 1.3 ms (measured). Statistics wait for 1,000 changed rows, when no plan prefers a scan.
      await sql`ALTER TABLE es_events SET (autovacuum_analyze_threshold = 1000)`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`ALTER TABLE es_events RESET (autovacuum_analyze_threshold)`.execute(db);
    },
  },
  '2026-11-30T1900-event-store-append-shared-metadata': {
    async up(db: Kysely<any>) {
      // The events of one append usually share their metadata and time (one decision's):
      // sent once per request, the batch's JSON is smaller and es_append converts them once
      // per request, not per event (16% less per batch of 16 ten-event appends, measured).
      await sql.raw(appendFunction('json', true)).execute(db);
      await sql`ALTER FUNCTION es_append(jsonb) SET enable_seqscan = off`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql.raw(appendFunction('json').replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION')).execute(db);
      await sql`ALTER FUNCTION es_append(jsonb) SET enable_seqscan = off`.execute(db);
    },
  },
};

/** Stores events' data and metadata as `type`, with es_event_hash and es_append to match. */
async function payloadsAs(db: Kysely<any>, type: PayloadType): Promise<void> {
  const other = type === 'json' ? 'jsonb' : 'json';
  await sql
    .raw(`ALTER TABLE es_events ALTER COLUMN data TYPE ${type} USING data::${type}, ALTER COLUMN metadata TYPE ${type} USING metadata::${type}`)
    .execute(db);
  await sql.raw(eventHashFunction(type)).execute(db);
  await sql`DROP FUNCTION es_append(jsonb)`.execute(db);
  await sql.raw(appendFunction(type)).execute(db);
  await sql`ALTER FUNCTION es_append(jsonb) SET enable_seqscan = off`.execute(db);
  await sql.raw(`DROP FUNCTION es_event_hash(bytea, bigint, xid8, text, integer, uuid, text, integer, ${other}, ${other}, timestamptz)`).execute(db);
}
