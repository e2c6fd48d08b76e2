// Volt's event store under the common scenarios, plus what only Volt has here:
// projection catch-up, read-your-writes latency and outbox-relay lag at the 64-stream rate.
const { randomBytes } = require('node:crypto');
const { sql } = require('kysely');
const { createDatabase, EventStore, eventStoreMigrations, migrateToLatest, checkpointOf, uuidFromName } = require('@volt/event-store');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { messagingMigrations, connectNats, ensureStreams, messagingNames } = require('@volt/messaging');
const { projectionMigrations, ProjectionRunner, rowsByKey } = require('@volt/projections');
const { jetstreamManager } = require('@nats-io/jetstream');
const { freshDatabase, commonScenarios, serve, appendLoad, percentile, n } = require('./common');

const RELAY_PROCESS = path.resolve(__dirname, '../../test/fixtures/relay-process.js');

const metadata = { tenantId: 'org_bench', correlationId: 'bench', causationId: null, actor: { type: 'system', id: 'bench' } };

function adapter(store) {
  return {
    async append(stream, events, expected) {
      await store.append(
        stream,
        events.map((e) => ({ ...(e.id ? { id: e.id } : {}), type: e.type, data: e.data, metadata, occurredAt: new Date().toISOString() })),
        { expectedVersion: expected === null ? 'any' : expected },
      );
    },
    async readStream(stream) {
      return (await store.readStream(stream)).length;
    },
    startCursor: () => ({ transactionId: '0', position: '0' }),
    async readAllBatch(after, batchSize) {
      const events = await store.readAll(after, batchSize);
      return { ids: events.map((e) => e.id), count: events.length, next: events.length ? checkpointOf(events[events.length - 1]) : after };
    },
  };
}

/** A read model of the usual kind: per stream, a count and a running total, written in bulk. */
const totals = {
  name: 'bench.totals',
  handles: ['BenchEvent'],
  tables: ['bench_totals'],
  async apply(trx, events) {
    const byStream = new Map();
    for (const e of events) {
      const row = byStream.get(e.streamId) ?? { count: 0, amount: 0 };
      row.count++;
      row.amount += e.data.amount;
      byStream.set(e.streamId, row);
    }
    const ids = [...byStream.keys()];
    await sql`INSERT INTO bench_totals (stream_id, count, amount)
      SELECT * FROM unnest(${ids}::text[], ${ids.map((id) => byStream.get(id).count)}::int[], ${ids.map((id) => byStream.get(id).amount)}::bigint[])
      ON CONFLICT (stream_id) DO UPDATE SET count = bench_totals.count + EXCLUDED.count, amount = bench_totals.amount + EXCLUDED.amount`.execute(trx);
  },
};

async function projectionCatchUp(db, store) {
  await sql`CREATE TABLE bench_totals (stream_id text PRIMARY KEY, count int NOT NULL, amount bigint NOT NULL)`.execute(db);
  const runner = new ProjectionRunner(db, store, [totals], { batchSize: 5000 });
  const started = performance.now();
  const events = await runner.catchUp();
  return { events, perSecond: events / ((performance.now() - started) / 1000) };
}

/** A read model of one row per stream, as a pod's is: folded in memory, one statement per batch. */
const counts = rowsByKey({
  name: 'bench.counts',
  table: 'bench_counts',
  key: 'stream_id',
  columns: { stream_id: 'text', count: 'integer', amount: 'bigint' },
  keyOf: (e) => e.streamId,
  handlers: { Ticked: (row, e) => ({ stream_id: e.streamId, count: (row?.count ?? 0) + 1, amount: (row?.amount ?? 0) + e.data.amount }) },
});

/**
 * What a command's reply waits for: one append at a time (to one of 50 streams), each followed
 * by waiting until the read model has applied it; the latency of the two together.
 */
