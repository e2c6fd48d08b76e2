import { START_OF_STORE, currentSchemaVersion, type EventEnvelope, type GlobalCheckpoint, type MessageMetadata } from '@volt/contracts';
import type { Pool } from 'pg';
import { poolOf, type Database } from './database';
import { EVENT_COLUMNS, EVENT_TYPES, toEnvelopes, type EventRow } from './event-rows';
import { APPEND_CHAINED_EACH_SQL, APPEND_EACH_SQL, APPEND_NEXT_EVENT_SQL, APPEND_NEXT_SQL, APPEND_ONE_EVENT_SQL, APPEND_ONE_SQL } from './append-one.sql';
import { READ_HORIZON_SQL } from './read-horizon.sql';
import { ConcurrencyConflictError, EventIdReusedError, EventTooLargeError, MAX_EVENT_BYTES, UnstorableEventError, unstorableText, type UnstorableRule } from './errors';
import { newId } from './ids';

export interface NewEvent {
  /** Give a deterministic id to make the append idempotent; else a random one is used. */
  id?: string;
  type: string;
  schemaVersion?: number;
  data: unknown;
  metadata: MessageMetadata;
  occurredAt: string;
}

/** A number is the exact version the stream must be at (0: it must not exist yet). */
export type ExpectedVersion = number | 'any';

export interface AppendResult {
  streamVersion: number;
  positions: string[];
  transactionId: string;
  /** True when every event id was already stored: nothing was written. */
  duplicate: boolean;
}

interface PendingAppend {
  streamId: string;
  expected: number | null;
  /** The caller chose the event ids, so they may repeat: check for an earlier append. */
  checkIds: boolean;
  events: Array<Omit<NewEvent, 'id'> & { id: string }>;
  resolve: (result: AppendResult) => void;
  reject: (error: Error) => void;
}

interface AppendRow {
  request_index: number;
  outcome: 'appended' | 'duplicate' | 'conflict' | 'event_id_reused';
  stream_version: number | null;
  /** Comma-separated. */
  positions: string | null;
  transaction_id: string | null;
}

/** What a lone append's statement inserted: each event's row (and, summed up, the append's). */
interface Inserted {
  /** Comma-separated when summed up. */
  positions: string;
  stream_version: number;
  transaction_id: string;
  hash: Buffer;
}

/** The last event of a stream as this store appended it. */
interface Head {
  version: number;
  hash: Buffer;
}

/** Streams whose head a store remembers, least recently written dropped first. */
const REMEMBERED_HEADS = 10_000;

export interface EventStoreOptions {
  /** Most appends sent to PostgreSQL in one round trip. */
  maxBatch?: number;
  /**
   * Batches in flight at once (each on its own connection). One by default: everything that
   * queued while it was in flight goes in the next batch, one commit for all (measured against
   * two: +10–25% appends/s at 16 and 64 concurrent streams, lower p99).
   */
  writers?: number;
}

const UNIQUE_VIOLATION = '23505';

/**
 * The append-only event store. Appends made concurrently in one process are group
 * committed: while a batch is in flight, new appends queue and go together in the
 * next one, each still checked against its own expected version.
 */
export class EventStore {
  private readonly queue: PendingAppend[] = [];
  private inFlight = 0;
  private readonly maxBatch: number;
  private readonly writers: number;

  private readonly pool: Pool;
  private readonly listeners = new Set<() => void>();
  /**
   * The head of each stream this store appended to last (alone), so that its next lone event
   * there chains to it without looking it up (about 10% more sequential appends/s, measured): a
   * stored version's hash never changes, and if the stream has moved on, the append fails on the
   * (stream, version) unique index and the head is forgotten.
   */
  private readonly heads = new Map<string, Head>();

  constructor(
    readonly db: Database,
    options: EventStoreOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 256;
    this.writers = options.writers ?? 1;
    const pool = poolOf(db);
    if (!pool) throw new Error('EventStore needs a database made by createDatabase');
    this.pool = pool;
  }

