import { spawn } from 'node:child_process';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore, EventTooLargeError, MAX_EVENT_BYTES, eventStoreMigrations, type Database } from '@volt/event-store';
import { jetstreamManager } from '@nats-io/jetstream';
import { metricsRegistry } from '@volt/telemetry';
import { TEST_NATS_URL, createTestDatabase, terminateLockHolder, createTestMessaging, readWholeStream, testEvent, type TestDatabase, type TestMessaging } from '@volt/testing';
import { OutboxRelay, ensureStreams, messagingMigrations } from './index';

const RELAY_PROCESS = path.resolve(__dirname, '../../../../test/fixtures/relay-process.js');

async function until(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function eventIds(db: Database): Promise<string[]> {
  const rows = await db.selectFrom('es_events').select('event_id').orderBy('transaction_id').orderBy('position').execute();
  return rows.map((r) => r.event_id as string);
}

describe('outbox relay', () => {
  let t: TestDatabase;
  let m: TestMessaging;
  let store: EventStore;

  beforeAll(async () => {
    t = await createTestDatabase([eventStoreMigrations, messagingMigrations]);
    m = await createTestMessaging();
    store = new EventStore(t.db);
  });
  afterAll(async () => {
    await m.cleanup();
    await t.drop();
  });

  it('publishes every committed event once, in the global order, to volt.evt.<context>.<EventName>', async () => {
    const relay = new OutboxRelay(t.db, store, m.nc, m.names, { idleMs: 5 });
    relay.start();
    await Promise.all(
      Array.from({ length: 120 }, (_, i) => store.append(`pods:thing-${i % 7}`, [testEvent('ThingHappened', { i })], { expectedVersion: 'any' })),
    );
    await store.append('billing:meter-1', [testEvent('MeterStarted')], { expectedVersion: 'any' });
    const ids = await eventIds(t.db);
    await until(async () => (await readWholeStream(m.nc, m.names.eventStream)).length === ids.length);
    const onStream = await readWholeStream(m.nc, m.names.eventStream);
    expect(onStream.map((x) => x.msgId)).toEqual(ids);
    expect(onStream.map((x) => x.data.id)).toEqual(ids);
    expect(onStream.filter((x) => x.subject === `${m.prefix}.volt.evt.pods.ThingHappened`)).toHaveLength(120);
    expect(onStream.at(-1)!.subject).toBe(`${m.prefix}.volt.evt.billing.MeterStarted`);
    await relay.stop();
  });

  it('publishes the largest event the store takes, in any script, beside small ones', async () => {
    const relay = new OutboxRelay(t.db, store, m.nc, m.names, { idleMs: 5 });
    relay.start();
    // As many bytes as an event may take, mostly three-byte characters: JSON's escapes and
    // the envelope and headers around it still fit NATS's default max_payload.
    const text = (bytes: number) => '€'.repeat(Math.floor(bytes / 3));
    const envelopeBytes = Buffer.byteLength(JSON.stringify(testEvent('Large', { text: '' }).data)) + Buffer.byteLength(JSON.stringify(testEvent('Large').metadata));
    const largest = testEvent('Large', { text: text(MAX_EVENT_BYTES - envelopeBytes) });
    await store.append('pods:large-1', [largest], { expectedVersion: 0 });
    await expect(store.append('pods:large-2', [testEvent('Large', { text: text(MAX_EVENT_BYTES) })], { expectedVersion: 0 })).rejects.toBeInstanceOf(EventTooLargeError);
    await store.append('pods:large-3', [testEvent('Small')], { expectedVersion: 0 });
    const ids = await eventIds(t.db);
    await until(async () => (await readWholeStream(m.nc, m.names.eventStream)).length === ids.length);
    const onStream = await readWholeStream(m.nc, m.names.eventStream);
    expect(onStream.find((x) => x.subject.endsWith('.Large'))!.data.data).toEqual(largest.data);
    expect(onStream.at(-1)!.subject).toBe(`${m.prefix}.volt.evt.pods.Small`);
    await relay.stop();
  });

  it('with checkpoints spaced an hour apart, still writes the checkpoint once events stop, and publishes every event', async () => {
    const saved = async () =>
      (await sql<{ position: string }>`SELECT position::text FROM msg_relay_checkpoints WHERE name = 'sparse'`.execute(t.db)).rows[0]?.position ?? null;
    const relay = new OutboxRelay(t.db, store, m.nc, m.names, { name: 'sparse', idleMs: 5, checkpointEveryMs: 3_600_000 });
    relay.start();
    const before = (await readWholeStream(m.nc, m.names.eventStream)).length;
    // Ten waves, each published as it comes (the relay lingers 10 ms after each batch).
    for (let wave = 0; wave < 10; wave++) {
      await Promise.all(Array.from({ length: 5 }, (_, i) => store.append(`pods:sparse-${i}`, [testEvent('Sparse', { wave })], { expectedVersion: 'any' })));
    }
    const last = (await store.head()).position;
    // Nothing new after the last wave: the checkpoint is written then, once.
    await until(async () => (await saved()) === last);
    expect((await readWholeStream(m.nc, m.names.eventStream)).length).toBe(before + 50);
    await relay.stop();
  });

  it('lets exactly one relay be active, and another take over when it stops', async () => {
    const a = new OutboxRelay(t.db, store, m.nc, m.names, { idleMs: 5 });
    const b = new OutboxRelay(t.db, store, m.nc, m.names, { idleMs: 5 });
    a.start();
    b.start();
    await until(async () => a.isActive || b.isActive);
    await new Promise((r) => setTimeout(r, 700));
    expect([a.isActive, b.isActive].filter(Boolean)).toHaveLength(1);
    const [leader, follower] = a.isActive ? [a, b] : [b, a];
    await leader.stop();
    await until(async () => follower.isActive, 5_000);
    await store.append('pods:after-failover', [testEvent('Failover')], { expectedVersion: 'any' });
    const ids = await eventIds(t.db);
    await until(async () => (await readWholeStream(m.nc, m.names.eventStream)).length === ids.length);
    await follower.stop();
  });

  it('stops leading when its lock connection is lost, and one relay leads again', async () => {
    const a = new OutboxRelay(t.db, store, m.nc, m.names, { idleMs: 5, sealIntervalMs: 100 });
    const b = new OutboxRelay(t.db, store, m.nc, m.names, { idleMs: 5, sealIntervalMs: 100 });
    a.start();
    b.start();
    await until(async () => a.isActive || b.isActive);
    // The session holding the lock ends (a restart, a network cut): PostgreSQL frees the lock.
    await terminateLockHolder(t.db);
    await new Promise((r) => setTimeout(r, 2000));
    const seen: number[] = [];
    for (let i = 0; i < 20; i++) {
      seen.push([a.isActive, b.isActive].filter(Boolean).length);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(new Set(seen)).toEqual(new Set([1]));
    await store.append('pods:after-lost-lock', [testEvent('Failover')], { expectedVersion: 'any' });
    const ids = await eventIds(t.db);
    await until(async () => (await readWholeStream(m.nc, m.names.eventStream)).length === ids.length);
    await a.stop();
    await b.stop();
  });

  it('while it cannot publish, counts its failures and shows itself further and further behind; once it can, it catches up', async () => {
    const sample = async (name: string, label: string, value: string) =>
      (await metricsRegistry().getSingleMetric(name)!.get()).values.find((v) => v.labels[label] === value)?.value;
    const behind = () => sample('volt_relay_behind_seconds', 'relay', 'cut-off');
    const failures = async () => (await sample('volt_relay_failures_total', 'relay', 'cut-off')) ?? 0;
    // Its own subjects, with no event stream: the relay cannot even find where it left off.
    const cut = await createTestMessaging();
    await (await jetstreamManager(cut.nc)).streams.delete(cut.names.eventStream);
    await store.append('pods:while-cut-off', [testEvent('Waiting')], { expectedVersion: 'any' });
    const relay = new OutboxRelay(t.db, store, cut.nc, cut.names, { name: 'cut-off', idleMs: 5 });
    expect(await behind()).toBeUndefined();
    relay.start();
    await until(async () => (await failures()) >= 2);
    const first = (await behind())!;
    expect(first).toBeGreaterThanOrEqual(0.5);
    await new Promise((r) => setTimeout(r, 600));
    // Scraped again while still failing: further behind, not the value of its last success.
    expect((await behind())!).toBeGreaterThanOrEqual(first + 0.5);

    await ensureStreams(cut.nc, cut.names, { storage: 'file' });
    const ids = await eventIds(t.db);
    await until(async () => (await readWholeStream(cut.nc, cut.names.eventStream)).length === ids.length);
    await until(async () => (await behind())! < 0.5);
    const failed = await failures();
    await new Promise((r) => setTimeout(r, 600));
    expect(await failures()).toBe(failed);
    await relay.stop();
    // Stopped, it follows nothing and shows nothing.
    expect(await behind()).toBeUndefined();
    await cut.cleanup();
  });
});

describe('outbox relay killed with SIGKILL between publish and checkpoint', () => {
  let t: TestDatabase;
  let m: TestMessaging;

  beforeAll(async () => {
    t = await createTestDatabase([eventStoreMigrations, messagingMigrations]);
    // A duplicate window shorter than a restart: JetStream's dedup cannot hide a republish.
    m = await createTestMessaging({ duplicateWindowMs: 100 });
  });
  afterAll(async () => {
    await m.cleanup();
    await t.drop();
  });

  function runRelay(crashAfterBatches?: number) {
    const child = spawn(process.execPath, [RELAY_PROCESS, t.url, TEST_NATS_URL, m.prefix, ...(crashAfterBatches ? [String(crashAfterBatches)] : [])], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, RELAY_BATCH_SIZE: '25' },
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal, stderr })),
    );
    return { child, exited };
  }

  it('publishes every event exactly once across crashes', async () => {
    const store = new EventStore(t.db);
    let n = 0;
    for (let round = 0; round < 4; round++) {
      await Promise.all(
        Array.from({ length: 150 }, () => store.append(`pods:crash-${n % 9}`, [testEvent('Crashy', { n: n++ })], { expectedVersion: 'any' })),
      );
      const { exited } = runRelay(1 + round);
      const result = await exited;
      expect(result.signal, result.stderr).toBe('SIGKILL');
      await new Promise((r) => setTimeout(r, 150));
    }
    const final = runRelay();
    const ids = await eventIds(t.db);
    await until(async () => (await readWholeStream(m.nc, m.names.eventStream)).length >= ids.length, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    final.child.kill('SIGTERM');
    await final.exited;
    const onStream = await readWholeStream(m.nc, m.names.eventStream);
    expect(onStream.map((x) => x.msgId)).toEqual(ids);
  });
});
