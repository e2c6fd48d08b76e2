import { randomUUID } from 'node:crypto';
import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { jetstream } from '@nats-io/jetstream';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandEnvelope } from '@volt/contracts';
import { eventStoreMigrations } from '@volt/event-store';
import { createTestDatabase, createTestMessaging, type TestDatabase, type TestMessaging } from '@volt/testing';
import { CommandBus, CommandTimeoutError, JetStreamContext, JetStreamTransport, handleOnce, messagingMigrations, messagingNames } from './index';

let t: TestDatabase;
let m: TestMessaging;
const handled: Record<string, number> = {};
const seenBy: Record<string, string> = {};
let failFirst = new Set<string>();

function command(type: string, data: unknown, id = randomUUID()): CommandEnvelope {
  return { id, type, schemaVersion: 1, tenantId: 'org_t', correlationId: 'c', causationId: null, actor: { type: 'system', id: 'test' }, issuedAt: new Date().toISOString(), data };
}

function makeController(instance: string) {
  @Controller()
  class TestHandlers {
    @MessagePattern('volt.cmd.test.Echo')
    async echo(@Payload() message: CommandEnvelope<{ text: string; delayMs?: number }>, @Ctx() ctx: JetStreamContext) {
      if (message.data.delayMs) await new Promise((r) => setTimeout(r, message.data.delayMs));
      if (failFirst.has(message.id) && ctx.getRedeliveries() === 0) throw new Error('transient failure');
      handled[message.id] = (handled[message.id] ?? 0) + 1;
      seenBy[message.id] = instance;
      return { ok: true, result: { echo: message.data.text, redeliveries: ctx.getRedeliveries() } };
    }

    @EventPattern<string>('volt.evt.test.Deposited')
    async deposited(@Payload() event: { id: string; data: { amount: number } }, @Ctx() ctx: JetStreamContext) {
      await handleOnce(t.db, 'test-balances', event.id, async (trx) => {
        await sql`UPDATE test_balance SET amount = amount + ${event.data.amount}`.execute(trx);
      });
      // The first delivery dies after its work committed, before the ack: it comes again.
      if (ctx.getRedeliveries() === 0) throw new Error('crash before ack');
    }
  }
  @Module({ controllers: [TestHandlers] })
  class TestModule {}
  return TestModule;
}

const apps: INestMicroservice[] = [];
async function startInstance(instance: string) {
  const app = await NestFactory.createMicroservice(makeController(instance), {
    strategy: new JetStreamTransport({ nc: m.nc, names: m.names, service: 'test-svc' }),
    logger: false,
  });
  await app.listen();
  apps.push(app);
}

beforeAll(async () => {
  t = await createTestDatabase([eventStoreMigrations, messagingMigrations]);
  m = await createTestMessaging();
  await sql`CREATE TABLE test_balance (amount bigint NOT NULL); INSERT INTO test_balance VALUES (0)`.execute(t.db);
  await startInstance('a');
  await startInstance('b');
});
afterAll(async () => {
  for (const app of apps) await app.close();
  await m.cleanup();
  await t.drop();
});

