import { sql } from 'kysely';
import { START_OF_STORE, type EventEnvelope, type GlobalCheckpoint } from '@volt/contracts';
import { checkpointOf, compareCheckpoints, Wakeable, type Database, type EventStore } from '@volt/event-store';
import { BehindGauge, counter, type Logger } from '@volt/telemetry';
import type { Projection, StatementProjection } from './projection';
import { createCheckpoint } from './checkpoints';
import { rebuildBeside } from './rebuild';

export interface ProjectionRunnerOptions {
  batchSize?: number;
  idleMs?: number;
  /** Longest rest while nothing comes (the back-off's ceiling; 250 ms by default). */
  maxIdleMs?: number;
  logger?: Logger;
}

const applied = counter('volt_projection_events_total', 'Events read by projections', ['projection']);
const failures = counter('volt_projection_failures_total', 'Batches a projection failed to apply (the runner tries them again)', ['projection']);
const behind = new BehindGauge('volt_projection_behind_seconds', 'Seconds since a running projection last had applied every event it could read', 'projection');

/**
 * Events of other types a projection may pass over before its stored checkpoint is moved past
 * them (one small commit), so that a restart does not read them all again: a read model whose
 * events are rare (SSH keys) would otherwise reread most of the store at every start.
 */
const SKIPPED_BEFORE_SAVE = 10_000;

/** After a look that found events, how long a nudge waits before the next (see `nudge`). */
const LINGER_MS = 10;

interface Waiter {
  checkpoint: GlobalCheckpoint;
  resolve: () => void;
}

/** The read models did not catch up in time: they lag (a slow or absent database), the write stands. */
export class ProjectionWaitTimeoutError extends Error {
  override readonly name = 'ProjectionWaitTimeoutError';
  constructor(position: string, timeoutMs: number) {
    super(`projections did not reach position ${position} within ${timeoutMs} ms`);
  }
}

/**
 * Keeps projections up to date by tailing the event store. Any number of
 * instances may run the same projection: each batch takes the checkpoint row's
 * lock and skips what another instance has already applied (a StatementProjection's
 * batch instead writes only if no one has applied past its start, and otherwise goes
 * on from where the checkpoint stands). A rebuild may run while they do: it builds
 * new tables beside theirs and swaps them in under the checkpoint's lock (`rebuildBeside`).
 */
export class ProjectionRunner {
  private readonly positions = new Map<string, GlobalCheckpoint>();
  private readonly waiters = new Set<Waiter>();
  /** Per projection: events passed over since its checkpoint was last stored. */
  private readonly skipped = new Map<string, number>();
  private stopped = true;
  private loop: Promise<void> | undefined;
  /** When a look last found events, and the deferred wake a nudge soon after it set. */
  private lastFound = -Infinity;
  private lingering: ReturnType<typeof setTimeout> | undefined;
  private readonly idle: Wakeable;

  constructor(
    private readonly db: Database,
    private readonly store: EventStore,
    readonly projections: Projection[],
    private readonly options: ProjectionRunnerOptions = {},
  ) {
    this.idle = new Wakeable(options.idleMs ?? 20, options.maxIdleMs);
    const names = new Set(projections.map((p) => p.name));
    if (names.size !== projections.length) throw new Error('projection names must be unique');
  }

