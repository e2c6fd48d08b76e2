import { domainError, type DomainError, type GlobalCheckpoint, type MessageMetadata } from '@volt/contracts';
import { isDomainError, type Decider } from '@volt/domain';
import { ConcurrencyConflictError, EventTooLargeError, MAX_EVENT_BYTES, UNSTORABLE, UnstorableEventError } from './errors';
import type { EventStore } from './event-store';
import { uuidFromName } from './ids';

interface Message {
  type: string;
  data: unknown;
}

/** On success, `state` is the stream's after the decision (for a replay, as the stream stands). */
export type DecisionOutcome<E, S = unknown> =
  | { ok: true; events: E[]; checkpoint: GlobalCheckpoint | null; replayed: boolean; state: S }
  | { ok: false; error: DomainError };

export interface RunDeciderInput<C> {
  streamId: string;
  command: C;
  /** The command's id: event ids derive from it, so a redelivered command appends nothing new. */
  commandId: string;
  metadata: Omit<MessageMetadata, 'causationId'>;
  occurredAt: string;
  maxRetries?: number;
  /**
   * The command makes the stream (a create under a new id): it is decided as empty without a
   * read. Safe when wrong: a stream already there is found by the append, then read.
   */
  newStream?: boolean;
}

/** What a decision needs of a stored event. */
export interface Stored {
  id: string;
  type: string;
  data: unknown;
  causationId: string | null;
  transactionId: string;
  position: string;
}

/** A stream as this process last saw it: its events, their folded state and its version. */
export interface Known {
  history: Stored[];
  state: unknown;
  version: number;
}

/** Streams remembered per store, least recently used dropped first. */
const REMEMBERED_STREAMS = 10_000;
/** Events remembered per store in all (a pod's stream holds about seven): memory stays bounded. */
const REMEMBERED_EVENTS = 100_000;
/** A stream longer than this is read each time rather than kept whole in memory. */
const LONGEST_REMEMBERED = 500;

/**
 * The streams this process decided on lately, so that the next command on one decides without
 * reading it again (a pod's lifecycle is seven decisions on its stream: six reads saved). Being
 * stale is safe: an append states the version the decision was made on, so a writer elsewhere
 * makes it a conflict, and the stream is read again; a decision that appends nothing (a refusal,
 * a no-op) is checked against the events stored after that version before it is answered.
 */
export class RecentStreams {
  private readonly known = new Map<string, Known>();
  private events = 0;

  constructor(
    private readonly limits = { streams: REMEMBERED_STREAMS, events: REMEMBERED_EVENTS, longest: LONGEST_REMEMBERED },
  ) {}

  /** Streams and events held now. */
  get size(): { streams: number; events: number } {
    return { streams: this.known.size, events: this.events };
  }

  get(streamId: string): Known | undefined {
    const entry = this.known.get(streamId);
    if (entry) {
      // Map keeps insertion order: moved to the end, the entry is now the most recent.
      this.known.delete(streamId);
      this.known.set(streamId, entry);
    }
    return entry;
  }

  /** Keeps what was seen unless a newer version of the stream is known already. */
  set(streamId: string, entry: Known): void {
    const current = this.known.get(streamId);
    if (current && current.version > entry.version) return;
    this.forget(streamId);
    if (entry.history.length > this.limits.longest) return;
    this.known.set(streamId, entry);
    this.events += entry.history.length;
    while (this.known.size > this.limits.streams || this.events > this.limits.events) this.forget(this.known.keys().next().value as string);
  }

  forget(streamId: string): void {
    const entry = this.known.get(streamId);
    if (!entry) return;
    this.known.delete(streamId);
    this.events -= entry.history.length;
  }
}

const recentByStore = new WeakMap<EventStore, RecentStreams>();

function recentOf(store: EventStore): RecentStreams {
  let recent = recentByStore.get(store);
  if (!recent) recentByStore.set(store, (recent = new RecentStreams()));
  return recent;
}

/**
 * Load the stream (or take it as this process last saw it), fold it, decide, append with the
 * expected version; on a concurrent writer, do it all again from a fresh read. A command that
 * was already applied (a redelivery) is answered from the events it appended the first time.
 */
