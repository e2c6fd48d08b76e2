import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { START_OF_STORE, type EventEnvelope, type GlobalCheckpoint } from '@volt/contracts';
import { checkpointOf, compareCheckpoints, MAX_EVENT_BYTES, sealNextRange, Wakeable, withSessionLock, type Database, type EventStore } from '@volt/event-store';
import { BehindGauge, counter, gauge, type Logger } from '@volt/telemetry';
import { Headers, contextOfStream, type MessagingNames } from './names';
import { relayCheckpoint, saveRelayCheckpoint } from './relay-checkpoints';

export interface RelayOptions {
  name?: string;
  batchSize?: number;
  /** The first rest when the store has nothing new (rests grow to `maxIdleMs` while nothing comes). */
  idleMs?: number;
  /** Longest rest while nothing comes (the back-off's ceiling; 250 ms by default). */
  maxIdleMs?: number;
  /** How often the active relay seals new ranges of the global order. */
  sealIntervalMs?: number;
  /**
   * After a small batch (under 32 events), the wait before the next read (10 ms by default),
   * however many appends come meanwhile: a read then finds several of them, not one or two
   * (fewer reads, checkpoints and NATS writes), for a few ms more lag. A larger batch means the
   * relay is behind: it reads again at once.
   */
  lingerMs?: number;
  /**
   * Least time between two checkpoint writes while events flow (250 ms by default; one is also
   * written when the store has nothing new, and at a stop). Safe to be behind: a relay that
   * becomes active starts after the last event JetStream holds.
   */
  checkpointEveryMs?: number;
  logger?: Logger;
  /** Called once JetStream has acknowledged a batch, before the checkpoint is saved. */
  afterPublish?: (events: EventEnvelope[]) => void | Promise<void>;
}

/**
 * The most bytes the relay may need to publish as one message: an event's data and metadata (at
 * most MAX_EVENT_BYTES of JSON, which the store checks on append) with the envelope and headers
 * around them (ids, stream, times, trace context: a few hundred bytes; 16 KiB is ample).
 */
export const EVENT_MESSAGE_BYTES = MAX_EVENT_BYTES + 16 * 1024;

/**
 * Refuses a NATS server that could not take every event the store accepts. Its max_payload is
 * 1 MiB unless configured lower; below EVENT_MESSAGE_BYTES the relay would stop for good at the
 * first large event, and every event after it would wait behind it. Better not to start.
 */
export function requireRoomForEvents(nc: NatsConnection): void {
  const max = nc.info?.max_payload;
  if (max !== undefined && max < EVENT_MESSAGE_BYTES) {
    throw new Error(
      `nats-server takes messages of at most ${max} bytes (max_payload), and Volt publishes events of up to ${EVENT_MESSAGE_BYTES}: ` +
        `set max_payload to ${EVENT_MESSAGE_BYTES} or more in nats-server's configuration (its default, 1 MB, is enough)`,
    );
  }
}

/** A batch smaller than this is followed by the linger (see `lingerMs`). */
const SMALL_BATCH = 32;

const published = counter('volt_relay_published_total', 'Events published to JetStream by the outbox relay');
const lagSeconds = gauge('volt_relay_lag_seconds', 'Age of the newest event the relay has published, at publish time');
const failures = counter('volt_relay_failures_total', 'Times an outbox relay stopped on an error and started again', ['relay']);
const behind = new BehindGauge('volt_relay_behind_seconds', 'Seconds since the leading outbox relay last had published every event it could read', 'relay');

/**
 * The outbox relay: tails the event store in its global order and publishes each
 * committed event to volt.evt.<context>.<EventName>, its event id as Nats-Msg-Id.
 * Many processes may run one; a PostgreSQL advisory lock lets exactly one be
 * active. It saves its checkpoint after JetStream has acknowledged a batch, and
 * on becoming active it also reads back the last event JetStream holds, so a
 * crash between publish and checkpoint republishes nothing, even past the
 * stream's duplicate window.
 */
export class OutboxRelay {
  private stopped = false;
  private running: Promise<void> | undefined;
  private readonly idle: Wakeable;
  private active = false;
  private readonly name: string;
  private readonly lockKey: string;

  constructor(
    private readonly db: Database,
    private readonly store: EventStore,
    private readonly nc: NatsConnection,
    private readonly names: MessagingNames,
    private readonly options: RelayOptions = {},
  ) {
    this.name = options.name ?? 'outbox';
    this.idle = new Wakeable(options.idleMs ?? 20, options.maxIdleMs);
    this.lockKey = `volt-relay:${names.prefix}:${this.name}`;
  }

  get isActive(): boolean {
    return this.active;
  }

  start(): void {
    this.running ??= this.loop();
  }

