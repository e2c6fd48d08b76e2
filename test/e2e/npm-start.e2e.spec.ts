import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_NATS_URL, createTestDatabase, createTestMessaging, type TestDatabase, type TestMessaging } from '@volt/testing';
import { freePort } from '../support/process';

// The README's first command, as a user runs it: `npm start` on an empty database, with the
// machine's PostgreSQL and NATS (a database and a subject prefix of this file's own) and its
// state in a folder of its own.
const root = path.resolve(__dirname, '../..');
const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'volt-start-'));
let db: TestDatabase;
let messaging: TestMessaging;

const answers = (url: string) => fetch(url).then(() => true, () => false);

beforeAll(async () => {
  db = await createTestDatabase([]);
  messaging = await createTestMessaging();
});
afterAll(async () => {
  await messaging?.cleanup();
  await db?.drop();
  fs.rmSync(stateDir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('migrates, starts every service, prints the gateway and a working key; a SIGTERM to npm alone stops it all', async () => {
    const port = await freePort();
    const npm = process.env.npm_execpath;
    const command = npm ? [process.execPath, npm] : ['npm'];
    const child = spawn(command[0], [...command.slice(1), 'start'], {
      cwd: root,
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        NATS_URL: TEST_NATS_URL,
        VOLT_NATS_PREFIX: messaging.prefix,
        PORT: String(port),
        VOLT_STATE_DIR: stateDir,
        VOLT_DEMO_API_KEY: '',
        VOLT_SECRETS_KEY: '',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code ?? -1)));

    const started = await Promise.race([
      new Promise<RegExpMatchArray>((resolve) => {
        const look = () => {
          const ready = output.match(/\[volt\] ready\. Gateway: (\S+)[\s\S]*\[volt\] API key: (\S+)/);
          if (ready) resolve(ready);
          else setTimeout(look, 100);
        };
        look();
      }),
      exited.then((how) => {
        throw new Error(`npm start ended (${how}) before it was ready:\n${output.slice(-3000)}`);
      }),
    ]);
    const [, gateway, apiKey] = started;
    expect(gateway).toBe(`http://127.0.0.1:${port}`);
    // The key it printed is the one it keeps in its state folder, and it works.
    expect(fs.readFileSync(path.join(stateDir, 'demo-api-key'), 'utf8').trim()).toBe(apiKey);
    const templates = await fetch(`${gateway}/api/volt/templates`, { headers: { 'X-API-Key': apiKey } });
    expect(templates.status).toBe(200);
    expect(((await templates.json()) as { templates: unknown[] }).templates.length).toBeGreaterThan(0);
    const simulator = output.match(/provider-sim \(simulated Lium and Targon\): (\S+),/)![1];
    const services = [...output.match(/services \(\/health, \/ready, \/metrics\): (.*)/)![1].matchAll(/(\S+) (http:\/\/\S+?)(,|$)/g)].map((m) => [m[1], m[2]]);
    expect(services.map(([name]) => name)).toEqual(['pods', 'billing', 'ledger', 'fine-tune', 'attestation', 'gateway']);
    const everything = [...services.map(([, url]) => url), simulator];
    for (const url of everything) expect({ url, ready: (await fetch(`${url}/health`)).ok }).toEqual({ url, ready: true });

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('[volt] stopping');
    for (const url of everything) expect({ url, answers: await answers(`${url}/health`) }).toEqual({ url, answers: false });
  }, 180_000);
});
