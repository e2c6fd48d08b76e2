import type { GlobalCheckpoint } from '@volt/contracts';
import type { EventStore } from '@volt/event-store';
import { headersWithTrace, traceCarrier, type MessagingNames, type NatsConnection } from '@volt/messaging';
import type { ProjectionRunner } from '@volt/projections';
import { SpanKind, contextFromTraceHeaders, withSpan } from '@volt/telemetry';

const DIGITS = /^\d{1,20}$/;
const REACHED = 'reached';

/**
 * Read-your-writes across processes. Each read model is kept by the service that owns it, and
 * that service's own writes are waited for before it answers; but a read may follow a write
 * another process made (a hold the ledger placed for a pod create, a credit from volt-admin).
 * So a reader asks the owning service to catch up with the store's head before it reads: one
 * core NATS request, answered by any instance once its read models have applied everything up
 * to that point (an instance that has reached a checkpoint has applied, or seen another
 * instance apply, every event before it).
 */
export class CatchUps {
  constructor(
    private readonly nc: NatsConnection,
    private readonly names: MessagingNames,
    private readonly store: EventStore,
  ) {}

  /** Answers catch-up requests for `service`'s read models, kept by `projections` (one instance of a queue group answers each). */
  serve(service: string, projections: ProjectionRunner, timeoutMs = 2_000) {
    return this.nc.subscribe(this.names.catchUpSubject(service), {
      queue: service,
      callback: (error, msg) => {
        if (error) return;
        const checkpoint = parseCheckpoint(msg.string());
        if (!checkpoint) return void msg.respond('bad checkpoint');
        const attributes = { 'messaging.system': 'nats', 'messaging.destination.name': msg.subject };
        void withSpan(`volt.catchup.${service} process`, { kind: SpanKind.SERVER, parent: contextFromTraceHeaders(traceCarrier(msg.headers)), attributes }, () =>
          projections.waitFor(checkpoint, timeoutMs).then(
            () => msg.respond(REACHED),
            () => msg.respond('not reached'),
          ),
        );
      },
    });
  }

  /**
   * Resolves true once each service's read models have applied every event committed before the
   * call (one head read, then one request per service, at once); false when that could not be
   * had within `timeoutMs` (no instance up, or one too far behind): the caller then reads what is
   * there rather than fail.
   */
  async of(services: string | string[], timeoutMs = 2_000): Promise<boolean> {
    const list = typeof services === 'string' ? [services] : services;
    const head = JSON.stringify(await this.store.head());
    const reached = await Promise.all(list.map((service) => this.request(service, head, timeoutMs)));
    return reached.every(Boolean);
  }

  private request(service: string, head: string, timeoutMs: number): Promise<boolean> {
    const subject = this.names.catchUpSubject(service);
    return withSpan(`volt.catchup.${service} request`, { kind: SpanKind.CLIENT, attributes: { 'messaging.system': 'nats', 'messaging.destination.name': subject } }, async () => {
      try {
        const reply = await this.nc.request(subject, head, { timeout: timeoutMs, headers: headersWithTrace() });
        return reply.string() === REACHED;
      } catch {
        return false;
      }
    });
  }
}

function parseCheckpoint(text: string): GlobalCheckpoint | undefined {
  try {
    const { transactionId, position } = JSON.parse(text) as Partial<GlobalCheckpoint>;
    if (typeof transactionId === 'string' && typeof position === 'string' && DIGITS.test(transactionId) && DIGITS.test(position)) {
      return { transactionId, position };
    }
  } catch {
    // not JSON: refused below
  }
  return undefined;
}
