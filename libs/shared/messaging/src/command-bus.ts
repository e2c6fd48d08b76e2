import { randomBytes } from 'node:crypto';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { TimeoutError, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { CommandEnvelope, CommandReply } from '@volt/contracts';
import { SpanKind, withSpan } from '@volt/telemetry';
import { Headers, type MessagingNames } from './names';
import type { ConnectionWatch } from './connect';
import { headersWithTrace } from './trace-headers';

/** The caller stopped waiting. The command is durable on JetStream and still completes. */
export class CommandTimeoutError extends Error {
  override readonly name = 'CommandTimeoutError';
  constructor(readonly commandId: string, readonly timeoutMs: number) {
    super(`no reply to command ${commandId} within ${timeoutMs} ms; it will still be processed`);
  }
}

/** NATS is down and did not come back within the grace: the command was not sent. */
export class MessagingUnavailableError extends Error {
  override readonly name = 'MessagingUnavailableError';
  constructor(readonly graceMs: number) {
    super(`NATS is unreachable and did not come back within ${graceMs} ms; the command was not sent`);
  }
}

export interface CommandBusOptions {
  /**
   * The connection's state. With it, a command sent while NATS is down waits at most
   * `reconnectGraceMs` (default 1 s: a restart's blip) for the connection to come back and is
   * then refused, rather than sit in the client's buffer until JetStream's publish times out.
   */
  watch?: ConnectionWatch;
  reconnectGraceMs?: number;
}

/** How long a caller waits for a reply unless it says otherwise. */
const DEFAULT_TIMEOUT_MS = 10_000;
const COMMAND_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Sends commands over JetStream (durable, deduplicated by command id) and waits
 * for the handler's reply on this instance's reply subject.
 */
export class CommandBus {
  readonly instance = randomBytes(8).toString('hex');
  private readonly pending = new Map<string, (reply: CommandReply) => void>();
  private readonly js: JetStreamClient;
  private sub: Subscription | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly names: MessagingNames,
    private readonly options: CommandBusOptions = {},
  ) {
    this.js = jetstream(nc);
  }

  start(): void {
    this.sub ??= this.nc.subscribe(this.names.replyFilter(this.instance), {
      callback: (error, msg) => {
        if (error) return;
        const id = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
        let reply: CommandReply;
        try {
          reply = msg.json<CommandReply>();
        } catch {
          return; // not a reply of ours; the caller times out rather than the process failing
        }
        this.pending.get(id)?.(reply);
      },
    });
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
  }

  async send<T = unknown>(context: string, command: CommandEnvelope, options: { timeoutMs?: number } = {}): Promise<CommandReply<T>> {
    if (!COMMAND_ID.test(command.id)) throw new Error(`command id must match ${COMMAND_ID}: ${command.id}`);
    this.start();
    const subject = this.names.commandSubject(context, command.type);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const { watch, reconnectGraceMs = 1_000 } = this.options;
    if (watch && !(await watch.whenConnected(reconnectGraceMs))) throw new MessagingUnavailableError(reconnectGraceMs);
    return withSpan(`${this.names.pattern(subject)} send`, { kind: SpanKind.PRODUCER, attributes: { 'messaging.system': 'nats', 'messaging.destination.name': subject, 'messaging.message.id': command.id } }, async () => {
      let timer: NodeJS.Timeout | undefined;
      const reply = new Promise<CommandReply<T>>((resolve, reject) => {
        timer = setTimeout(() => {
          this.pending.delete(command.id);
          reject(new CommandTimeoutError(command.id, timeoutMs));
        }, timeoutMs);
        this.pending.set(command.id, (r) => {
          clearTimeout(timer);
          this.pending.delete(command.id);
          resolve(r as CommandReply<T>);
        });
      });
      // Handled from the start: a publish slower than the timeout must not leave the timeout's
      // rejection unhandled for a moment (the caller still gets it: `reply` is what is returned).
      reply.catch(() => undefined);
      try {
        await this.publish(subject, command, this.names.replySubject(this.instance, command.id), timeoutMs);
      } catch (error) {
        // No reply is coming (refused, or stored too late to answer in time), so stop waiting.
        clearTimeout(timer);
        this.pending.delete(command.id);
        // JetStream did not acknowledge in time: it may have stored the command, which then
        // runs. Not "not sent": the caller must not tell anyone nothing happened.
        if (error instanceof TimeoutError) throw new CommandTimeoutError(command.id, timeoutMs);
        throw error;
      }
      return reply;
    });
  }

  /**
   * Queues a command without waiting for its answer: resolves once JetStream has stored it (the
   * handler will run it, whenever it can), for a caller that needs it done but not its reply.
   */
  async post(context: string, command: CommandEnvelope): Promise<void> {
    if (!COMMAND_ID.test(command.id)) throw new Error(`command id must match ${COMMAND_ID}: ${command.id}`);
    const subject = this.names.commandSubject(context, command.type);
    await withSpan(`${this.names.pattern(subject)} send`, { kind: SpanKind.PRODUCER, attributes: { 'messaging.system': 'nats', 'messaging.destination.name': subject, 'messaging.message.id': command.id } }, () =>
      this.publish(subject, command, null),
    );
  }

  private async publish(subject: string, command: CommandEnvelope, replyTo: string | null, timeoutMs?: number): Promise<void> {
    const h = headersWithTrace();
    if (replyTo) h.set(Headers.replyTo, replyTo);
    const envelope: CommandEnvelope = { ...command, trace: { traceparent: h.get(Headers.traceparent) || undefined, tracestate: h.get(Headers.tracestate) || undefined } };
    // The acknowledgement is waited for at most as long as the caller waits for the reply.
    await this.js.publish(subject, JSON.stringify(envelope), { msgID: command.id, headers: h, ...(timeoutMs ? { timeout: timeoutMs } : {}) });
  }
}
