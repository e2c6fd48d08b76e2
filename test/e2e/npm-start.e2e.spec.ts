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

/** Runs `npm start` until it says it is ready: the gateway and key it printed, its output so far, and how it ends. */
async function npmStart(port: number) {
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
  const run = { child, output: '' };
  child.stdout!.on('data', (chunk: Buffer) => (run.output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (run.output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code ?? -1)));
  const [, gateway, apiKey] = await Promise.race([
    new Promise<RegExpMatchArray>((resolve) => {
      const look = () => {
        const ready = run.output.match(/\[volt\] ready\. Gateway: (\S+)[\s\S]*\[volt\] API key: (\S+)/);
        if (ready) resolve(ready);
        else setTimeout(look, 100);
      };
      look();
    }),
    exited.then((how) => {
      throw new Error(`npm start ended (${how}) before it was ready:\n${run.output.slice(-3000)}`);
    }),
  ]);
  return {
    child,
    gateway,
    apiKey,
    exited,
    /** Everything it printed so far. */
    get text() {
      return run.output;
    },
  };
}

describe('npm start', () => {
  it('migrates, starts every service, prints the gateway and a working key; a SIGTERM to npm alone stops it all', async () => {
    const port = await freePort();
    const started = await npmStart(port);
    const { gateway, apiKey } = started;
    expect(gateway).toBe(`http://127.0.0.1:${port}`);
    // The key it printed is the one it keeps in its state folder, and it works.
    expect(fs.readFileSync(path.join(stateDir, 'demo-api-key'), 'utf8').trim()).toBe(apiKey);
    const templates = await fetch(`${gateway}/api/volt/templates`, { headers: { 'X-API-Key': apiKey } });
    expect(templates.status).toBe(200);
    expect(((await templates.json()) as { templates: unknown[] }).templates.length).toBeGreaterThan(0);
    const output = started.text;
    const simulator = output.match(/provider-sim \(simulated Lium and Targon\): (\S+),/)![1];
    const services = [...output.match(/services \(\/health, \/ready, \/metrics\): (.*)/)![1].matchAll(/(\S+) (http:\/\/\S+?)(,|$)/g)].map((m) => [m[1], m[2]]);
    expect(services.map(([name]) => name)).toEqual(['pods', 'billing', 'ledger', 'fine-tune', 'attestation', 'gateway']);
    const everything = [...services.map(([, url]) => url), simulator];
    for (const url of everything) expect({ url, ready: (await fetch(`${url}/health`)).ok }).toEqual({ url, ready: true });

    started.child.kill('SIGTERM');
    expect(await started.exited).toBe(0);
    expect(started.text).toContain('[volt] stopping');
    for (const url of everything) expect({ url, answers: await answers(`${url}/health`) }).toEqual({ url, answers: false });
  }, 180_000);

  it('keeps a new key, and says so, when the one it kept was revoked through the API', async () => {
    const first = await npmStart(await freePort());
    const headers = { 'X-API-Key': first.apiKey, 'content-type': 'application/json' };
    // The last owner key stays until there is another.
    const other = await fetch(`${first.gateway}/api/volt/api-keys`, { method: 'POST', headers, body: JSON.stringify({ name: 'mine', role: 'owner' }) });
    expect(other.status).toBe(201);
    const own = ((await (await fetch(`${first.gateway}/api/volt/api-keys`, { headers })).json()) as { api_keys: { id: string; name: string }[] }).api_keys.find((k) => k.name === 'Admin key')!;
    const revoked = await fetch(`${first.gateway}/api/volt/api-keys`, { method: 'DELETE', headers, body: JSON.stringify({ key_id: own.id }) });
    expect(revoked.status).toBe(200);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = await npmStart(await freePort());
    try {
      expect(second.text).toContain('the demo API key kept from an earlier run was revoked; made a new one');
      expect(second.apiKey).not.toBe(first.apiKey);
      expect(fs.readFileSync(path.join(stateDir, 'demo-api-key'), 'utf8').trim()).toBe(second.apiKey);
      expect((await fetch(`${second.gateway}/api/volt/templates`, { headers: { 'X-API-Key': second.apiKey } })).status).toBe(200);
    } finally {
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    }
  }, 180_000);
});