async function readYourWrites(db, store) {
  await sql`CREATE TABLE bench_counts (stream_id text PRIMARY KEY, count int NOT NULL, amount bigint NOT NULL)`.execute(db);
  const runner = new ProjectionRunner(db, store, [counts]);
  store.onAppended(() => runner.nudge());
  runner.start();
  await runner.waitForHead(600_000);
  const latencies = [];
  for (let i = 0; i < n(1500); i++) {
    const started = performance.now();
    const appended = await store.append(`ryw-${i % 50}`, [{ type: 'Ticked', data: { amount: 1 }, metadata, occurredAt: new Date().toISOString() }], { expectedVersion: 'any' });
    await runner.waitFor({ transactionId: appended.transactionId, position: appended.positions[0] });
    latencies.push(performance.now() - started);
  }
  await runner.stop();
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/**
 * Appends at the 64-stream rate while an outbox relay, in a process of its own as in
 * production, publishes; lag = when a subscriber receives the event − when its append committed.
 */
async function relayLag(databaseUrl, store) {
  const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
  const nc = await connectNats(natsUrl, 'bench-relay');
  const prefix = `bench${randomBytes(4).toString('hex')}`;
  const names = messagingNames(prefix);
  await ensureStreams(nc, names, { storage: 'file' });
  const committed = new Map();
  const received = new Map();
  const sub = nc.subscribe(`${prefix}.volt.evt.>`, {
    callback: (_err, msg) => received.set(msg.headers?.get('Volt-Event-Id'), performance.now()),
  });
  const relay = spawn(process.execPath, [RELAY_PROCESS, databaseUrl, natsUrl, prefix], { stdio: 'ignore' });
  // Let it catch up with everything already in the store before the timed load.
  const before = Number((await sql`SELECT count(*)::int AS n FROM es_events`.execute(store.db)).rows[0].n);
  while (received.size < before) await new Promise((r) => setTimeout(r, 50));
  received.clear();
  const timed = {
    async append(stream, events, expected) {
      const withIds = events.map((e, i) => ({ id: uuidFromName(`${stream}:${expected + i}`), type: e.type, data: e.data, metadata, occurredAt: new Date().toISOString() }));
      await store.append(stream, withIds, { expectedVersion: expected });
      const now = performance.now();
      for (const e of withIds) committed.set(e.id, now);
    },
  };
  const load = await appendLoad(timed, { prefix: `lag${randomBytes(3).toString('hex')}`, streams: 64, perStream: n(150), batch: 1 });
  const deadline = Date.now() + 30_000;
  while ([...committed.keys()].some((id) => !received.has(id)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  relay.kill('SIGTERM');
  sub.unsubscribe();
  const lags = [...committed].filter(([id]) => received.has(id)).map(([id, at]) => received.get(id) - at).sort((a, b) => a - b);
  const jsm = await jetstreamManager(nc);
  for (const s of [names.commandStream, names.eventStream]) await jsm.streams.delete(s).catch(() => undefined);
  await nc.close();
  return { appendsPerSecond: load.perSecond, published: lags.length, expected: committed.size, p50: percentile(lags, 50), p99: percentile(lags, 99), max: lags[lags.length - 1] ?? 0 };
}

async function open() {
  const database = await freshDatabase('volt');
  const db = createDatabase(database.url, { max: 20 });
  await migrateToLatest(db, eventStoreMigrations, messagingMigrations, projectionMigrations);
  const store = new EventStore(db);
  const scenarios = await commonScenarios(adapter(store));
  // Volt's own, after the common ones: the projection catches up with everything they wrote.
  const only = process.env.BENCH_SCENARIOS?.split(',');
  if (!only || only.includes('projection')) scenarios.projection = () => projectionCatchUp(db, store);
  if (!only || only.includes('readYourWrites')) scenarios.readYourWrites = () => readYourWrites(db, store);
  if (!only || only.includes('relay')) scenarios.relay = () => relayLag(database.url, store);
  return {
    scenarios,
    async close() {
      await db.destroy();
      await database.drop();
    },
  };
}

serve('volt', open);
