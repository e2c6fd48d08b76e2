// Volt's append statement against PostgreSQL's floor, one connection, one caller waiting on each
// call, variants alternating round by round: where an append's time goes, statement by statement.
//   BENCH_BATCH=1|10 (events per append, 1 by default), BENCH_ROUNDS (1,000 by default).
// Variants: floor (floor.js's INSERT into a table like es_events, no checks or chain), bare (the
// same rows into es_events, a constant hash), hashed (bare with each event's real hash, no head
// lookup or checks), statement (the store's own statement, looking the stream's head up, sent
// directly), next (its statement after a head it knows, as the store sends it when it wrote the
// stream's last event), store (EventStore.append). Beside each variant's time it prints the CPU
// time an append takes in this process (the driver, and the store's own work for `store`) and in
// its PostgreSQL backend (from /proc/<pid>/schedstat, read outside the timed call).
const { randomUUID } = require('node:crypto');
const { createDatabase, eventStoreMigrations, migrateToLatest, EventStore, poolOf } = require('@volt/event-store');
const { APPEND_NEXT_EVENT_SQL, APPEND_NEXT_SQL, APPEND_ONE_EVENT_SQL, APPEND_ONE_SQL } = require('../../libs/shared/event-store/dist/append-one.sql.js');
const { freshDatabase } = require('./common');
const { threadCpuMicros } = require('../processes');

const batch = Number(process.env.BENCH_BATCH ?? 1);
const rounds = Number(process.env.BENCH_ROUNDS ?? 1000);
const meta = { tenantId: 'org_bench', correlationId: 'bench', causationId: null, actor: { type: 'system', id: 'bench' } };
const metadata = JSON.stringify(meta);
const payload = (i) => ({ i, amount: 1234, currency: 'USD', note: 'benchmark payload of a typical size' });
const many = (f) => Array.from({ length: batch }, (_, j) => f(j));
/** The hash a stream's first event chains to. */
const GENESIS = Buffer.alloc(32);

async function main() {
  const database = await freshDatabase('statements');
  // One connection for the whole run, so one backend process to read the CPU time of.
  const db = createDatabase(database.url, { max: 1, maxLifetimeSeconds: 0 });
  await migrateToLatest(db, eventStoreMigrations);
  const store = new EventStore(db);
  // Every variant on the store's one connection: alternating between two server processes
  // would leave each one's caches cold for the other's turn.
  const pool = poolOf(db);
  await pool.query(`CREATE TABLE floor_events (
      position bigint GENERATED ALWAYS AS IDENTITY, transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
      stream_id text NOT NULL, stream_version integer NOT NULL, event_id uuid NOT NULL DEFAULT gen_random_uuid(),
      type text NOT NULL, data jsonb NOT NULL, metadata jsonb NOT NULL, occurred_at timestamptz NOT NULL,
      PRIMARY KEY (transaction_id, position), UNIQUE (event_id), UNIQUE (stream_id, stream_version))`);
  const insertInto = (hash) => `INSERT INTO es_events (position, transaction_id, stream_id, stream_version, event_id, type, schema_version, tenant_id, data, metadata, occurred_at, hash)
    SELECT x.pos, pg_current_xact_id(), $1, $2 + x.k, x.id, x.type, 1, 'org_bench', x.data, $5::json, $6, ${hash}
    FROM (SELECT u.*, nextval('es_position_seq') AS pos FROM unnest($3::text[], $4::json[], $7::uuid[]) WITH ORDINALITY AS u(type, data, id, k)) x`;
  const rows = (v) => [many(() => 'BenchEvent'), many((j) => JSON.stringify(payload(v + j))), metadata, new Date().toISOString(), many(() => randomUUID())];
  const variants = {
    floor: (s, v) => pool.query({ name: 'floor', text: `INSERT INTO floor_events (stream_id, stream_version, type, data, metadata, occurred_at)
      SELECT $1, $2 + u.k, u.type, u.data, $5::jsonb, $6 FROM unnest($3::text[], $4::jsonb[]) WITH ORDINALITY AS u(type, data, k)`, values: [s, v, ...rows(v).slice(0, 4)] }),
    bare: (s, v) => pool.query({ name: 'bare', text: insertInto(`'\\x00'::bytea`), values: [s, v, ...rows(v)] }),
    hashed: (s, v) => pool.query({ name: 'hashed', text: insertInto(`es_event_hash('\\x00'::bytea, x.pos, pg_current_xact_id(), $1, ($2 + x.k)::int, x.id, x.type, 1, x.data, $5::json, $6::timestamptz)`), values: [s, v, ...rows(v)] }),
    statement: (s, v) =>
      batch === 1
        ? pool.query({ name: 'statement', text: APPEND_ONE_EVENT_SQL, values: [s, v, randomUUID(), 'BenchEvent', 1, JSON.stringify(payload(v)), metadata, new Date().toISOString()] })
        : pool.query({ name: 'statement', text: APPEND_ONE_SQL, values: [s, v, many(() => randomUUID()), many(() => 'BenchEvent'), many(() => 1), many((j) => JSON.stringify(payload(v + j))), null, null, metadata, new Date().toISOString()] }),
    next: (s, v) =>
      batch === 1
        ? pool.query({ name: 'next', text: APPEND_NEXT_EVENT_SQL, values: [s, v, randomUUID(), 'BenchEvent', 1, JSON.stringify(payload(v)), metadata, new Date().toISOString(), heads.get(s) ?? GENESIS] })
        : pool.query({ name: 'next', text: APPEND_NEXT_SQL, values: [s, v, many(() => randomUUID()), many(() => 'BenchEvent'), many(() => 1), many((j) => JSON.stringify(payload(v + j))), null, null, metadata, new Date().toISOString(), heads.get(s) ?? GENESIS] }),
    store: (s, v) => store.append(s, many((j) => ({ type: 'BenchEvent', data: payload(v + j), metadata: meta, occurredAt: new Date().toISOString() })), { expectedVersion: v }),
  };
  const backend = (await pool.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  const serverMicros = () => threadCpuMicros(backend);
  const heads = new Map();
  const times = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  const cpu = Object.fromEntries(Object.keys(variants).map((k) => [k, { client: 0, server: 0 }]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, append] of Object.entries(variants)) {
      const server0 = serverMicros();
      const client0 = process.cpuUsage();
      const started = performance.now();
      const result = await append(`${name}-stream`, r * batch);
      const elapsed = performance.now() - started;
      const client = process.cpuUsage(client0);
      cpu[name].client += client.user + client.system;
      cpu[name].server += serverMicros() - server0;
      // The head the next call of `next` chains to: its last row's hash.
      if (name === 'next') heads.set(`${name}-stream`, result.rows[result.rows.length - 1].hash);
      times[name].push(elapsed);
    }
  }
  console.log(`${batch}-event appends, one connection, ${rounds} alternating rounds (ms per append; CPU µs per append, mean)`);
  const floor = median(times.floor);
  for (const [name, t] of Object.entries(times)) {
    const { client, server } = cpu[name];
    console.log(`${name.padEnd(10)} median ${median(t).toFixed(3)}  (${(median(t) / floor).toFixed(2)}× the floor)  CPU here ${(client / rounds).toFixed(1)}, in PostgreSQL ${(server / rounds).toFixed(1)}`);
  }
  await db.destroy();
  await database.drop();
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
