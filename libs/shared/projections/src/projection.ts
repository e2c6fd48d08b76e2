import type { RawBuilder, Transaction } from 'kysely';
import type { EventEnvelope } from '@volt/contracts';
import type { Database } from '@volt/event-store';

interface ProjectionBase {
  name: string;
  /** Event types it reads; the checkpoint moves past the others too. */
  handles: readonly string[];
  /** Its tables: all it writes, and nothing else (a rebuild builds them anew, beside these). */
  tables: readonly string[];
}

/**
 * A read model's projection that applies a batch with any statements it likes, inside the
 * transaction that first locks and then moves its checkpoint, so each event is applied exactly
 * once. Batches let it write many rows per statement.
 */
export interface TransactionProjection extends ProjectionBase {
  apply(trx: Transaction<any>, events: EventEnvelope[]): Promise<void>;
  write?: never;
}

/**
 * A read model whose batch is one write: `write` returns that statement (an INSERT, UPDATE or
 * DELETE), or undefined when the batch changes nothing, and the runner sends it together with
 * the checkpoint's move as one statement, with no transaction around it (three round trips fewer
 * per batch: begin, the checkpoint's claim, commit). The statement must
 * write nothing unless `claimed` holds: a SQL condition, true only when the checkpoint moved
 * (no other instance applied past this batch's start). Any reads `write`
 * makes of its own tables see them as the batch's start left them: only a batch that moves the
 * checkpoint from there writes.
 */
export interface StatementProjection extends ProjectionBase {
  write(db: Database, events: EventEnvelope[], claimed: RawBuilder<boolean>): Promise<RawBuilder<unknown> | undefined>;
  apply?: never;
}

export type Projection = TransactionProjection | StatementProjection;

/** A projection written event by event, for read models where that is simplest. */
export function eachEvent(
  name: string,
  tables: readonly string[],
  handlers: Record<string, (trx: Transaction<any>, event: EventEnvelope<any>) => Promise<void>>,
): TransactionProjection {
  return {
    name,
    tables,
    handles: Object.keys(handlers),
    async apply(trx, events) {
      for (const event of events) await handlers[event.type]?.(trx, event);
    },
  };
}
