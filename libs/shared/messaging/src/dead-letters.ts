import { jetstream, jetstreamManager, type JetStreamClient, type JsMsg, type StoredMsg } from '@nats-io/jetstream';
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { isDatabaseUnavailable } from '@volt/event-store';
import { Headers, type MessagingNames } from './names';

/**
 * Dead letters: a message whose handler failed on every one of its deliveries (the last for a
 * reason other than an outage: isTransientFailure) is set aside on
 * its own stream, with what it failed on and why, instead of being retried for ever (a bug that
 * throws on one command would otherwise keep a handler slot busy and fill the logs for good).
 * Nothing is lost: an operator lists them, sends one back to the consumer that failed it once
 * the cause is fixed (handlers are idempotent by command and event id), or discards it.
 */
export interface DeadLetter {
  /** Its sequence on the dead-letter stream: what `redrive` and `discard` take. */
  seq: number;
  /** The subject it failed on, as handlers know it (`volt.cmd.pods.CreatePod`). */
  pattern: string;
  /** The durable consumer whose handler failed it. */
  consumer: string;
  /** Its sequence on the stream it failed on (the commands' or the events'). */
  streamSequence: number | null;
  deliveries: number;
  error: string;
  failedAt: string;
  /** The original Nats-Msg-Id: a command's id, or an event's. */
  messageId: string | null;
  data: string;
}

/**
 * Errors of the NATS client, of Volt's command bus and of its read models' wait that mean NATS,
 * another service or the read models were behind or away (matched by name: the projections
 * library is not this one's to import).
 */
const AWAY_ERROR_NAMES = new Set([
  'TimeoutError',
  'ClosedConnectionError',
  'ConnectionError',
  'NoRespondersError',
  'DrainingConnectionError',
  'CommandTimeoutError',
  'MessagingUnavailableError',
  'ProjectionWaitTimeoutError',
]);
/** PostgreSQL's codes for a transaction that may succeed as it is when run again (serialization, deadlock, lock wait). */
const RETRY_AS_IS_CODE = new Set(['40001', '40P01', '55P03']);

/**
 * A failure that says something the handler needs was away for a moment (the database, NATS,
 * another service), not that the handler is wrong: such a message is never set aside, however
 * often it failed, so that an outage longer than its deliveries heals by itself when it ends.
 */
export function isTransientFailure(error: unknown): boolean {
  if (isDatabaseUnavailable(error)) return true;
  const { name, code } = (error ?? {}) as { name?: unknown; code?: unknown };
  return (typeof name === 'string' && AWAY_ERROR_NAMES.has(name)) || (typeof code === 'string' && RETRY_AS_IS_CODE.has(code));
}

/** Header names are matched without case, as NATS does. */
const isMessageId = (key: string) => key.toLowerCase() === Headers.messageId.toLowerCase();

/** Longest error text kept on a dead letter (a header, so kept short). */
const MAX_ERROR_CHARS = 500;

/**
 * Sets a message aside: stored on the dead-letter stream (deduplicated by the original stream
 * sequence, so setting it aside again after a crash between the two steps stores it once), then
 * terminated on its own stream. If the store fails, the caller naks and it is tried again.
 */
export async function setAside(js: JetStreamClient, names: MessagingNames, msg: JsMsg, consumer: string, error: unknown): Promise<void> {
  const h = natsHeaders();
  for (const [key, values] of headerEntries(msg.headers)) {
    if (key === Headers.replyTo || isMessageId(key)) continue;
    for (const value of values) h.append(key, value);
  }
  h.set(Headers.deadSubject, names.pattern(msg.subject));
  h.set(Headers.deadConsumer, consumer);
  h.set(Headers.deadSequence, String(msg.info.streamSequence));
  h.set(Headers.deadDeliveries, String(msg.info.deliveryCount));
  h.set(Headers.deadError, oneLine(error).slice(0, MAX_ERROR_CHARS));
  h.set(Headers.deadAt, new Date().toISOString());
  const messageId = msg.headers?.get(Headers.messageId);
  if (messageId) h.set(Headers.deadMessageId, messageId);
  await js.publish(names.deadLetterSubject(names.pattern(msg.subject)), msg.data, { headers: h, msgID: `dead:${msg.info.stream}:${msg.info.streamSequence}` });
  msg.term();
}

/**
 * The dead letters now kept, oldest first (at most `limit`). Read through an ordered consumer
 * in batches, so that letters redriven or discarded from the middle of the stream cost nothing.
 */