  private get batchSize(): number {
    return this.options.batchSize ?? 5000;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    for (const p of this.projections) behind.follow(this, p.name);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.lingering);
    this.lingering = undefined;
    this.idle.wake();
    await this.loop;
    behind.forget(this);
  }

  /**
   * Something was appended (here or, by signal, elsewhere): look now — unless the last look that
   * found events was under `LINGER_MS` ago, then once that much has passed, so that under load a
   * read finds several appends rather than one. Someone waiting (`waitFor`) is never kept waiting.
   */
  nudge(): void {
    const wait = this.lastFound + LINGER_MS - Date.now();
    if (wait <= 0 || this.waiters.size > 0) return this.idle.wake();
    this.lingering ??= setTimeout(() => {
      this.lingering = undefined;
      this.idle.wake();
    }, wait);
  }

  /** Resolves once every projection has applied everything up to `checkpoint`. */
  waitFor(checkpoint: GlobalCheckpoint, timeoutMs = 10_000): Promise<void> {
    if (this.reached(checkpoint)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        checkpoint,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new ProjectionWaitTimeoutError(checkpoint.position, timeoutMs));
      }, timeoutMs);
      this.waiters.add(waiter);
      this.idle.wake();
    });
  }

  /**
   * Resolves once every projection has applied what the store holds now: for a read that must
   * see a change another process made a moment ago (this process's own appends are waited for
   * with `waitFor` and their checkpoints).
   */
  async waitForHead(timeoutMs?: number): Promise<void> {
    await this.waitFor(await this.store.head(), timeoutMs);
  }

  /** Applies everything available now; returns how many events were read. */
  async catchUp(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.round();
      total += n;
      this.settleWaiters();
      if (n === 0) return total;
    }
  }

  /**
   * One batch for every projection, in parallel. Projections at the same checkpoint
   * (the usual case) share one read of the store.
   */
  private async round(): Promise<number> {
    const groups = new Map<string, { from: GlobalCheckpoint; projections: Projection[] }>();
    for (const projection of this.projections) {
      const from = await this.position(projection);
      const key = `${from.transactionId}:${from.position}`;
      const group = groups.get(key) ?? { from, projections: [] };
      group.projections.push(projection);
      groups.set(key, group);
    }
    let read = 0;
    await Promise.all(
      [...groups.values()].map(async ({ from, projections }) => {
        const readAt = performance.now();
        const events = await this.store.readAll(from, this.batchSize);
        read = Math.max(read, events.length);
        // Each in its own transaction: one that fails leaves the others' batches applied.
        const settled = events.length === 0 ? [] : await Promise.allSettled(projections.map((p) => this.apply(p, from, events)));
        const failed = settled.flatMap((r, i) => (r.status === 'rejected' ? [{ name: projections[i].name, error: r.reason as unknown }] : []));
        if (events.length < this.batchSize) {
          for (const [i, p] of projections.entries()) if (settled[i]?.status !== 'rejected') behind.reached(this, p.name, readAt);
        }
        for (const f of failed) failures.inc({ projection: f.name });
        if (failed.length > 0) {
          const first = failed[0].error instanceof Error ? failed[0].error.message : String(failed[0].error);
          throw new Error(`projection ${failed.map((f) => f.name).join(', ')} failed on the events after position ${from.position}: ${first}`, { cause: failed[0].error });
        }
      }),
    );
    return read;
  }

  /**
   * Builds the projection's read model again from position 0, beside the one in use, and puts it
   * in its place (see `rebuildBeside`); running instances go on meanwhile. Returns how many
   * events were read.
   */
  async rebuild(name: string): Promise<number> {
    const projection = this.projections.find((p) => p.name === name);
    if (!projection) throw new Error(`no projection named ${name}`);
    return rebuildBeside(this.db, this.store, projection, this.batchSize);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let read: number;
      try {
        read = await this.round();
        this.settleWaiters();
      } catch (error) {
        this.options.logger?.error({ err: error }, 'projection batch failed; retrying');
        await this.idle.sleep(500);
        continue;
      }
      // A short batch was everything there was: look again at once only for someone waiting
      // (read-your-writes); otherwise at the next poll or nudge, rather than spend a read
      // finding nothing after every batch.
      if (read > 0) {
        this.idle.busy();
        this.lastFound = Date.now();
      }
      if (read === 0 || (read < this.batchSize && this.waiters.size === 0)) await this.idle.rest();
    }
  }

  private async position(projection: Projection): Promise<GlobalCheckpoint> {
    const known = this.positions.get(projection.name);
    if (known) return known;
    const cp = (await this.storedCheckpoint(projection.name)) ?? START_OF_STORE;
    this.positions.set(projection.name, cp);
    return cp;
  }

  /** The projection's checkpoint row as stored (none before its first batch). */
  private async storedCheckpoint(name: string): Promise<GlobalCheckpoint | undefined> {
    const { rows } = await sql<{ transaction_id: string; position: string }>`SELECT transaction_id::text,
      position::text FROM proj_checkpoints WHERE name = ${name}`.execute(this.db);
    return rows[0] && { transactionId: rows[0].transaction_id, position: rows[0].position };
  }

  private async apply(projection: Projection, from: GlobalCheckpoint, events: EventEnvelope[]): Promise<void> {
    const last = checkpointOf(events[events.length - 1]);
    const handles = this.handled(projection);
    applied.inc({ projection: projection.name }, events.length);
    if (!events.some((e) => handles.has(e.type))) {
      // Nothing here for this projection: move on in memory only (no commit). Its stored
      // checkpoint stays behind until it next applies something or has passed over enough;
      // after a restart it rereads and skips these events again, which changes nothing.
      const skipped = (this.skipped.get(projection.name) ?? 0) + events.length;
      if (skipped < SKIPPED_BEFORE_SAVE) {
        this.skipped.set(projection.name, skipped);
        this.positions.set(projection.name, last);
        return;
      }
    }
    this.skipped.delete(projection.name);
    if (projection.write) return this.applyAsStatement(projection, from, events);
    await this.db.transaction().execute(async (trx) => {
      // One statement locks the checkpoint and moves it past this batch (unless it is there
      // already), returning what it was: the batch's writes then commit with it, or a failure
      // rolls both back. (It was a lock, then an update.)
      const claim = () => sql<{ transaction_id: string; position: string }>`
        WITH old AS (SELECT name, transaction_id, position FROM proj_checkpoints WHERE name = ${projection.name} FOR UPDATE),
        ahead AS (SELECT old.*, (old.transaction_id, old.position) < (${last.transactionId}::xid8, ${last.position}::bigint) AS moves FROM old)
        UPDATE proj_checkpoints p
        SET transaction_id = CASE WHEN ahead.moves THEN ${last.transactionId}::xid8 ELSE ahead.transaction_id END,
            position = CASE WHEN ahead.moves THEN ${last.position}::bigint ELSE ahead.position END,
            updated_at = now()
        FROM ahead WHERE p.name = ahead.name
        RETURNING ahead.transaction_id::text, ahead.position::text`.execute(trx);
      let claimed = await claim();
      // The row exists but for a projection's first batch: one query, not two, per batch.
      if (claimed.rows.length === 0) {
        await createCheckpoint(trx, projection.name);
        claimed = await claim();
      }
      const stored = { transactionId: claimed.rows[0].transaction_id, position: claimed.rows[0].position };
      // Another instance (or a rebuild's swap) may have applied part of this batch already.
      const overtaken = compareCheckpoints(stored, from) > 0;
      const fresh = events.filter((e) => handles.has(e.type) && (!overtaken || compareCheckpoints(checkpointOf(e), stored) > 0));
      if (fresh.length > 0) await projection.apply(trx, fresh);
      this.positions.set(projection.name, compareCheckpoints(last, stored) > 0 ? last : stored);
    });
  }

  /**
   * A StatementProjection's batch: its write and the checkpoint's move as one statement, in no
   * transaction. The checkpoint moves only if it is no further than where this batch starts (no
   * one applied past it) and not locked by another instance right now (SKIP LOCKED: waiting could
   * deadlock with a rebuild, which locks the row and then the tables this statement already
   * holds); the write is guarded by the move. When it did not move, the
   * stored checkpoint says why, and the next round goes on from there.
   */
  private async applyAsStatement(projection: StatementProjection, from: GlobalCheckpoint, events: EventEnvelope[]): Promise<void> {
    const last = checkpointOf(events[events.length - 1]);
    const handles = this.handled(projection);
    const relevant = events.filter((e) => handles.has(e.type));
    const write = relevant.length > 0 ? await projection.write(this.db, relevant, sql<boolean>`EXISTS (SELECT 1 FROM moved)`) : undefined;
    const { rows } = await sql<{ moved: number }>`
      WITH claimed AS (
        SELECT name FROM proj_checkpoints
        WHERE name = ${projection.name}
          AND (transaction_id, position) <= (${from.transactionId}::xid8, ${from.position}::bigint)
        FOR UPDATE SKIP LOCKED
      ), moved AS (
        UPDATE proj_checkpoints p SET transaction_id = ${last.transactionId}::xid8, position = ${last.position}::bigint, updated_at = now()
        FROM claimed WHERE p.name = claimed.name
        RETURNING 1
      )${write ? sql`, written AS (${write})` : sql``}
      SELECT count(*)::int AS moved FROM moved`.execute(this.db);
    if (rows[0].moved === 1) {
      this.positions.set(projection.name, last);
      return;
    }
    const stored = await this.storedCheckpoint(projection.name);
    // The projection's first batch: its checkpoint row is made, and the batch goes again.
    if (!stored) return createCheckpoint(this.db, projection.name);
    // Another instance (or a rebuild's swap) applied past this batch's start: go on from where
    // the checkpoint stands. (Otherwise another instance, or a swap, held it: the batch goes again.)
    if (compareCheckpoints(stored, from) > 0) this.positions.set(projection.name, stored);
  }

  private readonly handledTypes = new Map<string, Set<string>>();
  private handled(projection: Projection): Set<string> {
    let types = this.handledTypes.get(projection.name);
    if (!types) this.handledTypes.set(projection.name, (types = new Set(projection.handles)));
    return types;
  }

  private reached(checkpoint: GlobalCheckpoint): boolean {
    return this.projections.every((p) => {
      const at = this.positions.get(p.name);
      return at !== undefined && compareCheckpoints(at, checkpoint) >= 0;
    });
  }

  private settleWaiters(): void {
    for (const waiter of this.waiters) {
      if (this.reached(waiter.checkpoint)) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

}
