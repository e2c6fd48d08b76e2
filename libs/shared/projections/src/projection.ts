import type { Transaction } from 'kysely';
import type { EventEnvelope } from '@volt/contracts';

/**
 * A read model's projection. It receives events in batches, in the global order,
 * inside the transaction that also moves its checkpoint, so each event is applied
 * exactly once. Batches let a projection write many rows per statement.
 */
export interface Projection {
  name: string;
  /** Event types it reads; the checkpoint moves past the others too. */
  handles: readonly string[];
  /** Its tables, emptied before a rebuild. */
  tables: readonly string[];
  apply(trx: Transaction<any>, events: EventEnvelope[]): Promise<void>;
}

/** A projection written event by event, for read models where that is simplest. */
export function eachEvent(
  name: string,
  tables: readonly string[],
  handlers: Record<string, (trx: Transaction<any>, event: EventEnvelope<any>) => Promise<void>>,
): Projection {
  return {
    name,
    tables,
    handles: Object.keys(handlers),
    async apply(trx, events) {
      for (const event of events) await handlers[event.type]?.(trx, event);
    },
  };
}
