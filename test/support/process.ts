import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

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

/** A TCP port nothing listens on now, for a server a test starts itself. */
export { freePort } from '../../tools/ports';