  /** `listener` is told after each append of this store that stored something (the process's tailing loops look at once). */
  onAppended(listener: () => void): void {
    this.listeners.add(listener);
  }

  append(streamId: string, events: NewEvent[], options: { expectedVersion: ExpectedVersion }): Promise<AppendResult> {
    if (events.length === 0) return Promise.reject(new Error('append needs at least one event'));
    for (const e of events) {
      const refused = refusal(streamId, e);
      if (refused) return Promise.reject(refused);
    }
    const ids = events.flatMap((e) => (e.id === undefined ? [] : [e.id]));
    if (new Set(ids).size !== ids.length) return Promise.reject(new Error('append names one event id twice'));
    const expected = options.expectedVersion === 'any' ? null : options.expectedVersion;
    return new Promise<AppendResult>((resolve, reject) => {
      this.queue.push({
        streamId,
        expected,
        checkIds: events.some((e) => e.id !== undefined),
        events: events.map((e) => ({ ...e, id: e.id ?? newId(), schemaVersion: e.schemaVersion ?? currentSchemaVersion(e.type) })),
        resolve: (result) => {
          resolve(result);
          if (!result.duplicate) for (const listener of this.listeners) listener();
        },
        reject,
      });
      this.flush();
    });
  }

  private flush(): void {
    while (this.inFlight < this.writers && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      // A failure on a follow-up query (a conflict's current version, a repeat's original
      // event) fails the appends still waiting; settled ones ignore a second answer.
      void this.write(batch)
        .catch((error: unknown) => {
          for (const p of batch) p.reject(error instanceof Error ? error : new Error(String(error)));
        })
        .finally(() => {
          this.inFlight--;
          this.flush();
        });
    }
  }

  private async write(batch: PendingAppend[]): Promise<void> {
    if (batch.length === 1) return this.writeOne(batch[0]);
    for (const p of batch) this.heads.delete(p.streamId);
    // Grouped by stream, so a batch continues a stream from the versions it has pending.
    const ordered = [...batch].sort((a, b) => (a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : 0));
    let rows: AppendRow[];
    try {
      rows = await this.callAppend(ordered);
    } catch {
      // One bad request (a racing duplicate event id, a lone writer that won a stream) must
      // not fail its neighbours: each goes again on its own, one stream's in their order, one
      // after another (all at once, they would race each other for every version of the stream
      // and some would run out of retries), different streams' side by side.
      const byStream = Map.groupBy(ordered, (p) => p.streamId);
      await Promise.all([...byStream.values()].map(async (same) => {
        for (const p of same) await this.writeOne(p);
      }));
      return;
    }
    for (const row of rows) settle(ordered[row.request_index], row);
  }

  /** A lone append: one statement, no lock; a racing writer surfaces as a unique violation. */
  private async writeOne(pending: PendingAppend, attempt = 0): Promise<void> {
    let appended: Inserted | undefined;
    try {
      appended = await this.appendOne(pending);
    } catch (error) {
      this.heads.delete(pending.streamId);
      const { code, constraint } = error as { code?: string; constraint?: string };
      if (code !== UNIQUE_VIOLATION || attempt >= 20) return pending.reject(error instanceof Error ? error : new Error(String(error)));
      // Lost a race on the same stream, or on the same ids (the append and its repeat at
      // once): the ids decide first; then, with an expected version, it is a conflict;
      // otherwise once more decides it.
      if (pending.checkIds && (await this.settledAsRepeat(pending))) return;
      if (constraint === 'es_events_stream_version_key' && pending.expected !== null) {
        return pending.reject(new ConcurrencyConflictError(pending.streamId, pending.expected, await this.streamVersion(pending.streamId)));
      }
      return this.writeOne(pending, attempt + 1);
    }
    if (appended) {
      // Every lone statement returns the new head's hash with what it appended.
      this.remember(pending.streamId, { version: appended.stream_version, hash: appended.hash });
      return settle(pending, { ...appended, request_index: 0, outcome: 'appended' });
    }
    this.heads.delete(pending.streamId);
    // Nothing was written: the expected version did not hold, perhaps because this very append
    // is stored already (a repeat of it), which the ids tell.
    if (pending.checkIds && (await this.settledAsRepeat(pending))) return;
    const version = await this.streamVersion(pending.streamId);
    pending.reject(new ConcurrencyConflictError(pending.streamId, pending.expected ?? -1, version));
  }

