#!/usr/bin/env node
// npm run bench:gateway — authenticated GET /api/volt/ssh-keys through the real gateway
// (API key, rate limit, scope check, audit, read model in PostgreSQL) against a bare
// Fastify route answering the same JSON, each in its own process, driven by autocannon
// at 64 connections in alternating order; besides throughput and latency it prints the CPU
// time per request of each answering process, of autocannon, which shares the cores, and of
// PostgreSQL for the gateway's requests (the only ones that reach it; a PostgreSQL process that
// ends during a run takes its time with it, so that figure can only be low). BENCH_ROUNDS
// (default 3) and BENCH_SECONDS (default 10) adjust it; BENCH_PROFILE_DIR=<dir> writes the
// gateway's CPU profile there.
const { execFileSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const path = require('node:path');
const { median } = require('../stats');
const autocannon = require('autocannon');
const { freshDatabase } = require('../event-store/common');
const { request } = require('../http');
const { cpuByProcess, cpuSeconds, serviceEnv, start, stopAll } = require('../processes');

const root = path.resolve(__dirname, '../..');
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const tracing = process.env.BENCH_TRACING !== '0';

/**
 * Drives `url` for `seconds` and resolves with its throughput, latency and the CPU time per
 * request of the answering process (`pid`), of this one (autocannon runs in it) and, for the
 * gateway (called with a `key`), of PostgreSQL: a second view beside throughput, which depends
 * on everything else this shared machine runs meanwhile.
 */
function load(url, pid, key) {
  const cpu0 = cpuSeconds(pid);
  const client0 = cpuSeconds(process.pid);
  const pg0 = key ? cpuByProcess().postgresql ?? 0 : 0;
  return new Promise((resolve, reject) => {
    autocannon({ url: `${url}/api/volt/ssh-keys`, connections: 64, duration: seconds, headers: key ? { 'x-api-key': key } : {} }, (error, result) => {
      if (error) return reject(error);
      const bad = result.non2xx + result.errors + result.timeouts;
      if (bad > 0) return reject(new Error(`${bad} failed requests (non-2xx ${result.non2xx}, errors ${result.errors}, timeouts ${result.timeouts})`));
      const micros = (s) => (s * 1e6) / result.requests.total;
      resolve({
        rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, total: result.requests.total,
        cpu: micros(cpuSeconds(pid) - cpu0), clientCpu: micros(cpuSeconds(process.pid) - client0), pgCpu: key ? micros((cpuByProcess().postgresql ?? 0) - pg0) : 0,
      });
    });
  });
}


async function main() {
  const database = await freshDatabase('gw');
  const prefix = `bgw${randomBytes(3).toString('hex')}`;
  try {
    const env = serviceEnv(database, prefix);
    execFileSync(process.execPath, ['apps/volt-admin/dist/main.js', 'migrate'], { cwd: root, env: { ...process.env, ...env }, stdio: 'ignore' });
    const org = JSON.parse(execFileSync(process.execPath, ['apps/volt-admin/dist/main.js', 'org', 'create', '--name', 'Bench', '--json'], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8' }));
    const ready = (app) => new RegExp(`"url":"(http://[^"]+)","msg":"${app} ready"`);
    // As npm start and docker-compose run them: with the OpenTelemetry SDK loaded first
    // (spans are made for every request and query, exported when OTEL_EXPORTER_OTLP_ENDPOINT is set).
    const node = tracing ? ['--require', '@volt/telemetry/register'] : [];
    const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
    await start([...node, 'apps/pods/dist/main.js'], env, ready('pods'));
    const { url: gateway, pid: gatewayPid } = await start([...node, ...profile, 'apps/gateway/dist/main.js'], env, ready('gateway'));
    // A realistic list: five keys.
    for (let i = 0; i < 5; i++) {
      const key = execFileSync('bash', ['-c', `d=$(mktemp -d) && ssh-keygen -q -t ed25519 -N '' -C bench -f $d/k && cat $d/k.pub && rm -r $d`], { encoding: 'utf8' }).trim();
      const r = await request(`${gateway}/api/volt/ssh-keys`, { method: 'POST', headers: { 'x-api-key': org.api_key }, body: { name: `key ${i}`, public_key: key } });
      if (r.status !== 201) throw new Error(`could not add an SSH key: ${r.status} ${r.text}`);
    }
    const { text: body } = await request(`${gateway}/api/volt/ssh-keys`, { headers: { 'x-api-key': org.api_key } });
    const { url: bare, pid: barePid } = await start([...profile, path.join(__dirname, 'bare.js')], { BENCH_BODY: body }, /^(http:\/\/\S+)\n/m);
    const { text: checked } = await request(`${bare}/api/volt/ssh-keys`);
    if (checked !== body) throw new Error('the bare route does not answer the same body');

    await load(gateway, gatewayPid, org.api_key); // warm-up: JIT, pools, caches
    await load(bare, barePid);
    const results = { volt: [], bare: [] };
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ['volt', 'bare'] : ['bare', 'volt'];
      for (const which of order) {
        process.stderr.write(`round ${r + 1}/${rounds}: ${which}…\n`);
        results[which].push(which === 'volt' ? await load(gateway, gatewayPid, org.api_key) : await load(bare, barePid));
      }
    }
    const m = (which, key) => median(results[which].map((x) => x[key]));
    const fmt = (x) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));
    console.log(`\nGateway benchmark: medians of ${rounds} paired rounds of ${seconds} s at 64 connections (${new Date().toISOString().slice(0, 10)}, ${require('node:os').cpus().length} cores); response ${body.length} bytes\n`);
    console.log('| measure | Volt gateway (auth, rate limit, scope, audit, read model) | bare Fastify | Volt/bare | target |');
    console.log('| --- | ---: | ---: | ---: | --- |');
    console.log(`| requests/s | ${fmt(m('volt', 'rps'))} | ${fmt(m('bare', 'rps'))} | ${(m('volt', 'rps') / m('bare', 'rps')).toFixed(2)}× | ≥ 0.5× |`);
    console.log(`| p50 latency (ms) | ${fmt(m('volt', 'p50'))} | ${fmt(m('bare', 'p50'))} | | |`);
    console.log(`| p99 latency (ms) | ${fmt(m('volt', 'p99'))} | ${fmt(m('bare', 'p99'))} | | < 25 ms |`);
    console.log(`| CPU per request, the answering process (µs) | ${fmt(m('volt', 'cpu'))} | ${fmt(m('bare', 'cpu'))} | ${(m('volt', 'cpu') / m('bare', 'cpu')).toFixed(2)}× | |`);
    console.log(`| CPU per request, autocannon (µs) | ${fmt(m('volt', 'clientCpu'))} | ${fmt(m('bare', 'clientCpu'))} | | |`);
    console.log(`| CPU per request, PostgreSQL (µs) | ${fmt(m('volt', 'pgCpu'))} | none | | |`);
    console.log(`\nper-round throughput ratios: ${results.volt.map((v, i) => (v.rps / results.bare[i].rps).toFixed(2)).join(' ')}`);
    console.log(`per-round CPU µs per request, gateway: ${results.volt.map((v) => v.cpu.toFixed(1)).join(' ')}; bare: ${results.bare.map((v) => v.cpu.toFixed(1)).join(' ')}`);
  } finally {
    await stopAll();
    await database.drop();
  }
}

main().catch((error) => {
  console.error(error);
  stopAll('SIGKILL').finally(() => process.exit(1));
});
