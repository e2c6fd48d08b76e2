import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventStoreMigrations } from '@volt/event-store';
import { EVENT_MESSAGE_BYTES, messagingMigrations } from '@volt/messaging';
import { TEST_NATS_URL, createTestDatabase, createTestMessaging, type TestDatabase, type TestMessaging } from '@volt/testing';
import { parseConfig, ServiceConfigSchema } from './config';
import { VoltRuntime } from './runtime';

// A nats-server of this file's own (the machine's real binary) configured to take messages of
// at most 64 KiB, as an operator might: too small for the largest event the store accepts.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'volt-nats-small-'));
let server: ChildProcess | undefined;
let smallUrl = '';
let t: TestDatabase;
let m: TestMessaging;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

async function listening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => (s.end(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nats-server did not listen on ${port}`);
}

beforeAll(async () => {
  const port = await freePort();
  const conf = path.join(dir, 'nats.conf');
  fs.writeFileSync(conf, `listen: 127.0.0.1:${port}\nmax_payload: 65536\njetstream { store_dir: "${dir}" }\n`);
  server = spawn('nats-server', ['-c', conf], { stdio: 'ignore' });
  await listening(port);
  smallUrl = `nats://127.0.0.1:${port}`;
  t = await createTestDatabase([]);
  m = await createTestMessaging();
});
afterAll(async () => {
  server?.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
  await m?.cleanup();
  await t?.drop();
});

const create = (natsUrl: string) =>
  VoltRuntime.create({
    service: 'test',
    config: parseConfig(ServiceConfigSchema, { DATABASE_URL: t.url, NATS_URL: natsUrl, VOLT_NATS_PREFIX: m.prefix, LOG_LEVEL: 'silent' }),
    migrations: [eventStoreMigrations, messagingMigrations],
  });

describe('a service runtime and the NATS server it is given', () => {
  it('refuses to start on a nats-server whose max_payload is below the largest event message, saying what to set', async () => {
    const refused = await create(smallUrl).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(refused?.message).toContain('at most 65536 bytes (max_payload)');
    expect(refused?.message).toContain(`set max_payload to ${EVENT_MESSAGE_BYTES} or more`);
  });

  it('starts on a nats-server with the default max_payload (1 MiB), which has room for every event', async () => {
    expect(EVENT_MESSAGE_BYTES).toBeLessThan(1024 * 1024);
    const runtime = await create(TEST_NATS_URL);
    expect(runtime.nc.info?.max_payload).toBeGreaterThanOrEqual(EVENT_MESSAGE_BYTES);
    await runtime.stop();
  });
});
