// Scenarios shared by the Volt and Emmett runs: the same event shape, the same load.
const { randomBytes, randomUUID } = require('node:crypto');
const { Client } = require('pg');

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const scale = Number(process.env.BENCH_SCALE ?? 1);
const n = (x) => Math.max(1, Math.round(x * scale));

async function admin(sql) {
  const c = new Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function freshDatabase(tag) {
  const name = `bench_${tag}_${randomBytes(4).toString('hex')}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return { name, url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

const event = (i) => ({ type: 'BenchEvent', data: { i, amount: 1234, currency: 'USD', note: 'benchmark payload of a typical size' } });

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** `streams` appenders in parallel, each appending `perStream` times `batch` events with exact expected versions. */
async function appendLoad(store, { prefix, streams, perStream, batch }) {
  const latencies = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: streams }, async (_, s) => {
      const stream = `${prefix}-${s}`;
      for (let k = 0; k < perStream; k++) {
        const t0 = performance.now();
        await store.append(stream, Array.from({ length: batch }, (_, j) => event(k * batch + j)), k * batch);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSecond: (streams * perStream * batch) / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/**
 * Writes `total` events from 16 concurrent appenders (10-event batches) while a follower
 * tails the global order; then counts what the follower missed or saw twice, and times a
 * full read of the global order from the start.
 */
async function readAllLoad(store, total) {
  const written = new Set();
  const seen = new Map();
  let writing = true;
  const follower = (async () => {
    let cursor = store.startCursor();
    for (;;) {
      const stopping = !writing;
      const { ids, count, next } = await store.readAllBatch(cursor, 5000);
      cursor = next;
      for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1);
      // Once the writers are done, one empty read means everything visible has been read.
      if (count === 0 && stopping) return;
      if (count === 0) await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const appenders = 16;
  const perAppender = Math.ceil(total / appenders / 10);
  await Promise.all(
    Array.from({ length: appenders }, async (_, a) => {
      for (let k = 0; k < perAppender; k++) {
        const batch = Array.from({ length: 10 }, (_, j) => ({ ...event(j), id: randomUUID() }));
        await store.append(`all-${a}-${k % 50}`, batch, null);
        for (const e of batch) written.add(e.id);
      }
    }),
  );
  writing = false;
  await follower;
  let missed = 0;
  for (const id of written) if (!seen.has(id)) missed++;
  let duplicated = 0;
  for (const count of seen.values()) if (count > 1) duplicated += count - 1;

  const started = performance.now();
  let cursor = store.startCursor();
  let read = 0;
  for (;;) {
    const { count, next } = await store.readAllBatch(cursor, 10_000);
    if (count === 0) break;
    read += count;
    cursor = next;
  }
  const seconds = (performance.now() - started) / 1000;
  return { written: written.size, missed, duplicated, readAllPerSecond: read / seconds, readAllEvents: read };
}

/** Reading one 10,000-event stream: one untimed read to warm up, then the median of 9. */
async function streamReadLoad(store) {
  const stream = 'long-stream';
  for (let k = 0; k < 100; k++) await store.append(stream, Array.from({ length: 100 }, (_, j) => event(k * 100 + j)), k * 100);
  const rates = [];
  for (let r = 0; r < 10; r++) {
    const started = performance.now();
    const count = await store.readStream(stream);
    if (count !== 10_000) throw new Error(`read ${count} events of 10000`);
    if (r > 0) rates.push(count / ((performance.now() - started) / 1000));
  }
  if (process.env.BENCH_VERBOSE) console.error(rates.map((x) => Math.round(x / 1000)).join(" "));
  rates.sort((a, b) => a - b);
  return { perSecond: rates[rates.length >> 1] };
}

/**
 * The scenarios every store runs (or, given `only` or BENCH_SCENARIOS=a,b, those named), ready
 * to run one at a time, after an untimed warm-up of the paths they measure (connections,
 * prepared statements, JIT) so that the first does not pay for it; every store gets the same one.
 */
async function commonScenarios(store, only = process.env.BENCH_SCENARIOS?.split(',')) {
  const scenarios = {
    sequential: () => appendLoad(store, { prefix: 'seq', streams: 1, perStream: n(1500), batch: 1 }),
    streams16: () => appendLoad(store, { prefix: 'c16', streams: 16, perStream: n(250), batch: 1 }),
    streams64: () => appendLoad(store, { prefix: 'c64', streams: 64, perStream: n(150), batch: 1 }),
    batch1: () => appendLoad(store, { prefix: 'b1', streams: 1, perStream: n(300), batch: 10 }),
    batch16: () => appendLoad(store, { prefix: 'b16', streams: 16, perStream: n(100), batch: 10 }),
    streamRead: () => streamReadLoad(store),
    readAll: () => readAllLoad(store, n(200_000)),
  };
  await appendLoad(store, { prefix: 'warm', streams: 4, perStream: 100, batch: 1 });
  // One caller alone too: Volt group-commits concurrent appends through other statements than a
  // lone one, so the concurrent warm-up left its sequential path cold (the other stores use one
  // path for both).
  await appendLoad(store, { prefix: 'warm-one', streams: 1, perStream: 300, batch: 1 });
  await appendLoad(store, { prefix: 'warm-batch', streams: 1, perStream: 30, batch: 10 });
  return Object.fromEntries(Object.entries(scenarios).filter(([name]) => !only || only.includes(name)));
}

/**
 * A store's process. `open()` makes a fresh database and the store on it and answers
 * `{ scenarios, close }` (scenarios run in the order given, each once per database). Forked by
 * run.js, it waits for orders over IPC (open, run one scenario, close), so that the stores take
 * turns scenario by scenario and each pair of figures is measured seconds apart, not minutes.
 * Started alone, it runs every scenario once and prints `{ store, results }` as one JSON line.
 */
function serve(name, open) {
  if (!process.send) {
    (async () => {
      const { scenarios, close } = await open();
      try {
        const results = {};
        for (const [scenario, run] of Object.entries(scenarios)) results[scenario] = await run();
        process.stdout.write(`${JSON.stringify({ store: name, results })}\n`);
      } finally {
        await close();
      }
    })().catch((error) => {
      console.error(error);
      process.exit(1);
    });
    return;
  }
  let current;
  const handle = async ({ op, scenario }) => {
    if (op === 'open') {
      current = await open();
      return { scenarios: Object.keys(current.scenarios) };
    }
    if (op === 'run') return { result: await current.scenarios[scenario]() };
    await current.close();
    return {};
  };
  process.on('disconnect', () => process.exit(0));
  process.on('message', (order) => {
    handle(order).then(
      (answer) => process.send(answer),
      (error) => process.send({ error: error.stack ?? String(error) }),
    );
  });
}

module.exports = { freshDatabase, commonScenarios, serve, appendLoad, event, percentile, n };
