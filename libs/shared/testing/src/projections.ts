import type { Projection } from '@volt/projections';

/** The projection, with `before(k)` awaited before its k-th batch (counted from 1). */
function beforeEachBatch(projection: Projection, before: (k: number) => Promise<void>): Projection {
  let k = 0;
  return projection.write
    ? { ...projection, write: async (db, events, claimed) => (await before(++k), projection.write(db, events, claimed)) }
    : { ...projection, apply: async (trx, events) => (await before(++k), projection.apply(trx, events)) };
}

/**
 * The projection, with every batch after its first `batches` failing: a process killed part-way
 * through a rebuild, say.
 */
export function failingAfter(projection: Projection, batches: number): Projection {
  return beforeEachBatch(projection, async (k) => {
    if (k > batches) throw new Error('killed');
  });
}

/** The projection, stopping before its batch number `batch` (from 1) until `resume` is called; `reached` says it got there. */
export function pausedAt(projection: Projection, batch: number): { projection: Projection; reached: Promise<void>; resume: () => void } {
  let resume!: () => void;
  let arrive!: () => void;
  const resumed = new Promise<void>((resolve) => (resume = resolve));
  const reached = new Promise<void>((resolve) => (arrive = resolve));
  const paused = beforeEachBatch(projection, async (k) => {
    if (k !== batch) return;
    arrive();
    await resumed;
  });
  return { projection: paused, reached, resume };
}