  /** Something was appended: look now rather than at the next poll (a relay that is not leading waits for the lock as before). */
  nudge(): void {
    if (this.active) this.idle.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.idle.wake();
    await this.running;
    behind.forget(this);
  }

  /**
   * A relay that led and failed (NATS or PostgreSQL gone, a publish refused) is still the one
   * that should be publishing, so it stays behind (volt_relay_behind_seconds grows) until it
   * leads again and catches up, or finds another relay leading.
   */
  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!(await this.leadWhileLocked()).held) behind.forget(this);
      } catch (error) {
        failures.inc({ relay: this.name });
        this.options.logger?.error({ err: error }, 'outbox relay failed; retrying');
      }
      if (!this.stopped) await this.idle.sleep(500);
    }
  }

  /**
   * Leads for as long as this process holds the lock. The lock lives with its session: if that
   * connection is lost, PostgreSQL frees the lock for another relay, so this one stops before its
   * next batch rather than lead beside it.
   */
  private leadWhileLocked(): Promise<{ held: boolean }> {
    return withSessionLock(
      this.db,
      this.lockKey,
      async (lost) => {
        this.active = true;
        try {
          await this.lead(lost);
        } finally {
          this.active = false;
        }
      },
      () => this.idle.wake(),
    );
  }

  private async lead(lockLost: () => Error | undefined): Promise<void> {
    const js = jetstream(this.nc);
    const batchSize = this.options.batchSize ?? 1000;
    behind.follow(this, this.name);
    let checkpoint = await this.startingCheckpoint();
    let saved = checkpoint;
    let savedAt = Date.now();
    const save = async () => {
      if (compareCheckpoints(checkpoint, saved) === 0) return;
      await saveRelayCheckpoint(this.db, this.name, checkpoint);
      saved = checkpoint;
      savedAt = Date.now();
    };
    let lastSeal = 0;
    while (!this.stopped) {
      const lost = lockLost();
      if (lost) throw new Error(`lost the relay lock's connection (${lost.message}); no longer leading`);
      const readAt = performance.now();
      const events = await this.store.readAll(checkpoint, batchSize);
      if (events.length > 0) {
        await Promise.all(events.map((e) => js.publish(this.subjectOf(e), JSON.stringify(e), { msgID: e.id, headers: this.headersOf(e) })));
        await this.options.afterPublish?.(events);
        checkpoint = checkpointOf(events[events.length - 1]);
        if (Date.now() - savedAt >= (this.options.checkpointEveryMs ?? 250)) await save();
        published.inc(events.length);
        lagSeconds.set((Date.now() - Date.parse(events[events.length - 1].occurredAt)) / 1000);
      }
      if (events.length < batchSize) behind.reached(this, this.name, readAt);
      if (Date.now() - lastSeal >= (this.options.sealIntervalMs ?? 1000)) {
        lastSeal = Date.now();
        while (!this.stopped && (await sealNextRange(this.db))) {
          /* seal every complete range available now */
        }
      }
      if (events.length > 0) {
        this.idle.busy();
        if (events.length < SMALL_BATCH) await new Promise((r) => setTimeout(r, this.options.lingerMs ?? 10));
      } else {
        await save();
        await this.idle.rest();
      }
    }
    await save();
  }

  private subjectOf(e: EventEnvelope): string {
    return this.names.eventSubject(contextOfStream(e.streamId), e.type);
  }

  private headersOf(e: EventEnvelope) {
    const h = natsHeaders();
    h.set(Headers.eventId, e.id);
    h.set(Headers.position, e.position);
    h.set(Headers.transactionId, e.transactionId);
    if (e.trace?.traceparent) h.set(Headers.traceparent, e.trace.traceparent);
    if (e.trace?.tracestate) h.set(Headers.tracestate, e.trace.tracestate);
    return h;
  }

  private async startingCheckpoint(): Promise<GlobalCheckpoint> {
    const stored = (await relayCheckpoint(this.db, this.name)) ?? START_OF_STORE;
    const onStream = await this.lastPublished();
    return onStream && compareCheckpoints(onStream, stored) > 0 ? onStream : stored;
  }

  /** The last event JetStream holds, if it is one of this store's events. */
  private async lastPublished(): Promise<GlobalCheckpoint | null> {
    const jsm = await jetstreamManager(this.nc);
    const info = await jsm.streams.info(this.names.eventStream);
    if (info.state.last_seq === 0) return null;
    const last = await jsm.streams.getMessage(this.names.eventStream, { seq: info.state.last_seq });
    const eventId = last?.header?.get(Headers.eventId);
    if (!eventId) return null;
    const [event] = await this.store.readEvents([eventId]);
    return event ? checkpointOf(event) : null;
  }
}