  private remember(streamId: string, head: Head): void {
    this.heads.delete(streamId);
    this.heads.set(streamId, head);
    if (this.heads.size > REMEMBERED_HEADS) this.heads.delete(this.heads.keys().next().value as string);
  }

  /**
   * Appends one request alone: its one event with a plain INSERT, more events with the chained
   * statement; either after the head this store remembers when the expected version is that
   * head's (or any). Nothing back when the version did not hold; an event id already stored
   * fails the statement on its unique index.
   */
  private async appendOne(pending: PendingAppend): Promise<Inserted | undefined> {
    const e = pending.events;
    const known = this.heads.get(pending.streamId);
    const head = known && (pending.expected === null || pending.expected === known.version) ? known : undefined;
    if (e.length === 1) {
      const values = [pending.streamId, head ? head.version : pending.expected, e[0].id, e[0].type, e[0].schemaVersion ?? 1, JSON.stringify(e[0].data), JSON.stringify(e[0].metadata), e[0].occurredAt];
      const [appended] = head
        ? await this.query<Inserted>('volt_es_append_next_event', APPEND_NEXT_EVENT_SQL, [...values, head.hash])
        : await this.query<Inserted>('volt_es_append_one_event', APPEND_ONE_EVENT_SQL, values);
      return appended;
    }
    const shared = sharedBy(e);
    const values = [
      pending.streamId,
      head ? head.version : pending.expected,
      e.map((x) => x.id),
      e.map((x) => x.type),
      e.map((x) => x.schemaVersion ?? 1),
      e.map((x) => JSON.stringify(x.data)),
      shared.metadata ? null : e.map((x) => JSON.stringify(x.metadata)),
      shared.time ? null : e.map((x) => x.occurredAt),
      shared.metadata ? JSON.stringify(e[0].metadata) : null,
      shared.time ? e[0].occurredAt : null,
    ];
    const rows = head
      ? await this.query<Inserted>('volt_es_append_next', APPEND_NEXT_SQL, [...values, head.hash])
      : await this.query<Inserted>('volt_es_append_one', APPEND_ONE_SQL, values);
    if (rows.length === 0) return undefined;
    rows.sort((a, b) => a.stream_version - b.stream_version);
    return { ...rows[rows.length - 1], positions: rows.map((r) => r.positions).join(',') };
  }

  /**
   * When the append's ids are stored already, settles it (true): a repeat of the same append
   * answers its original positions; ids stored elsewhere, or only some of them, are refused.
   */
  private async settledAsRepeat(pending: PendingAppend): Promise<boolean> {
    const stored = await this.readEvents(pending.events.map((e) => e.id));
    if (stored.length === 0) return false;
    if (stored.length !== pending.events.length || stored.some((e) => e.streamId !== pending.streamId)) {
      pending.reject(new EventIdReusedError(pending.streamId));
      return true;
    }
    const inStream = stored.sort((a, b) => a.streamVersion - b.streamVersion);
    settle(pending, {
      request_index: 0,
      outcome: 'duplicate',
      stream_version: inStream[inStream.length - 1].streamVersion,
      positions: inStream.map((e) => e.position).join(','),
      transaction_id: inStream[0].transactionId,
    });
    return true;
  }

