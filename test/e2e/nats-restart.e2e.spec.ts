import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats } from '@volt/messaging';
import { eventually, podReaches } from '../support/pods';
import { answers, freePort } from '../support/process';
import { startStack, type TestStack } from '../support/stack';

// A nats-server of this file's own (the machine's real binary, JetStream on disk), so that it can
// be killed and started again without disturbing any other test.
const store = fs.mkdtempSync(path.join(os.tmpdir(), 'volt-nats-'));
let port = 0;
let server: ChildProcess | undefined;
let stack: TestStack;

async function startNats(): Promise<void> {
  server = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store], { stdio: 'ignore' });
  await eventually('nats-server to listen', async () => (await answers(port)) || undefined);
}

async function killNats(): Promise<void> {
  const exited = new Promise((resolve) => server!.once('exit', resolve));
  server!.kill('SIGKILL');
  await exited;
}

beforeAll(async () => {
  port = await freePort();
  await startNats();
  stack = await startStack({ env: { NATS_URL: `nats://127.0.0.1:${port}`, VOLT_POD_CREATE_LIMIT: '1000' } });
});
afterAll(async () => {
  await stack?.stop();
  server?.kill('SIGKILL');
  fs.rmSync(store, { recursive: true, force: true });
});

const create = () => stack.call('POST', '/api/volt/pods', { body: { machine_id: 'mach_a100_01', template_id: 'tpl_pytorch21' } });

describe('NATS killed and started again', () => {
  it('answers 503 while it is down, and every service carries on once it is back, nothing lost', async () => {
    const before = await create();
    expect(before.status).toBe(201);
    await podReaches(stack, before.body.id, 'running');

    await killNats();
    // Health says so once the client has noticed, and a command is refused after a short grace
    // for a reconnect (1 s), not left in the client's buffer for JetStream's 5 s publish timeout.
    const health = await eventually('the gateway to report NATS down', async () => {
      const r = await fetch(`${stack.gateway.url}/health`);
      const body = (await r.json()) as { services: { nats: string } };
      return body.services.nats === 'unavailable' ? { status: r.status, body } : undefined;
    });
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ status: 'unavailable', services: { database: 'ok', nats: 'unavailable' } });
    const started = Date.now();
    const during = await create();
    const waited = Date.now() - started;
    expect(during.status).toBe(503);
    expect(during.body).toMatchObject({ error: true, status: 503, code: 'SERVICE_UNAVAILABLE' });
    expect(during.headers.get('retry-after')).toBe('2');
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThan(4_500);

    await startNats();
    // Commands flow again (gateway → pods → ledger and back) once the clients have reconnected.
    const after = await eventually('a create to go through', async () => {
      const r = await create();
      return r.status === 201 ? r : undefined;
    }, 30_000);
    await podReaches(stack, after.body.id, 'running');
    expect(((await (await fetch(`${stack.gateway.url}/health`)).json()) as { services: { nats: string } }).services.nats).toBe('ok');
    const stopped = await stack.call('POST', `/api/volt/pods/${before.body.id}/stop`);
    expect(stopped.body.status).toBe('stopping');
    await podReaches(stack, before.body.id, 'stopped');

    // The relay published what was appended across the outage: the first pod's stop and the
    // second pod's run are on the restarted server's event stream, from its store on disk.
    const nc = await connectNats(`nats://127.0.0.1:${port}`, 'test-nats-restart');
    try {
      const jsm = await jetstreamManager(nc);
      const name = stack.env.VOLT_NATS_PREFIX ? `${stack.env.VOLT_NATS_PREFIX}_VOLT_EVENTS` : 'VOLT_EVENTS';
      await eventually('the events of both pods on the stream', async () => {
        const subjects = (await jsm.streams.info(name, { subjects_filter: '>' })).state.subjects ?? {};
        const has = (type: string) => Object.keys(subjects).some((s) => s.endsWith(`.volt.evt.pods.${type}`));
        return has('PodStopped') && (subjects[`${stack.env.VOLT_NATS_PREFIX}.volt.evt.pods.PodRunning`] ?? 0) >= 2 ? true : undefined;
      });
    } finally {
      await nc.close();
    }
  });
});
