import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, jetstreamManager, type ConsumerConfig, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import type { MessagingNames } from './names';

export interface StreamOptions {
  /** How long JetStream remembers a Nats-Msg-Id to drop a duplicate publish. */
  duplicateWindowMs?: number;
  storage?: 'file' | 'memory';
  /** Copies of each stream on a NATS cluster (1 on a single server; 3 rides out the loss of a server). */
  replicas?: number;
}

async function upsertStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.add(config);
  } catch (error) {
    // Already there with another configuration: bring it to this one.
    if (!/already in use/i.test((error as Error).message)) throw error;
    const { name, retention: _retention, storage: _storage, ...update } = config;
    await jsm.streams.update(name, update);
  }
}

/** Creates (or updates) the command, event and dead-letter streams. Safe to call on every start. */
export async function ensureStreams(nc: NatsConnection, names: MessagingNames, options: StreamOptions = {}): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const storage = options.storage === 'memory' ? StorageType.Memory : StorageType.File;
  const duplicate_window = nanos(options.duplicateWindowMs ?? 120_000);
  const num_replicas = options.replicas ?? 1;
  const p = names.prefix ? `${names.prefix}.` : '';
  await upsertStream(jsm, {
    name: names.commandStream,
    subjects: [`${p}volt.cmd.>`],
    // A command goes to one service (its filter); once acknowledged it is done.
    retention: RetentionPolicy.Workqueue,
    storage,
    num_replicas,
    duplicate_window,
    max_age: nanos(7 * 24 * 3600_000),
  });
  await upsertStream(jsm, {
    name: names.eventStream,
    subjects: [`${p}volt.evt.>`],
    retention: RetentionPolicy.Limits,
    storage,
    num_replicas,
    duplicate_window,
    max_age: nanos(30 * 24 * 3600_000),
  });
  await upsertStream(jsm, {
    name: names.deadLetterStream,
    subjects: [`${p}volt.dead.>`],
    // Kept until an operator redrives or discards each one (volt-admin dead-letters): no age limit.
    retention: RetentionPolicy.Limits,
    storage,
    num_replicas,
    duplicate_window,
  });
}

/** Creates a durable pull consumer, or brings an existing one to this configuration. */
export async function ensureConsumer(
  nc: NatsConnection,
  stream: string,
  config: { durable_name: string; filter_subject: string; ack_wait_ms?: number; max_deliver?: number },
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const wanted: Partial<ConsumerConfig> = {
    durable_name: config.durable_name,
    filter_subject: config.filter_subject,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(config.ack_wait_ms ?? 30_000),
    max_deliver: config.max_deliver ?? -1,
    max_ack_pending: 1000,
  };
  try {
    await jsm.consumers.add(stream, wanted);
  } catch (error) {
    if (!/already in use|already exists/i.test((error as Error).message)) throw error;
    const { durable_name: _d, deliver_policy: _p, ...update } = wanted;
    await jsm.consumers.update(stream, config.durable_name, update);
  }
}