  /**
   * A batch in stream order, as one statement when each request names its own stream (the
   * usual: concurrent appends to different streams), with one for one-event requests only; else
   * (one stream twice, each request to chain from the one before) es_append.
   */
  private async callAppend(batch: PendingAppend[]): Promise<AppendRow[]> {
    const distinct = batch.every((p, i) => i === 0 || p.streamId !== batch[i - 1].streamId);
    if (distinct && batch.every((p) => p.events.length === 1)) {
      const each = batch.map(({ streamId, expected, checkIds, events: [e] }) => ({
        stream_id: streamId,
        expected_version: expected,
        check_ids: checkIds,
        id: e.id,
        type: e.type,
        schema_version: e.schemaVersion ?? 1,
        tenant_id: e.metadata.tenantId ?? null,
        data: e.data,
        metadata: e.metadata,
        at: e.occurredAt,
      }));
      return this.query<AppendRow>('volt_es_append_each', APPEND_EACH_SQL, [JSON.stringify(each)]);
    }
    if (distinct) return this.query<AppendRow>('volt_es_append_chained_each', APPEND_CHAINED_EACH_SQL, chainedEachValues(batch));
    const payload = batch.map((p) => {
      const shared = sharedBy(p.events);
      return {
        stream_id: p.streamId,
        expected_version: p.expected,
        check_ids: p.checkIds,
        ...(shared.metadata ? { metadata: p.events[0].metadata } : {}),
        ...(shared.time ? { occurred_at: p.events[0].occurredAt } : {}),
        events: p.events.map((e) => ({
          event_id: e.id,
          type: e.type,
          schema_version: e.schemaVersion ?? 1,
          data: e.data,
          ...(shared.metadata ? {} : { metadata: e.metadata }),
          ...(shared.time ? {} : { occurred_at: e.occurredAt }),
        })),
      };
    });
    return this.query<AppendRow>(
      'volt_es_append',
      'SELECT request_index, outcome, stream_version, positions, transaction_id::text AS transaction_id FROM es_append($1::jsonb)',
      [JSON.stringify(payload)],
    );
  }

  /** A named prepared statement on the pool (parsed and planned once per connection). */
  private async query<R>(name: string, text: string, values: unknown[]): Promise<R[]> {
    return (await this.pool.query({ name, text, values })).rows as R[];
  }

  private async queryEvents(name: string, text: string, values: unknown[]): Promise<EventEnvelope[]> {
    const result = await this.pool.query<EventRow>({ name, text, values, rowMode: 'array', types: EVENT_TYPES });
    return toEnvelopes(result.rows);
  }

  /** The stream's events in order, after `fromVersion` (exclusive). */
  async readStream(streamId: string, options: { fromVersion?: number; limit?: number } = {}): Promise<EventEnvelope[]> {
    return this.queryEvents(
      'volt_es_read_stream',
      `SELECT ${EVENT_COLUMNS} FROM es_events e
       WHERE e.stream_id = $1 AND e.stream_version > $2 ORDER BY e.stream_version LIMIT $3`,
      [streamId, options.fromVersion ?? 0, options.limit ?? 1_000_000],
    );
  }

  /**
   * The next events of the global order after `after`. Only events of transactions
   * older than every transaction still running that could write here are returned
   * (READ_HORIZON_SQL: the snapshot's running transactions, less those of other
   * databases), so an event that commits late with a lower position is never
   * skipped: a long transaction in this database delays readers instead.
   */
  async readAll(after: GlobalCheckpoint, limit = 1000): Promise<EventEnvelope[]> {
    return this.queryEvents(
      'volt_es_read_all',
      `SELECT ${EVENT_COLUMNS} FROM es_events e
       WHERE (e.transaction_id, e.position) > ($1::xid8, $2::bigint)
         AND e.transaction_id < ${READ_HORIZON_SQL}
       ORDER BY e.transaction_id, e.position LIMIT $3`,
      [after.transactionId, after.position, limit],
    );
  }

  /**
   * The last event of the global order that `readAll` would give now (the start of the store
   * when there is none): a reader that has reached it has seen every event committed before
   * the call, except those that readAll holds back behind a transaction still open.
   */
  async head(): Promise<GlobalCheckpoint> {
    const [row] = await this.query<{ transaction_id: string; position: string }>(
      'volt_es_head',
      // The columns qualified: bare names would order by the text output columns (position 9
      // after 10), and no index serves that order, so every call sorted the whole table.
      `SELECT e.transaction_id::text, e.position::text FROM es_events e
       WHERE e.transaction_id < ${READ_HORIZON_SQL}
       ORDER BY e.transaction_id DESC, e.position DESC LIMIT 1`,
      [],
    );
    return row ? { transactionId: row.transaction_id, position: row.position } : START_OF_STORE;
  }

