import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_MESSAGE_BYTES } from '@volt/messaging';
import { startService, type RunningService } from '@volt/platform';
import { TEST_NATS_URL, createTestDatabase, createTestMessaging, type TestDatabase, type TestMessaging } from '@volt/testing';
import { allMigrations } from '@volt/schema';
import { attestationService } from '../../apps/attestation/src/attestation.service';
import { eventually } from '../support/pods';
import { answers, freePort } from '../support/process';

// A nats-server of this file's own (the machine's real binary) configured, as an operator might,
// to take messages of at most 64 KiB: too small for the largest event the store accepts.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'volt-nats-small-'));
let server: ChildProcess | undefined;
let smallUrl = '';
let db: TestDatabase;
let messaging: TestMessaging;

beforeAll(async () => {
  const port = await freePort();
  const conf = path.join(dir, 'nats.conf');
  fs.writeFileSync(conf, `listen: 127.0.0.1:${port}\nmax_payload: 65536\njetstream { store_dir: "${dir}" }\n`);
  server = spawn('nats-server', ['-c', conf], { stdio: 'ignore' });
  await eventually('nats-server to listen', async () => (await answers(port)) || undefined);
  smallUrl = `nats://127.0.0.1:${port}`;
  db = await createTestDatabase(allMigrations);
  messaging = await createTestMessaging();
});
afterAll(async () => {
  server?.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
  await messaging?.cleanup();
  await db?.drop();
});

const start = (natsUrl: string): Promise<RunningService> =>
  startService(attestationService, { DATABASE_URL: db.url, NATS_URL: natsUrl, VOLT_NATS_PREFIX: messaging.prefix, PORT: '0', LOG_LEVEL: 'silent' });

describe('a service and the max_payload of its NATS server', () => {
  it('refuses to start on a nats-server whose max_payload is below the largest event message, saying what to set', async () => {
    const refused = await start(smallUrl).then(
      async (running) => (await running.stop(), undefined),
      (error: Error) => error,
    );
    expect(refused?.message).toContain('at most 65536 bytes (max_payload)');
    expect(refused?.message).toContain(`set max_payload to ${EVENT_MESSAGE_BYTES} or more`);
  });

  it('starts on a nats-server with the default max_payload (1 MiB), which has room for every event', async () => {
    expect(EVENT_MESSAGE_BYTES).toBeLessThan(1024 * 1024);
    const running = await start(TEST_NATS_URL);
    expect(running.runtime.nc.info?.max_payload).toBeGreaterThanOrEqual(EVENT_MESSAGE_BYTES);
    expect((await fetch(`${running.url}/ready`)).status).toBe(200);
    await running.stop();
  });
});
