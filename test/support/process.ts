import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { allMigrations } from '@volt/schema';
import { TEST_NATS_URL, createTestDatabase, createTestMessaging, type TestDatabase, type TestMessaging } from '@volt/testing';

const root = path.resolve(__dirname, '../..');

export interface AppProcess {
  child: ChildProcess;
  url: string;
  /** Everything it wrote so far, stdout and stderr. */
  logs(): string;
  /** Resolves with the signal or exit code once it has ended. */
  exited: Promise<string>;
  stop(): Promise<string>;
}

/**
 * Runs a built app (apps/<app>/dist/main.js) as its own process and resolves once it
 * logs "<app> ready" (LOG_LEVEL must be info or lower).
 */
export function startApp(app: string, env: Record<string, string>): Promise<AppProcess> {
  const child = spawn(process.execPath, [path.join(root, `apps/${app}/dist/main.js`)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? String(code))));
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      logs += chunk.toString();
      const ready = logs.match(new RegExp(`"url":"(http://[^"]+)","msg":"${app} ready"`));
      if (ready)
        resolve({
          child,
          url: ready[1],
          logs: () => logs,
          exited,
          stop: () => (child.exitCode === null && child.signalCode === null && child.kill('SIGTERM'), exited),
        });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    exited.then((how) => reject(new Error(`${app} ended (${how}) before it was ready: ${logs.slice(-2000)}`)));
  });
}

/** For a server a test starts itself: a TCP port nothing listens on now, and whether a port answers yet. */
export { answers, freePort } from '../../tools/ports';

export interface AppsFixture {
  db: TestDatabase;
  messaging: TestMessaging;
  /** What an app needs to run on this file's database and NATS prefix. */
  env(extra?: Record<string, string>): Record<string, string>;
  /** Starts an app as its own process; it is stopped (if still running) after the file's tests. */
  start(app: string, env: Record<string, string>): Promise<AppProcess>;
  /** Everything the started apps wrote. */
  logs(): string;
}

/**
 * For a test file that runs apps as processes: its own database and NATS prefix (made before
 * its tests, dropped after), and every app it started stopped at the end.
 */
export function appsFixture(): AppsFixture {
  const apps: AppProcess[] = [];
  let db: TestDatabase | undefined;
  let messaging: TestMessaging | undefined;
  const fixture: AppsFixture = {
    get db() {
      return db!;
    },
    get messaging() {
      return messaging!;
    },
    env: (extra = {}) => ({ DATABASE_URL: db!.url, NATS_URL: TEST_NATS_URL, VOLT_NATS_PREFIX: messaging!.prefix, PORT: '0', LOG_LEVEL: 'info', ...extra }),
    async start(app, env) {
      const running = await startApp(app, env);
      apps.push(running);
      return running;
    },
    logs: () => apps.map((a) => a.logs()).join(''),
  };
  beforeAll(async () => {
    db = await createTestDatabase(allMigrations);
    messaging = await createTestMessaging();
  });
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop()));
    await messaging?.cleanup();
    await db?.drop();
  });
  return fixture;
}