describe('JetStream transport and command bus', () => {
  it('answers a command through the reply path', async () => {
    const bus = new CommandBus(m.nc, m.names);
    const reply = await bus.send('test', command('Echo', { text: 'hi' }));
    expect(reply).toEqual({ ok: true, result: { echo: 'hi', redeliveries: 0 } });
    bus.stop();
  });

  it('handles each command once across a queue of instances, even when sent twice with the same id', async () => {
    const bus = new CommandBus(m.nc, m.names);
    const ids = Array.from({ length: 30 }, () => randomUUID());
    await Promise.all(ids.map((id) => bus.send('test', command('Echo', { text: id }, id))));
    // The same command ids again: JetStream drops them as duplicates, nobody handles them twice.
    await Promise.all(ids.map((id) => bus.send('test', command('Echo', { text: id }, id), { timeoutMs: 300 }).catch((e) => e)));
    await new Promise((r) => setTimeout(r, 300));
    for (const id of ids) expect(handled[id]).toBe(1);
    expect(new Set(ids.map((id) => seenBy[id])).size).toBeGreaterThanOrEqual(1);
    bus.stop();
  });

  it('still completes a command whose caller stopped waiting', async () => {
    const bus = new CommandBus(m.nc, m.names);
    const c = command('Echo', { text: 'slow', delayMs: 400 });
    await expect(bus.send('test', c, { timeoutMs: 50 })).rejects.toBeInstanceOf(CommandTimeoutError);
    const deadline = Date.now() + 5000;
    while (!handled[c.id] && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(handled[c.id]).toBe(1);
    bus.stop();
  });

  it('queues a posted command without waiting for its answer, and its handler runs it once', async () => {
    const bus = new CommandBus(m.nc, m.names);
    const c = command('Echo', { text: 'posted', delayMs: 300 });
    const started = Date.now();
    await bus.post('test', c);
    expect(handled[c.id]).toBeUndefined(); // stored, not yet handled: post did not wait for it
    expect(Date.now() - started).toBeLessThan(300);
    await bus.post('test', c); // the same id again: dropped by JetStream as a repeat
    const deadline = Date.now() + 5000;
    while (!handled[c.id] && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 500));
    expect(handled[c.id]).toBe(1);
    await expect(new CommandBus(m.nc, messagingNames(`nostream${randomUUID().slice(0, 8)}`)).post('test', command('Echo', { text: 'lost' }))).rejects.toThrow();
    bus.stop();
  });

  it('fails a command that could not be sent at once, and nothing fails later', async () => {
    // No stream takes this prefix's commands: JetStream refuses the publish.
    const bus = new CommandBus(m.nc, messagingNames(`nostream${randomUUID().slice(0, 8)}`));
    await expect(bus.send('test', command('Echo', { text: 'lost' }), { timeoutMs: 50 })).rejects.not.toBeInstanceOf(CommandTimeoutError);
    // Past the timeout: a timer left behind would reject a promise nobody awaits (vitest fails on it).
    await new Promise((r) => setTimeout(r, 150));
    bus.stop();
  });

  it('calls a command whose storing JetStream did not acknowledge in time a timeout (it may run), not unsent', async () => {
    // No stream takes this prefix's commands, but something listens there and never answers:
    // the publish's acknowledgement times out, as when JetStream is too slow to say it stored it.
    const names = messagingNames(`slowack${randomUUID().slice(0, 8)}`);
    const silent = m.nc.subscribe(names.commandFilter('test'));
    const bus = new CommandBus(m.nc, names);
    await expect(bus.send('test', command('Echo', { text: 'unacknowledged' }), { timeoutMs: 300 })).rejects.toBeInstanceOf(CommandTimeoutError);
    silent.unsubscribe();
    bus.stop();
  });

  it('times out a command whose publish outlasts the wait, without an unhandled rejection', async () => {
    const bus = new CommandBus(m.nc, m.names);
    // A wait of 0 ms ends while JetStream is still storing a large command and acknowledging it.
    await expect(bus.send('test', command('Echo', { text: 'x'.repeat(800_000) }), { timeoutMs: 0 })).rejects.toBeInstanceOf(CommandTimeoutError);
    await new Promise((r) => setTimeout(r, 50));
    bus.stop();
  });

  it('redelivers a command whose handler failed, and replies once it succeeds', async () => {
    const bus = new CommandBus(m.nc, m.names);
    const c = command('Echo', { text: 'again' });
    failFirst = new Set([c.id]);
    const reply = await bus.send('test', c, { timeoutMs: 10_000 });
    expect(reply).toEqual({ ok: true, result: { echo: 'again', redeliveries: 1 } });
    bus.stop();
  });

  it('terminates a message that is not JSON instead of redelivering it forever, and keeps serving', async () => {
    const js = jetstream(m.nc);
    await js.publish(m.names.commandSubject('test', 'Echo'), 'not json {', { msgID: randomUUID() });
    const bus = new CommandBus(m.nc, m.names);
    expect(await bus.send('test', command('Echo', { text: 'after' }))).toMatchObject({ ok: true, result: { echo: 'after' } });
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const jsm = await jetstreamManager(m.nc);
    // The reply goes out just before the ack; give the acks a moment, then nothing may be outstanding.
    let info = await jsm.consumers.info(m.names.commandStream, 'test-svc-cmd-test');
    for (let i = 0; i < 40 && info.num_ack_pending + info.num_pending > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      info = await jsm.consumers.info(m.names.commandStream, 'test-svc-cmd-test');
    }
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
    expect(info.num_redelivered).toBe(0);
    bus.stop();
  });

  it('records handled events so a redelivery changes nothing', async () => {
    const js = jetstream(m.nc);
    for (const amount of [10, 20, 30]) {
      const id = randomUUID();
      await js.publish(m.names.eventSubject('test', 'Deposited'), JSON.stringify({ id, data: { amount } }), { msgID: id });
    }
    const deadline = Date.now() + 10_000;
    let handledRows = 0;
    while (Date.now() < deadline) {
      handledRows = Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM msg_handled WHERE consumer = 'test-balances'`.execute(t.db)).rows[0].n);
      if (handledRows === 3) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(handledRows).toBe(3);
    // Wait past the redeliveries (each first delivery threw after committing).
    await new Promise((r) => setTimeout(r, 1500));
    const balance = await sql<{ amount: string }>`SELECT amount::text FROM test_balance`.execute(t.db);
    expect(balance.rows[0].amount).toBe('60');
  });
});

describe('a handler that runs longer than the ack wait', () => {
  it('is not given to another instance while it works', async () => {
    const own = await createTestMessaging();
    const slow: INestMicroservice[] = [];
    try {
      for (const instance of ['slow-a', 'slow-b']) {
        const app = await NestFactory.createMicroservice(makeController(instance), {
          strategy: new JetStreamTransport({ nc: own.nc, names: own.names, service: 'test-slow', ackWaitMs: 1_000 }),
          logger: false,
        });
        await app.listen();
        slow.push(app);
      }
      const bus = new CommandBus(own.nc, own.names);
      const c = command('Echo', { text: 'slow', delayMs: 3_500 });
      const reply = await bus.send('test', c, { timeoutMs: 10_000 });
      expect(reply).toEqual({ ok: true, result: { echo: 'slow', redeliveries: 0 } });
      // Had JetStream redelivered it after 1 s, the other instance would have handled it too.
      await new Promise((r) => setTimeout(r, 1_500));
      expect(handled[c.id]).toBe(1);
      bus.stop();
    } finally {
      for (const app of slow) await app.close();
      await own.cleanup();
    }
  });
});
