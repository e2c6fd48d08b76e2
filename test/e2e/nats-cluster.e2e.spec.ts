import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats } from '@volt/messaging';
import { eventually, podReaches } from '../support/pods';
import { freePort } from '../support/process';
import { startStack, type TestStack } from '../support/stack';

// A JetStream cluster of three nats-servers of this file's own (the machine's real binary), the
// services given all three and streams kept on each (VOLT_NATS_REPLICAS=3): losing the server
// that leads the command stream loses no command and stops nothing for long.
const nodes: { name: string; port: number; route: number; dir: string; process?: ChildProcess }[] = [];
let stack: TestStack;
let probe: NatsConnection;

function startNode(i: number): void {
  const n = nodes[i];
  const routes = nodes.filter((_, j) => j !== i).map((o) => `nats://127.0.0.1:${o.route}`);
  n.process = spawn('nats-server', ['-js', '-sd', n.dir, '-a', '127.0.0.1', '-p', String(n.port), '-n', n.name, '--cluster_name', 'volt-test', '--cluster', `nats://127.0.0.1:${n.route}`, '--routes', routes.join(',')], { stdio: 'ignore' });
}

async function killNode(name: string): Promise<void> {
  const n = nodes.find((o) => o.name === name)!;
  const exited = new Promise((resolve) => n.process!.once('exit', resolve));
  n.process!.kill('SIGKILL');
  await exited;
}

const streamName = (kind: 'COMMANDS' | 'EVENTS') => `${stack.env.VOLT_NATS_PREFIX}_VOLT_${kind}`;

beforeAll(async () => {
  for (let i = 0; i < 3; i++) nodes.push({ name: `volt-${i}`, port: await freePort(), route: await freePort(), dir: fs.mkdtempSync(path.join(os.tmpdir(), 'volt-nats-cluster-')) });
  for (let i = 0; i < 3; i++) startNode(i);
  const urls = nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(',');
  // JetStream answers once the three have met and chosen a leader for its metadata.
  probe = await eventually('the cluster to form', () => connectNats(urls, 'test-cluster-probe'), 20_000);
  await eventually('JetStream to answer on the cluster', async () => (await (await jetstreamManager(probe)).getAccountInfo()) !== undefined, 30_000);
  stack = await startStack({ env: { NATS_URL: urls, VOLT_NATS_REPLICAS: '3', VOLT_POD_CREATE_LIMIT: '1000' } });
}, 90_000);
afterAll(async () => {
  await stack?.stop();
  await probe?.close();
  for (const n of nodes) {
    n.process?.kill('SIGKILL');
    fs.rmSync(n.dir, { recursive: true, force: true });
  }
});

/**
 * A JetStream API call, retried: on a slow machine one can time out (5 s) while the cluster is
 * still settling (just formed, or electing after a kill), which says nothing about Volt.
 */
const jsApi = <T>(what: string, call: () => Promise<T>) => eventually(what, call, 30_000);

const create = () => stack.call('POST', '/api/volt/pods', { body: { machine_id: 'mach_h100_01', template_id: 'tpl_pytorch21' } });

describe('a three-server NATS cluster', () => {
  it('keeps both streams on every server, and carries on when the command stream’s leader is killed', async () => {
    // No API check on creating a manager: that is an unretried call (5 s) of its own.
    const jsm = await jetstreamManager(probe, { checkAPI: false });
    for (const kind of ['COMMANDS', 'EVENTS'] as const) {
      const info = await jsApi(`${kind} stream info`, () => jsm.streams.info(streamName(kind)));
      expect(info.config.num_replicas).toBe(3);
      expect(info.cluster?.replicas).toHaveLength(2);
    }
    const before = await create();
    expect(before.status).toBe(201);
    await podReaches(stack, before.body.id, 'running');

    const leader = (await jsApi('the command stream leader', () => jsm.streams.info(streamName('COMMANDS')))).cluster!.leader!;
    await killNode(leader);
    // The two left elect a new leader; the services' clients move to them. Commands flow again.
    let last: unknown;
    const after = await eventually('a create to go through', async () => {
      const r = await create();
      last = [r.status, r.body];
      return r.status === 201 ? r : undefined;
    }, 30_000).catch((error) => {
      throw new Error(`${(error as Error).message}; last answer ${JSON.stringify(last)}`);
    });
    await podReaches(stack, after.body.id, 'running');
    expect((await stack.call('POST', `/api/volt/pods/${before.body.id}/stop`)).status).toBe(200);
    await podReaches(stack, before.body.id, 'stopped');
    const survivors = await jsApi('a connection to the two left', () => connectNats(nodes.filter((n) => n.name !== leader).map((n) => `nats://127.0.0.1:${n.port}`).join(','), 'test-cluster-survivor'));
    try {
      const left = await jetstreamManager(survivors, { checkAPI: false });
      expect((await jsApi('the command stream info from the two left', () => left.streams.info(streamName('COMMANDS')))).cluster!.leader).not.toBe(leader);
      // Every event of both pods was published, on the streams the two servers still hold.
      await eventually('the events of both pods on the stream', async () => {
        const subjects = (await left.streams.info(streamName('EVENTS'), { subjects_filter: '>' })).state.subjects ?? {};
        const count = (type: string) => subjects[`${stack.env.VOLT_NATS_PREFIX}.volt.evt.pods.${type}`] ?? 0;
        return count('PodRunning') >= 2 && count('PodStopped') >= 1 ? true : undefined;
      }, 20_000);
    } finally {
      await survivors.close();
    }
  });
});
