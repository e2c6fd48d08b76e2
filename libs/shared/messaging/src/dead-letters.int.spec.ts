import { randomUUID } from 'node:crypto';
import { Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandEnvelope } from '@volt/contracts';
import { metricsRegistry } from '@volt/telemetry';
import { createTestMessaging, readWholeStream, type TestMessaging } from '@volt/testing';
import { CommandBus, JetStreamTransport, MessageHandlers, discardDeadLetter, listDeadLetters, redriveDeadLetter } from './index';

let m: TestMessaging;
/** While true, the fragile handlers throw. */
let broken = true;
const calls: Record<string, number> = {};
const done: Record<string, number> = {};
/** Failures an event handler still has to go through before it succeeds, by event id. */
const failTimes: Record<string, number> = {};
/** While true, the Outage handler's database is out of reach (a real connection refused). */
let outage = false;
const count = (into: Record<string, number>, key: string) => (into[key] = (into[key] ?? 0) + 1);

function command(type: string, data: unknown, id = randomUUID()): CommandEnvelope {
  return { id, type, schemaVersion: 1, tenantId: 'org_t', correlationId: 'c', causationId: null, actor: { type: 'system', id: 'test' }, issuedAt: new Date().toISOString(), data };
}

@MessageHandlers()
class FragileHandlers {
  @MessagePattern('volt.cmd.test.Fragile')
  fragile(@Payload() message: CommandEnvelope) {
    count(calls, `cmd:${message.id}`);
    if (broken) throw new Error(`cannot handle ${message.id}\nsecond line`);
    count(done, `cmd:${message.id}`);
    return { ok: true, result: { handled: message.id } };
  }

  @MessagePattern('volt.cmd.test.Outage')
  async duringOutage(@Payload() message: CommandEnvelope) {
    count(calls, `cmd:${message.id}`);
    if (outage) await new Client({ host: '127.0.0.1', port: 1, connectionTimeoutMillis: 1_000 }).connect();
    count(done, `cmd:${message.id}`);
    return { ok: true, result: null };
  }

  @EventPattern('volt.evt.test.Happened')
  happened(@Payload() event: { id: string }) {
    count(calls, `fragile:${event.id}`);
    if (broken) throw new Error('event handler bug');
    if ((failTimes[event.id] ?? 0) > 0) {
      failTimes[event.id]--;
      throw new Error('transient');
    }
    count(done, `fragile:${event.id}`);
  }
}

@MessageHandlers()
class SteadyHandlers {
  @EventPattern('volt.evt.test.Happened')
  happened(@Payload() event: { id: string }) {
    count(done, `steady:${event.id}`);
  }
}

const apps: INestMicroservice[] = [];
async function start(service: string, controller: new () => unknown) {
  @Module({ controllers: [controller] })
  class M {}
  const app = await NestFactory.createMicroservice(M, { strategy: new JetStreamTransport({ nc: m.nc, names: m.names, service, maxDeliveries: 3 }), logger: false });
  await app.listen();
  apps.push(app);
}

async function until<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether a durable consumer has nothing left to deliver and nothing unacknowledged. */
async function drained(durable: string, stream: string): Promise<boolean> {
  const info = await (await jetstreamManager(m.nc)).consumers.info(stream, durable);
  return info.num_pending === 0 && info.num_ack_pending === 0;
}

/** `volt_dead_letters` as a scrape reads it now: pattern → count. */
async function keptNow(): Promise<Record<string, number>> {
  const { values } = await metricsRegistry().getSingleMetric('volt_dead_letters')!.get();
  return Object.fromEntries(values.map((v) => [v.labels.pattern, v.value]));
}

beforeAll(async () => {
  m = await createTestMessaging();
  await start('fragile-svc', FragileHandlers);
  await start('steady-svc', SteadyHandlers);
});
afterAll(async () => {
  for (const app of apps) await app.close();
  await m.cleanup();
});

