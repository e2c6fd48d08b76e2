import type { Migration } from 'kysely/migration';
import { createDatabase, EventStore, migrateToLatest, type Database } from '@volt/event-store';
import { CommandBus, ConnectionWatch, connectNats, ensureStreams, messagingNames, OutboxRelay, requireRoomForEvents, type MessagingNames, type NatsConnection } from '@volt/messaging';
import { ProjectionRunner, type Projection } from '@volt/projections';
import { createLogger, type Logger } from '@volt/telemetry';
import { AppendSignal } from './append-signal';
import { CatchUps } from './catch-up';
import type { ServiceConfig } from './config';

export const RUNTIME = Symbol('VoltRuntime');

export interface RuntimeOptions {
  service: string;
  config: ServiceConfig;
  migrations: Record<string, Migration>[];
  projections?: Projection[];
  /** Run an outbox relay candidate in this process (one is active across all of them). */
  relay?: boolean;
  logger?: Logger;
}

/**
 * What a Volt service runs on: its database, the event store, NATS, its read
 * models and, if asked, an outbox relay. Ready once all of it has started.
 */
export class VoltRuntime {
  ready = false;
  readonly startedAt = new Date();
  /** Ask another service to catch its read models up before reading them (see CatchUps). */
  readonly catchUps: CatchUps;
  private catchUpRequests: ReturnType<CatchUps['serve']> | undefined;
  private readonly signal: AppendSignal;
  private signals: ReturnType<AppendSignal['listen']> | undefined;

  private constructor(
    readonly service: string,
    readonly logger: Logger,
    readonly db: Database,
    readonly store: EventStore,
    readonly nc: NatsConnection,
    readonly names: MessagingNames,
    readonly commands: CommandBus,
    readonly projections: ProjectionRunner,
    readonly relay: OutboxRelay | undefined,
    /** Whether NATS is reachable now (the client reconnects by itself; see ConnectionWatch). */
    readonly natsLink: ConnectionWatch,
  ) {
    this.catchUps = new CatchUps(nc, names, store);
    this.signal = new AppendSignal(nc, names);
  }

  static async create(options: RuntimeOptions): Promise<VoltRuntime> {
    const { config, service } = options;
    const logger = options.logger ?? createLogger(service, config.LOG_LEVEL);
    // Named, so that pg_stat_activity and PostgreSQL's logs tell which service a connection serves.
    const db = createDatabase(config.DATABASE_URL, { max: config.VOLT_DB_POOL_SIZE, application_name: `volt-${service}` });
    await migrateToLatest(db, ...options.migrations);
    const store = new EventStore(db);
    const nc = await connectNats(config.NATS_URL, service);
    try {
      requireRoomForEvents(nc);
    } catch (error) {
      await nc.close();
      await db.destroy();
      throw error;
    }
    const natsLink = new ConnectionWatch(nc);
    const names = messagingNames(config.VOLT_NATS_PREFIX);
    await ensureStreams(nc, names, { replicas: config.VOLT_NATS_REPLICAS });
    const maxIdleMs = config.VOLT_POLL_MAX_MS;
    const projections = new ProjectionRunner(db, store, options.projections ?? [], { logger, maxIdleMs });
    const relay = options.relay ? new OutboxRelay(db, store, nc, names, { logger, maxIdleMs }) : undefined;
    const runtime = new VoltRuntime(service, logger, db, store, nc, names, new CommandBus(nc, names, { watch: natsLink }), projections, relay, natsLink);
    store.onAppended(() => runtime.appended());
    return runtime;
  }

  /**
   * Something was appended in this process: its read models and relay look now rather than at
   * their next poll, and so do every other process's (AppendSignal). The event store says so
   * itself; code that appends inside its own SQL transactions (the ledger) calls this.
   */
  appended(): void {
    this.look();
    this.signal.announce();
  }

  private look(): void {
    this.projections.nudge();
    this.relay?.nudge();
  }

  /** Starts the background work: read models, relay, reply inbox. */
  async start(): Promise<void> {
    this.commands.start();
    await this.projections.catchUp();
    this.projections.start();
    if (this.projections.projections.length > 0) this.catchUpRequests = this.catchUps.serve(this.service, this.projections);
    this.signals = this.signal.listen(() => this.look());
    this.relay?.start();
  }

  async stop(): Promise<void> {
    this.ready = false;
    this.commands.stop();
    this.catchUpRequests?.unsubscribe();
    this.signals?.unsubscribe();
    await this.projections.stop();
    await this.relay?.stop();
    await this.nc.drain().catch(() => undefined);
    await this.db.destroy();
  }
}