  /** The stream's current version (0 when it does not exist). */
  async streamVersion(streamId: string): Promise<number> {
    const rows = await this.query<{ version: number | null }>(
      'volt_es_stream_version',
      'SELECT max(stream_version) AS version FROM es_events WHERE stream_id = $1',
      [streamId],
    );
    return rows[0]?.version ?? 0;
  }

  /**
   * How many events are stored after `from` in the global order (of `types` only, when given):
   * what a reader at that checkpoint still has to read, for operators (`volt-admin projections`).
   */
  async countAfter(from: GlobalCheckpoint, types?: readonly string[]): Promise<number> {
    const [row] = await this.query<{ n: string }>(
      'volt_es_count_after',
      `SELECT count(*)::text AS n FROM es_events e
       WHERE (e.transaction_id, e.position) > ($1::xid8, $2::bigint) AND ($3::text[] IS NULL OR e.type = ANY($3::text[]))`,
      [from.transactionId, from.position, types ? [...types] : null],
    );
    return Number(row.n);
  }

  /** Events by id, in the order of their global positions. */
  async readEvents(eventIds: string[]): Promise<EventEnvelope[]> {
    if (eventIds.length === 0) return [];
    return this.queryEvents(
      'volt_es_read_events',
      `SELECT ${EVENT_COLUMNS} FROM es_events e WHERE e.event_id = ANY($1::uuid[]) ORDER BY e.position`,
      [eventIds],
    );
  }
}

/**
 * Whether every event of an append has the same metadata (by reference, as one decision's
 * do, or by content) and the same time: then both are sent once for the append.
 */
function sharedBy(events: NewEvent[]): { metadata: boolean; time: boolean } {
  const [first] = events;
  let text: string | undefined;
  const sameMetadata = (e: NewEvent) => e.metadata === first.metadata || JSON.stringify(e.metadata) === (text ??= JSON.stringify(first.metadata));
  return { metadata: events.every(sameMetadata), time: events.every((e) => e.occurredAt === first.occurredAt) };
}

/**
 * APPEND_CHAINED_EACH_SQL's two JSON parameters: the requests, each with the metadata and time
 * its events share (sent once), and the events, each with its own only where they differ.
 */
function chainedEachValues(batch: PendingAppend[]): [string, string] {
  const requests = [];
  const events = [];
  for (const [r, p] of batch.entries()) {
    const shared = sharedBy(p.events);
    const [first] = p.events;
    requests.push({
      stream_id: p.streamId,
      expected_version: p.expected,
      check_ids: p.checkIds,
      n: p.events.length,
      tenant_id: shared.metadata ? (first.metadata.tenantId ?? null) : null,
      metadata: shared.metadata ? first.metadata : null,
      at: shared.time ? first.occurredAt : null,
    });
    for (const [i, e] of p.events.entries()) {
      events.push({
        r,
        k: i + 1,
        id: e.id,
        type: e.type,
        schema_version: e.schemaVersion ?? 1,
        data: e.data,
        ...(shared.metadata ? {} : { tenant_id: e.metadata.tenantId ?? null, metadata: e.metadata }),
        ...(shared.time ? {} : { at: e.occurredAt }),
      });
    }
  }
  return [JSON.stringify(requests), JSON.stringify(events)];
}