describe('dead letters', () => {
  it('sets a command aside after its last failed delivery, tells the waiting caller, and runs it once when redriven', async () => {
    broken = true;
    const bus = new CommandBus(m.nc, m.names);
    const cmd = command('Fragile', { n: 1 });
    const reply = await bus.send('test', cmd, { timeoutMs: 20_000 });
    expect(reply).toMatchObject({ ok: false, error: { code: 'INTERNAL_ERROR' } });
    expect(reply.ok ? '' : reply.error.message).toContain('after 3 attempts');
    expect(calls[`cmd:${cmd.id}`]).toBe(3);
    const metric = (await metricsRegistry().getSingleMetric('volt_messages_handled_total')!.get()).values;
    expect(metric.find((v) => v.labels.pattern === 'volt.cmd.test.Fragile' && v.labels.outcome === 'dead_lettered')?.value).toBe(1);
    expect(metric.find((v) => v.labels.pattern === 'volt.cmd.test.Fragile' && v.labels.outcome === 'retry')?.value).toBe(2);
    expect(await keptNow()).toEqual({ 'volt.cmd.test.Fragile': 1 });

    // Off the command stream (nothing left to redeliver), onto the dead-letter stream with why.
    expect(await drained('fragile-svc-cmd-test', m.names.commandStream)).toBe(true);
    expect(await readWholeStream(m.nc, m.names.commandStream)).toEqual([]);
    const [letter, ...more] = await listDeadLetters(m.nc, m.names);
    expect(more).toEqual([]);
    expect(letter).toMatchObject({ pattern: 'volt.cmd.test.Fragile', consumer: 'fragile-svc-cmd-test', deliveries: 3, error: `Error: cannot handle ${cmd.id} second line`, messageId: cmd.id });
    expect(JSON.parse(letter.data)).toMatchObject({ id: cmd.id, type: 'Fragile', data: { n: 1 } });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(calls[`cmd:${cmd.id}`]).toBe(3); // set aside for good: no fourth delivery

    broken = false;
    expect(await redriveDeadLetter(m.nc, m.names, letter.seq)).toMatchObject({ seq: letter.seq, messageId: cmd.id });
    await until(() => done[`cmd:${cmd.id}`] === 1, 'the redriven command');
    await until(() => drained('fragile-svc-cmd-test', m.names.commandStream), 'the command consumer to settle');
    expect(calls[`cmd:${cmd.id}`]).toBe(4);
    expect(await listDeadLetters(m.nc, m.names)).toEqual([]);
    expect(await keptNow()).toEqual({});
    expect(await redriveDeadLetter(m.nc, m.names, letter.seq)).toBeNull();
    bus.stop();
  });

  it('sets aside an event for the one consumer that failed it, and redrives it to that consumer only', async () => {
    broken = true;
    const id = randomUUID();
    await jetstream(m.nc).publish(m.names.eventSubject('test', 'Happened'), JSON.stringify({ id }), { msgID: id });
    const [letter] = await until(async () => {
      const letters = (await listDeadLetters(m.nc, m.names)).filter((l) => l.messageId === id);
      return letters.length ? letters : undefined;
    }, 'the dead letter');
    expect(letter).toMatchObject({ pattern: 'volt.evt.test.Happened', consumer: 'fragile-svc-evt-test-Happened', deliveries: 3, error: 'Error: event handler bug', messageId: id });
    expect(done[`steady:${id}`]).toBe(1);

    broken = false;
    await redriveDeadLetter(m.nc, m.names, letter.seq);
    await until(() => done[`fragile:${id}`] === 1, 'the redriven event');
    // The steady consumer got the redriven copy too, and acknowledged it without handling it.
    await until(() => drained('steady-svc-evt-test-Happened', m.names.eventStream), 'the steady consumer to settle');
    expect((await readWholeStream(m.nc, m.names.eventStream)).filter((e) => e.data.id === id)).toHaveLength(2);
    expect(done[`steady:${id}`]).toBe(1);
    expect(calls[`fragile:${id}`]).toBe(4);
  });

  it('keeps a handler that fails only sometimes retrying rather than setting it aside early', async () => {
    broken = false;
    const id = randomUUID();
    // Two failures, then success: the third delivery is the last allowed, and it succeeds.
    failTimes[id] = 2;
    await jetstream(m.nc).publish(m.names.eventSubject('test', 'Happened'), JSON.stringify({ id }), { msgID: id });
    await until(() => done[`fragile:${id}`] === 1, 'the event, third time lucky');
    expect(calls[`fragile:${id}`]).toBe(3);
    expect(await listDeadLetters(m.nc, m.names)).toEqual([]);
  });

  it('never sets aside a message whose handler failed because the database was away, however long it lasts', async () => {
    outage = true;
    const bus = new CommandBus(m.nc, m.names);
    const cmd = command('Outage', {});
    await bus.post('test', cmd);
    // Two deliveries past the limit of three, each refused a connection to the database.
    await until(() => (calls[`cmd:${cmd.id}`] ?? 0) >= 5, 'deliveries past the limit', 20_000);
    expect(done[`cmd:${cmd.id}`]).toBeUndefined();
    expect((await listDeadLetters(m.nc, m.names)).filter((l) => l.messageId === cmd.id)).toEqual([]);
    outage = false;
    await until(() => done[`cmd:${cmd.id}`] === 1, 'the command once the database is back', 20_000);
    expect((await listDeadLetters(m.nc, m.names)).filter((l) => l.messageId === cmd.id)).toEqual([]);
    bus.stop();
  }, 45_000);

  it('sets aside a command that no instance has a handler for once its deliveries are spent', async () => {
    const bus = new CommandBus(m.nc, m.names);
    const cmd = command('Unheard', {});
    // Offered every 5 s to a service that cannot handle it: three deliveries, then set aside.
    const reply = await bus.send('test', cmd, { timeoutMs: 30_000 });
    expect(reply).toMatchObject({ ok: false, error: { code: 'INTERNAL_ERROR' } });
    const [letter] = (await listDeadLetters(m.nc, m.names)).filter((l) => l.messageId === cmd.id);
    expect(letter).toMatchObject({ pattern: 'volt.cmd.test.Unheard', consumer: 'fragile-svc-cmd-test', deliveries: 3, error: 'Error: no handler for volt.cmd.test.Unheard in service fragile-svc' });
    await discardDeadLetter(m.nc, m.names, letter.seq);
    bus.stop();
  }, 40_000);

  it('discards a dead letter for good', async () => {
    broken = true;
    const bus = new CommandBus(m.nc, m.names);
    const cmd = command('Fragile', { n: 2 });
    expect(await bus.send('test', cmd, { timeoutMs: 20_000 })).toMatchObject({ ok: false });
    const [letter] = (await listDeadLetters(m.nc, m.names)).filter((l) => l.messageId === cmd.id);
    expect(await discardDeadLetter(m.nc, m.names, letter.seq)).toMatchObject({ messageId: cmd.id });
    expect(await listDeadLetters(m.nc, m.names)).toEqual([]);
    expect(await discardDeadLetter(m.nc, m.names, letter.seq)).toBeNull();
    broken = false;
    await new Promise((r) => setTimeout(r, 500));
    expect(done[`cmd:${cmd.id}`]).toBeUndefined();
    bus.stop();
  });

  it('lists the letters left after some were taken from the middle, oldest first, up to a limit', async () => {
    const js = jetstream(m.nc);
    const seqs: number[] = [];
    for (let i = 0; i < 7; i++) {
      const h = headers();
      h.set('Volt-Dead-Subject', 'volt.cmd.test.Listed');
      h.set('Volt-Dead-Consumer', 'listed-svc-cmd-test');
      h.set('Volt-Dead-Sequence', String(100 + i));
      h.set('Volt-Dead-Deliveries', '3');
      h.set('Volt-Dead-Error', `Error: number ${i}`);
      h.set('Volt-Dead-Message-Id', `listed-${i}`);
      seqs.push((await js.publish(m.names.deadLetterSubject('volt.cmd.test.Listed'), JSON.stringify({ i }), { headers: h })).seq);
    }
    for (const i of [1, 2, 4]) await discardDeadLetter(m.nc, m.names, seqs[i]);
    const listed = await listDeadLetters(m.nc, m.names);
    expect(listed.map((l) => l.messageId)).toEqual(['listed-0', 'listed-3', 'listed-5', 'listed-6']);
    expect(listed[1]).toMatchObject({ seq: seqs[3], pattern: 'volt.cmd.test.Listed', consumer: 'listed-svc-cmd-test', streamSequence: 103, deliveries: 3, error: 'Error: number 3', data: '{"i":3}' });
    expect((await listDeadLetters(m.nc, m.names, 2)).map((l) => l.messageId)).toEqual(['listed-0', 'listed-3']);
    for (const letter of listed) await discardDeadLetter(m.nc, m.names, letter.seq);
    expect(await listDeadLetters(m.nc, m.names)).toEqual([]);
  });
});
