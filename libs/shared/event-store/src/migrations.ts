import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

/** Hash of a stream's "event 0": the genesis every chain starts from. */
export const GENESIS_HASH_SQL = `'\\x${'00'.repeat(32)}'::bytea`;

/**
 * The event store's schema. The append path is one PL/pgSQL function so that an
 * append (or a whole group-committed batch of appends) costs one round trip; it
 * locks only the rows of the streams it writes, never the whole table.
 */
export const eventStoreMigrations: Record<string, Migration> = {
  '2026-11-22T0001-event-store': {
    async up(db: Kysely<any>) {
      await sql`
        CREATE SEQUENCE es_position_seq AS bigint;

        CREATE TABLE es_events (
          position        bigint PRIMARY KEY,
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
          CONSTRAINT es_events_event_id_key UNIQUE (event_id),
          CONSTRAINT es_events_stream_version_key UNIQUE (stream_id, stream_version)
        );
        -- The global order readers follow: by writing transaction, then position.
        CREATE INDEX es_events_global_order ON es_events (transaction_id, position);

        CREATE TABLE es_streams (
          stream_id  text PRIMARY KEY,
          version    integer NOT NULL,
          last_hash  bytea NOT NULL
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

      // One definition of an event's hash, used by the append path and by verify.
      await sql`
        CREATE FUNCTION es_event_hash(
          prev bytea, p_position bigint, p_transaction_id xid8, p_stream_id text, p_version integer,
          p_event_id uuid, p_type text, p_schema_version integer, p_data jsonb, p_metadata jsonb,
          p_occurred_at timestamptz
        ) RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
          SELECT sha256(prev || convert_to(concat_ws(E'\\x1f',
            p_position::text, p_transaction_id::text, p_stream_id, p_version::text, p_event_id::text,
            p_type, p_schema_version::text, p_data::text, p_metadata::text,
            (extract(epoch FROM p_occurred_at) * 1000000)::bigint::text), 'UTF8'))
        $$;
      `.execute(db);

      await sql
        .raw(
          `
        CREATE FUNCTION es_append(p_requests jsonb)
        RETURNS TABLE (request_index integer, outcome text, stream_version integer,
                       positions bigint[], transaction_id xid8)
        LANGUAGE plpgsql AS $$
        DECLARE
          v_txid xid8 := pg_current_xact_id();
          v_index integer := 0;
          r jsonb;
          e jsonb;
          v_stream text;
          v_ids uuid[];
          v_existing bigint[];
          v_existing_txids xid8[];
          v_existing_count integer;
          v_same_stream boolean;
          v_existing_version integer;
          v_version integer;
          v_hash bytea;
          v_expected integer;
          v_pos bigint;
          v_positions bigint[];
        BEGIN
          FOR r IN SELECT value FROM jsonb_array_elements(p_requests) LOOP
            v_stream := r->>'stream_id';
            SELECT array_agg((x->>'event_id')::uuid) INTO v_ids FROM jsonb_array_elements(r->'events') x;

            -- Idempotency: the same event ids again are a no-op answered with the original positions.
            SELECT array_agg(ev.position ORDER BY ev.stream_version), array_agg(ev.transaction_id ORDER BY ev.stream_version),
                   count(*), bool_and(ev.stream_id = v_stream), max(ev.stream_version)
              INTO v_existing, v_existing_txids, v_existing_count, v_same_stream, v_existing_version
              FROM es_events ev WHERE ev.event_id = ANY (v_ids);
            IF v_existing_count > 0 THEN
              IF v_existing_count = cardinality(v_ids) AND v_same_stream THEN
                RETURN QUERY SELECT v_index, 'duplicate'::text, v_existing_version, v_existing, v_existing_txids[1];
              ELSE
                RETURN QUERY SELECT v_index, 'event_id_reused'::text, NULL::integer, v_existing, NULL::xid8;
              END IF;
              v_index := v_index + 1;
              CONTINUE;
            END IF;

            -- Lock this stream's row (creating it if new); this is the only lock an append takes.
            SELECT s.version, s.last_hash INTO v_version, v_hash FROM es_streams s WHERE s.stream_id = v_stream FOR UPDATE;
            IF NOT FOUND THEN
              INSERT INTO es_streams (stream_id, version, last_hash) VALUES (v_stream, 0, ${GENESIS_HASH_SQL})
                ON CONFLICT (stream_id) DO NOTHING;
              SELECT s.version, s.last_hash INTO v_version, v_hash FROM es_streams s WHERE s.stream_id = v_stream FOR UPDATE;
            END IF;

            v_expected := (r->>'expected_version')::integer;
            IF v_expected IS NOT NULL AND v_expected <> v_version THEN
              RETURN QUERY SELECT v_index, 'conflict'::text, v_version, NULL::bigint[], NULL::xid8;
              v_index := v_index + 1;
              CONTINUE;
            END IF;

            v_positions := '{}';
            FOR e IN SELECT value FROM jsonb_array_elements(r->'events') LOOP
              v_pos := nextval('es_position_seq');
              v_version := v_version + 1;
              v_hash := es_event_hash(v_hash, v_pos, v_txid, v_stream, v_version, (e->>'event_id')::uuid,
                e->>'type', (e->>'schema_version')::integer, e->'data', e->'metadata', (e->>'occurred_at')::timestamptz);
              INSERT INTO es_events (position, transaction_id, stream_id, stream_version, event_id, type,
                                     schema_version, tenant_id, data, metadata, occurred_at, hash)
              VALUES (v_pos, v_txid, v_stream, v_version, (e->>'event_id')::uuid, e->>'type',
                      (e->>'schema_version')::integer, e->'metadata'->>'tenantId', e->'data', e->'metadata',
                      (e->>'occurred_at')::timestamptz, v_hash);
              v_positions := v_positions || v_pos;
            END LOOP;
            UPDATE es_streams SET version = v_version, last_hash = v_hash WHERE es_streams.stream_id = v_stream;

            RETURN QUERY SELECT v_index, 'appended'::text, v_version, v_positions, v_txid;
            v_index := v_index + 1;
          END LOOP;
        END $$;
      `,
        )
        .execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`
        DROP FUNCTION IF EXISTS es_append(jsonb);
        DROP FUNCTION IF EXISTS es_event_hash(bytea, bigint, xid8, text, integer, uuid, text, integer, jsonb, jsonb, timestamptz);
        DROP TABLE IF EXISTS es_seals, es_streams, es_events;
        DROP FUNCTION IF EXISTS es_refuse_change();
        DROP SEQUENCE IF EXISTS es_position_seq;
      `.execute(db);
    },
  },
};
