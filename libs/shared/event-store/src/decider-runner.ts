import type { DomainError, GlobalCheckpoint, MessageMetadata } from '@volt/contracts';
import { fold, isDomainError, type Decider } from '@volt/domain';
import { ConcurrencyConflictError } from './errors';
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
}

/**
 * Load the stream, fold it, decide, append with the expected version; on a
 * concurrent writer, do it all again. A command that was already applied (a
 * redelivery) is answered from the events it appended the first time.
 */
export async function runDecider<C, E extends Message, S>(
  store: EventStore,
  decider: Decider<C, E, S>,
  input: RunDeciderInput<C>,
): Promise<DecisionOutcome<E, S>> {
  const firstId = uuidFromName(`${input.commandId}:0`);
  const maxRetries = input.maxRetries ?? 10;
  for (let attempt = 0; ; attempt++) {
    const history = await store.readStream(input.streamId);
    const version = history.length === 0 ? 0 : history[history.length - 1].streamVersion;
    const toEvent = (e: (typeof history)[number]) => ({ type: e.type, data: e.data }) as E;
    const state = fold(decider, history.map(toEvent));
    // A redelivered command finds its first run's events in the history it loads anyway:
    // answer from them rather than deciding again against a stream that has moved on.
    const first = history.findIndex((e) => e.id === firstId);
    if (first >= 0) {
      const stored = history.slice(first).filter((e) => e.causationId === input.commandId);
      const last = stored[stored.length - 1];
      return {
        ok: true,
        events: stored.map(toEvent),
        checkpoint: { transactionId: last.transactionId, position: last.position },
        replayed: true,
        state,
      };
    }
    const decision = decider.decide(input.command, state);
    if (isDomainError(decision)) return { ok: false, error: decision };
    if (decision.length === 0) return { ok: true, events: [], checkpoint: null, replayed: false, state };
    const metadata: MessageMetadata = { ...input.metadata, causationId: input.commandId };
    try {
      const result = await store.append(
        input.streamId,
        decision.map((e, i) => ({
          id: uuidFromName(`${input.commandId}:${i}`),
          type: e.type,
          data: e.data,
          metadata,
          occurredAt: input.occurredAt,
        })),
        { expectedVersion: version },
      );
      return {
        ok: true,
        events: decision,
        checkpoint: { transactionId: result.transactionId, position: result.positions[result.positions.length - 1] },
        replayed: result.duplicate,
        state: decision.reduce(decider.evolve, state),
      };
    } catch (error) {
      if (error instanceof ConcurrencyConflictError && attempt < maxRetries) continue;
      throw error;
    }
  }
}
