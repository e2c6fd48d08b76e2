#!/usr/bin/env node
// npm run bench:pods — the pod lifecycle at scale, through the real gateway and pods
// service, against provider-sim with zero latency: BENCH_PODS (default 1,000) Lium pods
// created by 32 concurrent clients, the time until all are running, then all stopped and
// all deleted. Prints pods/s per phase, create-call latency, events per pod and the CPU
// seconds the pods service spent per pod lifecycle. The reference, measured in the same
// run: the same creates sent straight to provider-sim's own API. Each create also reserves the
// pod's first hour with the ledger service.
// BENCH_ROUNDS (default 3) rounds; medians are printed.
const { execFileSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { median, percentile } = require('../stats');
const { Client } = require('pg');
const { freshDatabase } = require('../event-store/common');
const { request, requestJson } = require('../http');
const { cpuByProcess, cpuSeconds, serviceEnv, start, stopAll } = require('../processes');

const root = path.resolve(__dirname, '../..');
const PODS = Number(process.env.BENCH_PODS ?? 1000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 32);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
/** PostgreSQL's counters for the benchmark's database: transactions committed, rows written per table, rows read by sequential scans per table. */
async function pgCounters(databaseUrl) {
  const pg = new Client({ connectionString: databaseUrl });
  await pg.connect();
  try {
    // Backends report their counters when idle, at most once a second.
    await new Promise((res) => setTimeout(res, 1200));
    const [db] = (await pg.query('SELECT xact_commit::int AS commits FROM pg_stat_database WHERE datname = current_database()')).rows;
    const tables = (await pg.query('SELECT relname, (n_tup_ins + n_tup_upd + n_tup_del)::int AS written, seq_tup_read::int AS scanned FROM pg_stat_user_tables')).rows;
    return {
      commits: db.commits,
      written: Object.fromEntries(tables.map((t) => [t.relname, t.written])),
      scanned: Object.fromEntries(tables.map((t) => [t.relname, t.scanned])),
    };
  } finally {
    await pg.end();
  }
}

/** Runs `jobs` with `CLIENTS` workers; returns each job's latency in ms. */
async function pool(jobs) {
  const latencies = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++];
        const t0 = performance.now();
        await job();
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return latencies;
}

