#!/usr/bin/env node
// npm run bench:idle — what a Volt stack costs while nobody uses it: every service (gateway,
// pods, billing, ledger, fine-tune, attestation) and provider-sim started on a fresh database,
// left alone for 5 s, then the CPU each process and PostgreSQL use over BENCH_IDLE_SECONDS
// (default 20), as a percentage of one core. BENCH_ROUNDS (default 3) stacks; medians.
const { execFileSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { median } = require('../stats');
const { freshDatabase } = require('../event-store/common');
const { cpuByProcess, serviceEnv, start, stopAll } = require('../processes');

const root = path.resolve(__dirname, '../..');
const SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 20);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const APPS = ['gateway', 'pods', 'billing', 'ledger', 'fine-tune', 'attestation'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function round() {
  const database = await freshDatabase('idle');
  const stateFile = path.join(os.tmpdir(), `volt-bench-idle-${randomBytes(3).toString('hex')}.json`);
  try {
    const sim = await start(['apps/provider-sim/dist/main.js'], { PORT: '0', SIM_STATE_FILE: stateFile }, /listening on (http:\/\/\S+)/);
    const env = serviceEnv(database, `bid${randomBytes(3).toString('hex')}`, { VOLT_PROVIDER_LIUM_URL: `${sim.url}/lium`, VOLT_PROVIDER_TARGON_URL: `${sim.url}/targon` });
    execFileSync(process.execPath, ['apps/volt-admin/dist/main.js', 'migrate'], { cwd: root, env: { ...process.env, ...env }, stdio: 'ignore' });
    for (const app of APPS) await start(['--require', '@volt/telemetry/register', `apps/${app}/dist/main.js`], env, new RegExp(`"url":"(http://[^"]+)","msg":"${app} ready"`));
    await sleep(5_000);
    const before = cpuByProcess();
    await sleep(SECONDS * 1000);
    const after = cpuByProcess();
    return Object.fromEntries(Object.keys(after).map((k) => [k, ((after[k] - (before[k] ?? 0)) / SECONDS) * 100]));
  } finally {
    await stopAll();
    await database.drop();
    fs.rmSync(stateFile, { force: true });
  }
}

async function main() {
  const results = [];
  for (let r = 0; r < rounds; r++) {
    process.stderr.write(`round ${r + 1}/${rounds}…\n`);
    results.push(await round());
  }
  const m = (k) => median(results.map((x) => x[k] ?? 0));
  const services = APPS.reduce((t, app) => t + m(app), 0);
  console.log(`\nIdle stack: CPU over ${SECONDS} s, % of one core, medians of ${rounds} rounds (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores)\n`);
  console.log('| process | CPU |\n| --- | ---: |');
  for (const app of [...APPS, 'provider-sim', 'postgresql', 'nats-server']) console.log(`| ${app} | ${m(app).toFixed(1)}% |`);
  console.log(`| all six services | ${services.toFixed(1)}% |`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