export async function runDecider<C, E extends Message, S>(
  store: EventStore,
  decider: Decider<C, E, S>,
  input: RunDeciderInput<C>,
): Promise<DecisionOutcome<E, S>> {
  const firstId = uuidFromName(`${input.commandId}:0`);
  const maxRetries = input.maxRetries ?? 10;
  const recent = recentOf(store);
  const evolve = (known: Known, events: Stored[], version: number): Known => ({
    history: known.history.concat(events),
    state: events.reduce((s, e) => decider.evolve(s, { type: e.type, data: e.data } as E), known.state as S),
    version,
  });
  /** `after` with the events stored since its version. */
  const read = async (after: Known): Promise<Known> => {
    const events = await store.readStream(input.streamId, { fromVersion: after.version });
    if (events.length === 0) return after;
    const stored = events.map(({ id, type, data, causationId, transactionId, position }) => ({ id, type, data, causationId, transactionId, position }));
    return evolve(after, stored, events[events.length - 1].streamVersion);
  };

  const empty: Known = { history: [], state: decider.initialState(), version: 0 };
  let known = recent.get(input.streamId) ?? (input.newStream ? empty : undefined);
  // A remembered (or presumed new) stream may have moved on elsewhere; an append finds out by
  // itself (its expected version), an answer that appends nothing first reads what was stored since.
  let unchecked = known !== undefined;
  for (let attempt = 0; ; attempt++) {
    known ??= await read(empty);
    // A redelivered command finds its first run's events in the history: answer from them
    // rather than deciding again against a stream that has moved on.
    const first = known.history.findIndex((e) => e.id === firstId);
    const decision = first >= 0 ? undefined : decider.decide(input.command, known.state as S);
    if (decision === undefined || isDomainError(decision) || decision.length === 0) {
      if (unchecked) {
        unchecked = false;
        const latest = await read(known);
        if (latest !== known) {
          known = latest;
          continue;
        }
      }
      recent.set(input.streamId, known);
      const state = known.state as S;
      if (decision === undefined) {
        const stored = known.history.slice(first).filter((e) => e.causationId === input.commandId);
        const last = stored[stored.length - 1];
        return {
          ok: true,
          events: stored.map((e) => ({ type: e.type, data: e.data }) as E),
          checkpoint: { transactionId: last.transactionId, position: last.position },
          replayed: true,
          state,
        };
      }
      return isDomainError(decision) ? { ok: false, error: decision } : { ok: true, events: [], checkpoint: null, replayed: false, state };
    }
    const metadata: MessageMetadata = { ...input.metadata, causationId: input.commandId };
    const ids = decision.map((_, i) => uuidFromName(`${input.commandId}:${i}`));
    try {
      const result = await store.append(
        input.streamId,
        decision.map((e, i) => ({ id: ids[i], type: e.type, data: e.data, metadata, occurredAt: input.occurredAt })),
        { expectedVersion: known.version },
      );
      if (result.duplicate) {
        // Stored already (the same command at once elsewhere, or a stream that was not new):
        // answered, as any repeat, from the events stored the first time.
        recent.forget(input.streamId);
        if (attempt >= maxRetries) throw new Error(`${input.streamId}: command ${input.commandId} found stored, then not`);
        known = undefined;
        unchecked = false;
        continue;
      }
      const appended = decision.map((e, i) => ({
        id: ids[i],
        type: e.type,
        data: e.data,
        causationId: input.commandId,
        transactionId: result.transactionId,
        position: result.positions[i],
      }));
      const after = evolve(known, appended, result.streamVersion);
      recent.set(input.streamId, after);
      return {
        ok: true,
        events: decision,
        checkpoint: { transactionId: result.transactionId, position: result.positions[result.positions.length - 1] },
        replayed: false,
        state: after.state as S,
      };
    } catch (error) {
      recent.forget(input.streamId);
      if (error instanceof ConcurrencyConflictError && attempt < maxRetries) {
        known = undefined;
        unchecked = false;
        continue;
      }
      // A command whose events could never be stored (or published): a refusal, not a failure to retry for ever.
      if (error instanceof UnstorableEventError) {
        const field = error.field.split('.').pop() ?? error.field;
        const message = `${field} contains ${UNSTORABLE[error.rule]}`;
        return { ok: false, error: domainError('VALIDATION_ERROR', message, [{ field, rule: error.rule, message }]) };
      }
      if (error instanceof EventTooLargeError) {
        return { ok: false, error: domainError('PAYLOAD_TOO_LARGE', `The change is too large to record (${Math.ceil(error.bytes / 1024)} KiB; at most ${MAX_EVENT_BYTES / 1024} KiB). Send less.`) };
      }
      throw error;
    }
  }
}
