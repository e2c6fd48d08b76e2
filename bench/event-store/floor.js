// What PostgreSQL itself allows on this machine for appends where one client waits on each
// call (so no store can batch them): the same event rows in a table with the same columns and
// the same three indexes (global order, event id, stream version), written by plain INSERTs in
// autocommit. No version check, no hash chain: the least any event store with this durability
// and these lookups must pay. Runs in its own process, taking turns with the two stores.
const { Pool } = require('pg');
const { freshDatabase, commonScenarios, serve } = require('./common');

const SCENARIOS = ['sequential', 'batch1'];

async function open() {
  const database = await freshDatabase('floor');
  // Without an idle timeout, as Volt's pools: pg-pool's timer per release is client CPU, not PostgreSQL's.
  const pool = new Pool({ connectionString: database.url, max: 20, idleTimeoutMillis: 0, options: '-c plan_cache_mode=force_generic_plan -c jit=off' });
  // Dropping the database at the end can still find a connection closing; its error is no failure.
  pool.on('error', () => undefined);
  await pool.query(`
    CREATE TABLE floor_events (
      position bigint GENERATED ALWAYS AS IDENTITY, transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
      stream_id text NOT NULL, stream_version integer NOT NULL, event_id uuid NOT NULL DEFAULT gen_random_uuid(),
      type text NOT NULL, data jsonb NOT NULL, metadata jsonb NOT NULL, occurred_at timestamptz NOT NULL,
      PRIMARY KEY (transaction_id, position), UNIQUE (event_id), UNIQUE (stream_id, stream_version))`);
  const metadata = JSON.stringify({ tenantId: 'org_bench', correlationId: 'bench', causationId: null, actor: { type: 'system', id: 'bench' } });
  const store = {
    async append(stream, events, expected) {
      const at = new Date().toISOString();
      await pool.query({
        name: 'floor_append',
        text: `INSERT INTO floor_events (stream_id, stream_version, type, data, metadata, occurred_at)
               SELECT $1, $2 + u.k, u.type, u.data, $5::jsonb, $6 FROM unnest($3::text[], $4::jsonb[]) WITH ORDINALITY AS u(type, data, k)`,
        values: [stream, expected, events.map((e) => e.type), events.map((e) => JSON.stringify(e.data)), metadata, at],
      });
    },
  };
  const only = process.env.BENCH_SCENARIOS?.split(',').filter((s) => SCENARIOS.includes(s)) ?? SCENARIOS;
  return {
    scenarios: await commonScenarios(store, only),
    async close() {
      await pool.end();
      await database.drop();
    },
  };
}

serve('floor', open);
