import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { Headers, connectNats, ensureStreams, messagingNames, type MessagingNames, type NatsConnection, type StreamOptions } from '@volt/messaging';

export const TEST_NATS_URL = process.env.VOLT_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

export interface TestMessaging {
  nc: NatsConnection;
  names: MessagingNames;
  prefix: string;
  /** Deletes this prefix's streams and closes the connection. */
  cleanup(): Promise<void>;
}

/**
 * A connection to the real nats-server with a subject and stream prefix of this
 * test file's own, so parallel files never consume each other's messages.
 */
export async function createTestMessaging(options: StreamOptions = {}): Promise<TestMessaging> {
  const prefix = `t${randomBytes(5).toString('hex')}`;
  const names = messagingNames(prefix);
  const nc = await connectNats(TEST_NATS_URL, `test-${prefix}`);
  await ensureStreams(nc, names, { storage: 'file', ...options });
  return {
    nc,
    names,
    prefix,
    async cleanup() {
      const jsm = await jetstreamManager(nc);
      for (const stream of [names.commandStream, names.eventStream, names.deadLetterStream]) await jsm.streams.delete(stream).catch(() => undefined);
      await nc.close();
    },
  };
}

/** Every message currently stored in a stream, in stream order. */
export async function readWholeStream(nc: NatsConnection, stream: string): Promise<Array<{ subject: string; msgId: string | undefined; data: any }>> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const out: Array<{ subject: string; msgId: string | undefined; data: any }> = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (m) out.push({ subject: m.subject, msgId: m.header?.get(Headers.messageId) || undefined, data: m.json() });
  }
  return out;
}