function settle(pending: PendingAppend, row: AppendRow): void {
  switch (row.outcome) {
    case 'appended':
    case 'duplicate':
      pending.resolve({
        streamVersion: row.stream_version ?? 0,
        positions: row.positions ? row.positions.split(',') : [],
        transactionId: row.transaction_id ?? '0',
        duplicate: row.outcome === 'duplicate',
      });
      return;
    case 'conflict':
      pending.reject(new ConcurrencyConflictError(pending.streamId, pending.expected ?? -1, row.stream_version ?? 0));
      return;
    case 'event_id_reused':
      pending.reject(new EventIdReusedError(pending.streamId));
      return;
  }
}

/**
 * Why an event cannot be appended, if it cannot: a string PostgreSQL cannot read back as text
 * (stored as json, it would fail every projection that reads the field), or more than
 * MAX_EVENT_BYTES of data and metadata (the outbox relay could never publish it: NATS refuses
 * a message past its max_payload, 1 MiB by default, and every later event would wait behind it).
 * One walk over the event finds the first and bounds the second; only an event near the limit
 * is serialized to measure it.
 */
function refusal(streamId: string, e: NewEvent): Error | undefined {
  const size = { bound: 0 };
  const inData = inspect(e.data, size);
  if (inData) return new UnstorableEventError(streamId, e.type, `data${inData.path}`, inData.rule);
  const inMetadata = inspect(e.metadata, size);
  if (inMetadata) return new UnstorableEventError(streamId, e.type, `metadata${inMetadata.path}`, inMetadata.rule);
  if (size.bound <= MAX_EVENT_BYTES) return undefined;
  const bytes = Buffer.byteLength(JSON.stringify(e.data) ?? '') + Buffer.byteLength(JSON.stringify(e.metadata) ?? '');
  return bytes > MAX_EVENT_BYTES ? new EventTooLargeError(streamId, e.type, bytes) : undefined;
}

/**
 * Where inside a value (a request's body, an event's data) a string or key cannot be stored as
 * text, and why, if anywhere: a dotted path (`ssh_keys.0`), '' for the value itself.
 */
export function unstorableIn(value: unknown): { path: string; rule: UnstorableRule } | undefined {
  const found = inspect(value, { bound: 0 });
  return found && { path: found.path.slice(1), rule: found.rule };
}

/**
 * Where inside a value a string (or key) cannot be stored as text, and why, if anywhere (path ''
 * for the value itself); adds to `size.bound` at least the bytes its JSON takes (a UTF-16 unit
 * takes at most 6: a control character's `\u00XX` escape; a number, boolean or null at most 24).
 */
function inspect(value: unknown, size: { bound: number }, depth = 0): { path: string; rule: UnstorableRule } | undefined {
  if (typeof value === 'string') {
    size.bound += 6 * value.length + 2;
    const rule = unstorableText(value);
    return rule && { path: '', rule };
  }
  if (value === null || typeof value !== 'object') {
    size.bound += 24;
    return undefined;
  }
  // What JSON.stringify makes of it is its own business (a Date): measured as it comes out.
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    size.bound += 6 * (JSON.stringify(value)?.length ?? 0);
    return undefined;
  }
  // Deeper than any event of ours; a cycle is JSON.stringify's to refuse.
  if (depth > 32) return undefined;
  size.bound += 2;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    size.bound += 6 * key.length + 4;
    const rule = unstorableText(key);
    if (rule) return { path: `.${key}`, rule };
    const found = inspect((value as Record<string, unknown>)[key], size, depth + 1);
    if (found !== undefined) return { path: `.${key}${found.path}`, rule: found.rule };
  }
  return undefined;
}

/** The checkpoint just after an event. */
export function checkpointOf(event: Pick<EventEnvelope, 'transactionId' | 'position'>): GlobalCheckpoint {
  return { transactionId: event.transactionId, position: event.position };
}

/** Compares two checkpoints in the global order. */
export function compareCheckpoints(a: GlobalCheckpoint, b: GlobalCheckpoint): number {
  const tx = BigInt(a.transactionId) - BigInt(b.transactionId);
  if (tx !== 0n) return tx < 0n ? -1 : 1;
  const pos = BigInt(a.position) - BigInt(b.position);
  return pos === 0n ? 0 : pos < 0n ? -1 : 1;
}
