import { jetstream, type ConsumerMessages, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { Catch, Controller, UseFilters, applyDecorators, type RpcExceptionFilter } from '@nestjs/common';
import { BaseRpcContext, Server, type CustomTransportStrategy } from '@nestjs/microservices';
import { lastValueFrom, throwError, type Observable } from 'rxjs';
import type { CommandReply } from '@volt/contracts';
import { Gauge, SpanKind, contextFromTraceHeaders, counter, metricsRegistry, withSpan, type Logger } from '@volt/telemetry';
import { countDeadLetters, isTransientFailure, setAside } from './dead-letters';
import { Headers, type MessagingNames } from './names';
import { ensureConsumer, ensureStreams, type StreamOptions } from './streams';
import { traceCarrier } from './trace-headers';

/** What a handler can learn about the message it is handling. */
export class JetStreamContext extends BaseRpcContext<[string, MsgHdrs | undefined, number]> {
  /** The subject without any test prefix, e.g. `volt.evt.pods.SshKeyAdded`. */
  getPattern(): string {
    return this.args[0];
  }
  getHeaders(): MsgHdrs | undefined {
    return this.args[1];
  }
  /** How many times this message was delivered before (0 on first delivery). */
  getRedeliveries(): number {
    return this.args[2];
  }
}

export interface JetStreamTransportOptions {
  nc: NatsConnection;
  names: MessagingNames;
  /** Names the durable consumers: instances of one service share them as a queue. */
  service: string;
  /** Commands handled at once per instance. Events are handled one at a time, in order. */
  commandConcurrency?: number;
  /**
   * How long JetStream waits for an ack before it gives a message to another instance (10 s by
   * default). A handler still at work says so every third of it, so only a message whose instance
   * died waits this long, however long its handler runs.
   */
  ackWaitMs?: number;
  /**
   * Deliveries a message gets before a failing handler's message is set aside as a dead letter
   * (50 by default: with the growing delay between them, about 22 minutes of retries; a command
   * no instance has a handler for comes back every 5 s, so about 4 minutes).
   */
  maxDeliveries?: number;
  /** How the streams are made if they are not there yet (replicas on a cluster). */
  streams?: StreamOptions;
  logger?: Logger;
}

/**
 * Hands a handler's error to the transport as it was thrown. Nest's default filter for message
 * handlers replaces it with `{ status: 'error', message: 'Internal server error' }`, which would
 * leave the log and a dead letter without the cause.
 */
@Catch()
export class RethrowHandlerErrors implements RpcExceptionFilter<unknown> {
  catch(exception: unknown): Observable<never> {
    return throwError(() => exception);
  }
}

/**
 * Marks a class of message handlers: a Nest controller whose handlers' errors reach the transport
 * as thrown. (A filter on the class, because a hybrid app's microservice binds its handlers when
 * it is connected, before a global filter could be registered on it.)
 */
export function MessageHandlers(): ClassDecorator {
  return applyDecorators(Controller(), UseFilters(new RethrowHandlerErrors()));
}

const handledTotal = counter('volt_messages_handled_total', 'Messages handled from JetStream', ['pattern', 'outcome']);

/** Each running transport's count of the dead letters on the subjects it handles. */
const deadLetterCounts = new Set<() => Promise<Map<string, number>>>();
/**
 * `volt_dead_letters{pattern}`: the dead letters kept now, read from JetStream at each scrape (a
 * count that only an operator's redrive or discard brings down, so an alert can wait on it).
 * When NATS does not answer within a second, the last figures stay.
 */
function deadLettersGauge(): void {
  if (metricsRegistry().getSingleMetric('volt_dead_letters')) return;
  new Gauge({
    name: 'volt_dead_letters',
    help: 'Dead letters kept now (volt-admin dead-letters), by the subject they failed on',
    labelNames: ['pattern'],
    registers: [metricsRegistry()],
    async collect() {
      const all = await Promise.all([...deadLetterCounts].map((count) => count().catch(() => undefined)));
      if (all.some((counts) => counts === undefined)) return;
      this.reset();
      for (const counts of all) for (const [pattern, n] of counts!) this.set({ pattern }, n);
    },
  });
}

/**
 * A Nest transport strategy over JetStream durable pull consumers. Handlers are
 * plain `@MessagePattern('volt.cmd.<context>.<Command>')` (their return value is
 * the reply) and `@EventPattern('volt.evt.<context>.<Event>')`; they never touch
 * the NATS API. A message is acknowledged only after its handler succeeded; a
 * failure is negatively acknowledged with a growing delay, so it is redelivered, until its
 * last delivery fails too, for a reason other than an outage (a database or NATS away is waited
 * out however long it lasts): then it is set aside as a dead letter (see dead-letters.ts), and a
 * caller still waiting for a command's reply is told it failed.
 */
export class JetStreamTransport extends Server implements CustomTransportStrategy {
  private readonly running: ConsumerMessages[] = [];
  private readonly loops: Promise<void>[] = [];
  private readonly js: JetStreamClient;
  private readonly countDeadLetters = async () => {
    const handled = new Set(this.messageHandlers.keys());
    const counts = await countDeadLetters(this.options.nc, this.options.names);
    return new Map([...counts].filter(([pattern]) => handled.has(pattern)));
  };

  constructor(private readonly options: JetStreamTransportOptions) {
    super();
    this.js = jetstream(options.nc);
  }

  on(): void {
    /* no transport-level events to subscribe to */
  }

  private get maxDeliveries(): number {
    return this.options.maxDeliveries ?? 50;
  }

  private get ackWaitMs(): number {
    return this.options.ackWaitMs ?? 10_000;
  }

  unwrap<T>(): T {
    return this.options.nc as T;
  }

  async listen(callback: (error?: unknown) => void): Promise<void> {
    try {
      const { nc, names, service } = this.options;
      await ensureStreams(nc, names, this.options.streams);
      const patterns = [...this.messageHandlers.keys()];
      const commandContexts = new Set(patterns.filter((p) => p.startsWith('volt.cmd.')).map((p) => p.split('.')[2]));
      for (const context of commandContexts) {
        const durable = `${service}-cmd-${context}`;
        await ensureConsumer(nc, names.commandStream, { durable_name: durable, filter_subject: names.commandFilter(context), ack_wait_ms: this.ackWaitMs });
        await this.consume(names.commandStream, durable, this.options.commandConcurrency ?? 16);
      }
      for (const pattern of patterns.filter((p) => p.startsWith('volt.evt.'))) {
        const [, , context, type] = pattern.split('.');
        const durable = `${service}-evt-${context}-${type}`;
        await ensureConsumer(nc, names.eventStream, { durable_name: durable, filter_subject: names.eventSubject(context, type), ack_wait_ms: this.ackWaitMs });
        await this.consume(names.eventStream, durable, 1);
      }
      deadLettersGauge();
      deadLetterCounts.add(this.countDeadLetters);
      callback();
    } catch (error) {
      callback(error);
    }
  }

  async close(): Promise<void> {
    deadLetterCounts.delete(this.countDeadLetters);
    for (const messages of this.running) messages.stop();
    await Promise.allSettled(this.loops);
  }

  private async consume(stream: string, durable: string, concurrency: number): Promise<void> {
    const consumer = await this.js.consumers.get(stream, durable);
    // Pull requests expire after 5 s (the client's default is 30 s), with a heartbeat every 2.5 s:
    // on a cluster, the pulls waiting at a consumer leader that died are lost, and the client
    // pulls again only once two heartbeats are missed, so commands stalled for 30 s after a server
    // was killed and now resume within about 5 (test/e2e/nats-cluster). Idle, it is one pull per
    // consumer every 5 s.
    const messages = await consumer.consume({ max_messages: Math.max(concurrency * 4, 16), expires: 5_000 });
    this.running.push(messages);
    const inFlight = new Set<Promise<void>>();
    this.loops.push(
      (async () => {
        for await (const msg of messages) {
          // handle() answers every failure of a handler; what is left (an ack or nak on a closing
          // connection) must not end this loop, or the service would stop consuming.
          const task = this.handle(msg, durable)
            .catch((error: unknown) => this.options.logger?.error({ err: error, subject: msg.subject }, 'message could not be settled; it will be redelivered'))
            .finally(() => inFlight.delete(task));
          inFlight.add(task);
          if (inFlight.size >= concurrency) await Promise.race(inFlight);
        }
        await Promise.allSettled(inFlight);
      })(),
    );
  }

  private async handle(msg: JsMsg, durable: string): Promise<void> {
    const pattern = this.options.names.pattern(msg.subject);
    const redriveFor = msg.headers?.get(Headers.redriveFor);
    if (redriveFor && redriveFor !== durable) {
      // A dead letter sent back to another consumer of this subject: this one handled it already.
      msg.ack();
      return;
    }
    // Looked up directly: Nest's getHandlerByPattern first tries JSON.parse on the pattern, and
    // the SyntaxError every plain subject throws cost ~50 µs per message here (profiled).
    const handler = this.messageHandlers.get(pattern) ?? null;
    if (!handler) {
      // Nothing here handles it (a newer message type?): leave it for an instance that does, and
      // set it aside once no instance has taken it in all its deliveries (a misrouted command).
      if (msg.info.deliveryCount >= this.maxDeliveries) await this.deadLetter(msg, durable, pattern, false, new Error(`no handler for ${pattern} in service ${this.options.service}`));
      else msg.nak(5_000);
      return;
    }
    let payload: unknown;
    try {
      payload = msg.json();
    } catch {
      // Redelivering bytes that are not JSON can never succeed: drop them, loudly.
      this.options.logger?.error({ pattern, seq: msg.seq }, 'message is not JSON; terminated');
      handledTotal.inc({ pattern, outcome: 'malformed' });
      msg.term(); // no reason: nats-server 2.9 ignores +TERM with one
      return;
    }
    const ctx = new JetStreamContext([pattern, msg.headers, msg.info.deliveryCount - 1]);
    const heartbeat = setInterval(() => {
      try {
        msg.working();
      } catch {
        // A closing connection: the message is redelivered elsewhere, as after a crash.
      }
    }, this.ackWaitMs / 3);
    try {
      await withSpan(`${pattern} process`, { kind: SpanKind.CONSUMER, parent: contextFromTraceHeaders(traceCarrier(msg.headers)), attributes: { 'messaging.system': 'nats', 'messaging.destination.name': msg.subject } }, async () => {
        const result = await lastValueFrom(this.transformToObservable(await handler(payload, ctx)), { defaultValue: undefined });
        const replyTo = msg.headers?.get(Headers.replyTo);
        if (!handler.isEventHandler && replyTo) this.options.nc.publish(replyTo, JSON.stringify(result ?? null));
      });
      msg.ack();
      handledTotal.inc({ pattern, outcome: 'ok' });
    } catch (error) {
      if (msg.info.deliveryCount >= this.maxDeliveries && !isTransientFailure(error)) await this.deadLetter(msg, durable, pattern, Boolean(handler.isEventHandler), error);
      else {
        handledTotal.inc({ pattern, outcome: 'retry' });
        this.options.logger?.error({ err: error, pattern, redeliveries: ctx.getRedeliveries() }, 'message handler failed; will be redelivered');
        msg.nak(Math.min(30_000, 250 * 2 ** Math.min(ctx.getRedeliveries(), 7)));
      }
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Sets a message aside (dead-letters.ts), counts and logs it, and tells a waiting caller. */
  private async deadLetter(msg: JsMsg, durable: string, pattern: string, isEvent: boolean, error: unknown): Promise<void> {
    const deliveries = msg.info.deliveryCount;
    try {
      await setAside(this.js, this.options.names, msg, durable, error);
    } catch (storeError) {
      // Not stored: keep it on its own stream, to be set aside at its next delivery.
      this.options.logger?.error({ err: storeError, pattern }, 'a message that failed every delivery could not be set aside; will be redelivered');
      msg.nak(30_000);
      return;
    }
    handledTotal.inc({ pattern, outcome: 'dead_lettered' });
    this.options.logger?.error({ err: error, pattern, deliveries, consumer: durable }, 'message handler failed on every delivery; set aside as a dead letter (volt-admin dead-letters)');
    const replyTo = msg.headers?.get(Headers.replyTo);
    if (!isEvent && replyTo) {
      const reply: CommandReply = { ok: false, error: { code: 'INTERNAL_ERROR', message: `Volt could not complete this request after ${deliveries} attempts and has set it aside for an operator. Retry later; contact support if it persists.` } };
      this.options.nc.publish(replyTo, JSON.stringify(reply));
    }
  }
}