async function waitForCount(gateway, key, status, n, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await call(gateway, key, 'GET', `/api/volt/pods?status=${status}&limit=1`);
    if (r.total >= n) return;
    if (Date.now() > deadline) {
      const all = await call(gateway, key, 'GET', '/api/volt/pods?status=inactive&limit=5');
      throw new Error(`only ${r.total} of ${n} pods ${status} after ${timeoutMs / 1000} s; ended pods: ${JSON.stringify(all)}`);
    }
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Waits until the catalogue (refreshed from the providers on a cadence) shows every slot's GPU free. */
async function waitForFreeGpus(gateway, key, slots, timeoutMs = 60_000) {
  const needed = new Map();
  for (const id of slots) needed.set(id, (needed.get(id) ?? 0) + 1);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { machines } = await call(gateway, key, 'GET', '/api/volt/machines?provider=lium&instance_type=dedicated&limit=200');
    const free = new Map(machines.map((m) => [m.id, m.available_gpus]));
    if ([...needed].every(([id, n]) => (free.get(id) ?? 0) >= n)) return;
    if (Date.now() > deadline) throw new Error(`the catalogue still shows the reference's GPUs taken after ${timeoutMs / 1000} s`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

function call(gateway, key, method, url, body) {
  return requestJson(`${gateway}${url}`, { method, headers: { 'x-api-key': key }, body });
}

async function round(ctx, r) {
  const org = JSON.parse(execFileSync(process.execPath, ['apps/volt-admin/dist/main.js', 'org', 'create', '--name', `Bench ${r}`, '--credit', '1000000', '--json'], { cwd: root, env: { ...process.env, ...ctx.env }, encoding: 'utf8' }));
  const key = org.api_key;
  const { machines } = await call(ctx.gateway, key, 'GET', '/api/volt/machines?provider=lium&instance_type=dedicated&limit=200');
  // One GPU per pod, spread over the machines as a fleet of customers would.
  const slots = [];
  for (let g = 0; g < Math.max(...machines.map((m) => m.available_gpus)); g++) for (const m of machines) if (g < m.available_gpus) slots.push(m.id);
  if (slots.length < PODS) throw new Error(`provider-sim has ${slots.length} free dedicated GPUs; ${PODS} needed`);

  // Reference: the same number of creates straight to provider-sim's Lium API, then cleaned up.
  const refIds = [];
  const refLatency = await pool(
    slots.slice(0, PODS).map((m, i) => async () => {
      const answer = await requestJson(`${ctx.sim}/lium/v1/pods`, { method: 'POST', body: { executor_id: m.slice(5), gpu_count: 1, image: 'x', tag: `ref-${r}-${i}` } });
      refIds.push(answer.id);
    }),
  );
  await pool(refIds.map((id) => () => request(`${ctx.sim}/lium/v1/pods/${id}`, { method: 'DELETE' })));
  await new Promise((res) => setTimeout(res, 1500)); // the reconciler sees none of these as Volt's (tagged, unknown pods are orphans only after a grace)
  // Creates are checked against the catalogue: on a slow machine its refresh can lag the cleanup.
  await waitForFreeGpus(ctx.gateway, key, slots.slice(0, PODS));

  const pg0 = await pgCounters(ctx.env.DATABASE_URL);
  const cpu0 = cpuSeconds(ctx.podsPid);
  const byProcess0 = cpuByProcess();
  const ids = [];
  const t0 = performance.now();
  const createLatency = await pool(
    slots.slice(0, PODS).map((m) => async () => {
      ids.push((await call(ctx.gateway, key, 'POST', '/api/volt/pods', { machine_id: m, template_id: 'tpl_pytorch21' })).id);
    }),
  );
  const tCreated = performance.now();
  const byProcess1 = cpuByProcess();
  const createCpu = Object.fromEntries(Object.keys(byProcess1).map((k) => [k, ((byProcess1[k] - (byProcess0[k] ?? 0)) * 1000) / PODS]));
  await waitForCount(ctx.gateway, key, 'running', PODS);
  const tRunning = performance.now();
  const pg1 = await pgCounters(ctx.env.DATABASE_URL);
  const perCreate = (counts0, counts1) => Object.fromEntries(Object.keys(counts1).map((t) => [t, (counts1[t] - (counts0[t] ?? 0)) / PODS]));
  const writtenPerCreate = perCreate(pg0.written, pg1.written);
  const scannedPerCreate = perCreate(pg0.scanned, pg1.scanned);
  const stopLatency = await pool(ids.map((id) => () => call(ctx.gateway, key, 'POST', `/api/volt/pods/${id}/stop`)));
  await waitForCount(ctx.gateway, key, 'stopped', PODS);
  const tStopped = performance.now();
  const deleteLatency = await pool(ids.map((id) => () => call(ctx.gateway, key, 'DELETE', `/api/volt/pods/${id}`)));
  await waitForCount(ctx.gateway, key, 'deleted', PODS);
  const tDeleted = performance.now();
  const cpu = cpuSeconds(ctx.podsPid) - cpu0;

  const pg = new Client({ connectionString: ctx.env.DATABASE_URL });
  await pg.connect();
  const events = Number((await pg.query(`SELECT count(*) AS n FROM es_events WHERE stream_id = ANY($1)`, [ids.map((id) => `pods:pod:${id}`)])).rows[0].n);
  await pg.end();
  return {
    createRate: PODS / ((tCreated - t0) / 1000),
    createP50: percentile(createLatency, 50),
    createP99: percentile(createLatency, 99),
    refP50: percentile(refLatency, 50),
    refP99: percentile(refLatency, 99),
    runningAfterLastCreate: (tRunning - tCreated) / 1000,
    stopRate: PODS / ((tStopped - tRunning) / 1000),
    stopP99: percentile(stopLatency, 99),
    deleteRate: PODS / ((tDeleted - tStopped) / 1000),
    deleteP99: percentile(deleteLatency, 99),
    eventsPerPod: events / PODS,
    cpuPerPod: cpu / PODS,
    createCpu,
    commitsPerCreate: (pg1.commits - pg0.commits) / PODS,
    writtenPerCreate,
    scannedPerCreate,
  };
}

async function main() {
  const database = await freshDatabase('pods');
  const prefix = `bpd${randomBytes(3).toString('hex')}`;
  const stateFile = path.join(os.tmpdir(), `volt-bench-sim-${prefix}.json`);
  try {
    const copies = Math.ceil((PODS * 1.5) / 36); // 36 dedicated GPUs per copy of the simulated fleet
    const sim = await start(['apps/provider-sim/dist/main.js'], { PORT: '0', SIM_STATE_FILE: stateFile, SIM_TRANSITION_MS: '0', SIM_LIUM_COPIES: String(copies), SIM_PRICE_DRIFT: '0' }, /listening on (http:\/\/\S+)/);
    const env = serviceEnv(database, prefix, {
      VOLT_PROVIDER_LIUM_URL: `${sim.url}/lium`,
      VOLT_PROVIDER_TARGON_URL: `${sim.url}/targon`,
      VOLT_POD_CREATE_LIMIT: '1000000000',
    });
    execFileSync(process.execPath, ['apps/volt-admin/dist/main.js', 'migrate'], { cwd: root, env: { ...process.env, ...env }, stdio: 'ignore' });
    const ready = (app) => new RegExp(`"url":"(http://[^"]+)","msg":"${app} ready"`);
    // BENCH_PROFILE_DIR=<dir>: each service writes its CPU profile there when it stops.
    const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
    const node = ['--require', '@volt/telemetry/register', ...profile];
    await start([...node, 'apps/ledger/dist/main.js'], env, ready('ledger'));
    const pods = await start([...node, 'apps/pods/dist/main.js'], env, ready('pods'));
    const gateway = await start([...node, 'apps/gateway/dist/main.js'], env, ready('gateway'));
    const ctx = { env, sim: sim.url, gateway: gateway.url, podsPid: pods.pid };
    const results = [];
    for (let r = 0; r < rounds; r++) {
      process.stderr.write(`round ${r + 1}/${rounds}…\n`);
      // The catalogue lists the GPUs the round's pods gave back by the time they show deleted.
      results.push(await round(ctx, r));
    }
    const m = (k) => median(results.map((x) => x[k]));
    const f1 = (x) => x.toFixed(1);
    console.log(`\nPods benchmark: ${PODS} Lium pods, ${CLIENTS} clients, provider-sim at zero latency; medians of ${rounds} rounds (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores)\n`);
    console.log('| measure | Volt | reference | target |');
    console.log('| --- | ---: | ---: | --- |');
    console.log(`| create p50 (ms) | ${f1(m('createP50'))} | ${f1(m('refP50'))} (provider-sim direct) | |`);
    console.log(`| create p99 (ms) | ${f1(m('createP99'))} | ${f1(m('refP99'))} (provider-sim direct) | < 50 ms |`);
    console.log(`| creates/s | ${f1(m('createRate'))} | | |`);
    console.log(`| all running, s after the last create | ${f1(m('runningAfterLastCreate'))} | | < 30 s |`);
    console.log(`| stops/s (to stopped) | ${f1(m('stopRate'))} | | |`);
    console.log(`| stop call p99 (ms) | ${f1(m('stopP99'))} | | |`);
    console.log(`| deletes/s (to deleted) | ${f1(m('deleteRate'))} | | |`);
    console.log(`| delete call p99 (ms) | ${f1(m('deleteP99'))} | | |`);
    console.log(`| events written per pod | ${f1(m('eventsPerPod'))} | | |`);
    console.log(`| pods-service CPU per pod lifecycle | ${(m('cpuPerPod') * 1000).toFixed(1)} ms | | |`);
    const labels = [...new Set(results.flatMap((x) => Object.keys(x.createCpu)))];
    const perCreate = labels.map((k) => [k, median(results.map((x) => x.createCpu[k] ?? 0))]).filter(([, ms]) => ms >= 0.05).sort((a, b) => b[1] - a[1]);
    console.log(`\nCPU per create, by process (ms, create phase): ${perCreate.map(([k, ms]) => `${k} ${ms.toFixed(2)}`).join(', ')}; total ${perCreate.reduce((t, [, ms]) => t + ms, 0).toFixed(2)} ms`);
    const rowsPerCreate = (key) => {
      const tables = [...new Set(results.flatMap((x) => Object.keys(x[key])))];
      const rows = tables.map((t) => [t, median(results.map((x) => x[key][t] ?? 0))]).filter(([, n]) => n >= 0.05).sort((a, b) => b[1] - a[1]);
      return rows.length === 0 ? 'none' : rows.map(([t, n]) => `${t} ${f1(n)}`).join(', ');
    };
    console.log(`PostgreSQL per create, until all running (every service): ${f1(m('commitsPerCreate'))} commits; rows written ${rowsPerCreate('writtenPerCreate')}`);
    // A plan that scans a growing table where an index would do shows here (rows read by sequential scans).
    console.log(`PostgreSQL rows read by sequential scans per create: ${rowsPerCreate('scannedPerCreate')}`);
    console.log(`\nper-round create p99 (ms): ${results.map((x) => f1(x.createP99)).join(' ')}; running after last create (s): ${results.map((x) => f1(x.runningAfterLastCreate)).join(' ')}`);
  } finally {
    await stopAll();
    await database.drop();
    fs.rmSync(stateFile, { force: true });
  }
}

main().catch((error) => {
  console.error(error);
  stopAll('SIGKILL').finally(() => process.exit(1));
});
