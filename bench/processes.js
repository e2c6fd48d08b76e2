// The benchmarks' child processes: started from the repository root, stopped together.
const { spawn } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const children = [];

/** Starts `node <args>` and resolves with `{ url, pid }` once stdout matches `ready` (its first group is the url). */
function start(args, env, ready) {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(ready);
      if (m) resolve({ url: m[1], pid: child.pid });
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
}

async function stopAll(signal = 'SIGTERM') {
  for (const child of children) child.kill(signal);
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', r)))));
}

/** The environment Volt's services run with in a benchmark: its own database and NATS prefix, limits out of the way. */
function serviceEnv(database, prefix, extra = {}) {
  return {
    DATABASE_URL: database.url,
    NATS_URL: process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222',
    VOLT_NATS_PREFIX: prefix,
    PORT: '0',
    LOG_LEVEL: 'info',
    VOLT_SECRETS_KEY: require('@volt/secrets').Keyring.generate(),
    // The benchmarks measure the pipeline, not the limits: every request is counted but none refused.
    VOLT_RATE_LIMIT_PER_HOUR: '1000000000',
    ...extra,
  };
}

module.exports = { start, stopAll, serviceEnv };