export async function listDeadLetters(nc: NatsConnection, names: MessagingNames, limit = 1_000): Promise<DeadLetter[]> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const state = await jsm.streams
    .info(names.deadLetterStream)
    .then((info) => info.state)
    .catch((error: Error) => {
      if (/stream not found/i.test(error.message)) return null; // nothing was ever set aside
      throw error;
    });
  const letters: DeadLetter[] = [];
  if (!state || state.messages === 0) return letters;
  // No more than the stream held a moment ago, so that a fetch ends on its count, not on its
  // expiry; a letter deleted meanwhile only makes the last fetch wait out its second.
  const wanted = Math.min(limit, state.messages);
  const consumer = await jetstream(nc, { checkAPI: false }).consumers.get(names.deadLetterStream);
  for (let more = true; more && letters.length < wanted; ) {
    const batch = await consumer.fetch({ max_messages: Math.min(wanted - letters.length, 256), expires: 1_000 });
    more = false;
    for await (const m of batch) {
      letters.push(deadLetterOf(m.seq, m.headers, m.data, m.time));
      // The last letter there is: nothing more to wait for.
      if (m.info.pending === 0 || letters.length >= wanted) break;
      more = true;
    }
  }
  await consumer.delete().catch(() => undefined);
  return letters;
}

/**
 * Sends a dead letter back to the subject it failed on, addressed to the consumer that failed it
 * (other consumers of an event acknowledge it unseen), with a new message id so that JetStream's
 * duplicate window does not drop it; once JetStream has it, the dead letter is deleted. Returns
 * null when there is no dead letter at that sequence.
 */
export async function redriveDeadLetter(nc: NatsConnection, names: MessagingNames, seq: number): Promise<DeadLetter | null> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const stored = await getStored(jsm, names, seq);
  if (!stored) return null;
  const letter = deadLetterOfStored(stored);
  const h = natsHeaders();
  for (const [key, values] of headerEntries(stored.header)) {
    if (key.startsWith('Volt-Dead-') || key === Headers.redriveFor || isMessageId(key)) continue;
    for (const value of values) h.append(key, value);
  }
  h.set(Headers.redriveFor, letter.consumer);
  await jetstream(nc, { checkAPI: false }).publish(names.subject(letter.pattern), stored.data, { headers: h, msgID: `redrive:${names.deadLetterStream}:${seq}` });
  await jsm.streams.deleteMessage(names.deadLetterStream, seq);
  return letter;
}

/**
 * How many dead letters are kept now, by the subject they failed on as handlers know it
 * (`volt.cmd.pods.CreatePod`): one stream-info call, however many letters. Waits 1 s at most.
 */
export async function countDeadLetters(nc: NatsConnection, names: MessagingNames): Promise<Map<string, number>> {
  const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: 1_000 });
  const info = await jsm.streams.info(names.deadLetterStream, { subjects_filter: '>' });
  const counts = new Map<string, number>();
  const dead = names.deadLetterSubject('');
  for (const [subject, n] of Object.entries(info.state.subjects ?? {})) {
    if (subject.startsWith(dead)) counts.set(`volt.${subject.slice(dead.length)}`, n);
  }
  return counts;
}

/** Drops a dead letter for good. Returns the letter, or null when there is none at that sequence. */
export async function discardDeadLetter(nc: NatsConnection, names: MessagingNames, seq: number): Promise<DeadLetter | null> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const stored = await getStored(jsm, names, seq);
  if (!stored) return null;
  await jsm.streams.deleteMessage(names.deadLetterStream, seq);
  return deadLetterOfStored(stored);
}

async function getStored(jsm: Awaited<ReturnType<typeof jetstreamManager>>, names: MessagingNames, seq: number): Promise<StoredMsg | null> {
  return jsm.streams.getMessage(names.deadLetterStream, { seq }).catch((error: Error) => {
    if (/stream not found/i.test(error.message)) return null;
    throw error;
  });
}

function deadLetterOfStored(stored: StoredMsg): DeadLetter {
  return deadLetterOf(stored.seq, stored.header, stored.data, stored.time);
}

function deadLetterOf(seq: number, h: MsgHdrs | undefined, data: Uint8Array, storedAt: Date): DeadLetter {
  const streamSequence = Number(h?.get(Headers.deadSequence) || NaN);
  return {
    seq,
    // A header that is not there reads as an empty string.
    pattern: h?.get(Headers.deadSubject) || '',
    consumer: h?.get(Headers.deadConsumer) || '',
    streamSequence: Number.isSafeInteger(streamSequence) ? streamSequence : null,
    deliveries: Number(h?.get(Headers.deadDeliveries) || 0),
    error: h?.get(Headers.deadError) || '',
    failedAt: h?.get(Headers.deadAt) || storedAt.toISOString(),
    messageId: h?.get(Headers.deadMessageId) || null,
    data: new TextDecoder().decode(data),
  };
}

function headerEntries(h: MsgHdrs | undefined): [string, string[]][] {
  if (!h) return [];
  return h.keys().map((key) => [key, h.values(key)]);
}

function oneLine(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : typeof error === 'object' && error !== null ? JSON.stringify(error) : String(error);
  return text.replace(/[\r\n]+/g, ' ');
}
