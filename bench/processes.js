// The benchmarks' child processes: started from the repository root, stopped together.
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
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

const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** CPU seconds (user and system) a process has used so far. */
const cpuSeconds = (pid) => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
};

/**
 * CPU time in µs a single-threaded process (a PostgreSQL backend) has used so far, to the
 * nanosecond (/proc/<pid>/schedstat counts its main thread's time on a CPU; /proc/<pid>/stat counts
 * clock ticks, too coarse for one statement); NaN when it cannot be read (a server on another machine).
 */
const threadCpuMicros = (pid) => {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1000;
  } catch {
    return Number.NaN;
  }
};

/** CPU seconds so far of every process on the machine, summed by what it is (a service, PostgreSQL, NATS, this benchmark). */
function cpuByProcess() {
  const by = {};
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmd;
    let seconds;
    try {
      cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      seconds = cpuSeconds(pid);
    } catch {
      continue; // gone meanwhile
    }
    const app = /apps\/([\w-]+)\/dist/.exec(cmd)?.[1];
    const label = Number(pid) === process.pid ? 'benchmark client' : app ?? (/^postgres/.test(cmd) ? 'postgresql' : /nats-server/.test(cmd) ? 'nats-server' : 'other');
    by[label] = (by[label] ?? 0) + seconds;
  }
  return by;
}

module.exports = { start, stopAll, serviceEnv, cpuSeconds, cpuByProcess, threadCpuMicros };
