import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { uuidFromName, type Database } from '@volt/event-store';
import { LedgerRequestSchema, accountTenant, type LedgerOutcome, type LedgerRequest } from '@volt/ledger-contracts';
import { counter, histogram } from '@volt/telemetry';
import type { Actor } from '@volt/contracts';

const applied = counter('volt_ledger_requests_total', 'Ledger requests by kind and outcome', ['kind', 'outcome']);
const batchSize = histogram('volt_ledger_batch_size', 'Requests applied per ledger transaction', [], [1, 2, 4, 8, 16, 32, 64, 128]);

const REFUSALS: Record<string, { code: Extract<LedgerOutcome, { ok: false }>['code']; message: string }> = {
  VL001: { code: 'INSUFFICIENT_BALANCE', message: 'Insufficient balance.' },
  VL002: { code: 'NOT_FOUND', message: 'No such hold.' },
  VL003: { code: 'CONFLICT', message: 'The hold is already closed.' },
  VL004: { code: 'VALIDATION_ERROR', message: 'A capture cannot exceed its hold.' },
  superseded: { code: 'SUPERSEDED', message: 'Refused: a newer writer has advanced the fence this request names.' },
};

export interface LedgerContext {
  actor?: Actor;
  correlationId?: string;
  causationId?: string | null;
}

type Request = LedgerRequest | { kind: 'expire'; id: string; holdId: string };
/** Requests per transaction at most. */
const MAX_BATCH = 256;
/**
 * Transactions in flight at once per instance. Two, on disjoint accounts: a request joins a
 * batch only if no batch in flight touches its organizations (or the system accounts it
 * touches), so the two never wait on each other's rows and cannot deadlock; a hold's capture or
 * release (whose accounts only the database knows) runs alone. A charge's hold is its
 * customer's, so it is covered by the customer's key. Measured: spread transfers ≈1.8× one
 * lane's; before the accounts were kept apart, two lanes deadlocked and measured worse.
 */
const LANES = 2;

type Pending = {
  request: Request;
  event: unknown;
  /** What the request may lock: its organizations, the system accounts it names, or '*' (anything). */
  keys: string[];
  resolve: (outcome: LedgerOutcome) => void;
  reject: (error: unknown) => void;
};

/** An organization's accounts share its key; each of Volt's own accounts is a key of its own. */
const keyOf = (account: string) => accountTenant(account) ?? account;

function keysOf(request: Request): string[] {
  if (request.kind === 'capture' || request.kind === 'release' || request.kind === 'expire') return ['*'];
  return [keyOf(request.debit), keyOf(request.credit)];
}

/** A deadlock victim or a serialization failure: the transaction did nothing and can run again. */
const retryable = (error: unknown) => ['40P01', '40001'].includes((error as { code?: string }).code ?? '');

/**
 * The double-entry ledger. Every request (transfer, hold, capture, release) has its own id
 * and is applied at most once; the same id with different content is refused. Requests that
 * arrive while a transaction is in flight go together in the next one (`ledger_apply`: ids
 * checked, balances moved under their row locks, a customer never below what it holds, the
 * events appended), so a busy account costs one commit per batch, not per transfer.
 */
export class Ledger {
  private queue: Pending[] = [];
  private lanes = 0;
  private scheduled = false;
  /** Keys held by the batches in flight, with how many hold each. */
  private readonly busy = new Map<string, number>();

  constructor(private readonly db: Database) {}

  apply(request: Request, context: LedgerContext = {}): Promise<LedgerOutcome> {
    const parsed = request.kind === 'expire' ? request : LedgerRequestSchema.parse(request);
    const event = {
      event_id: uuidFromName(`ledger:${parsed.id}`),
      occurred_at: new Date().toISOString(),
      metadata: { correlationId: context.correlationId ?? parsed.id, causationId: context.causationId ?? null, actor: context.actor ?? { type: 'system', id: 'ledger' } },
    };
    return new Promise((resolve, reject) => {
      this.queue.push({ request: parsed, event, keys: keysOf(parsed), resolve, reject });
      this.schedule();
    });
  }

  /**
   * Batches start once the callers of this turn have all queued: callers woken by one batch's
   * answers come back together, and would otherwise go as a batch of one and the rest.
   */
  private schedule(): void {
    if (this.scheduled || this.lanes >= LANES || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      while (this.lanes < LANES) {
        const batch = this.take(LANES - this.lanes);
        if (batch.length === 0) break;
        void this.runLane(batch);
      }
    });
  }

  private conflicts(keys: string[]): boolean {
    if (this.busy.size === 0) return false;
    return this.busy.has('*') || keys.some((k) => k === '*' || this.busy.has(k));
  }

  /** The next batch: queued requests clear of every batch in flight, at most a free lane's share of the queue. */
  private take(freeLanes: number): Pending[] {
    const limit = Math.min(MAX_BATCH, Math.ceil(this.queue.length / freeLanes));
    const batch: Pending[] = [];
    const rest: Pending[] = [];
    let barrier = false;
    for (const p of this.queue) {
      // A request that must run alone ('*') and cannot yet holds back everything after it, or
      // a steady stream of other batches would keep it waiting for ever.
      if (!barrier && batch.length < limit && !this.conflicts(p.keys)) batch.push(p);
      else {
        if (p.keys[0] === '*') barrier = true;
        rest.push(p);
      }
    }
    this.queue = rest;
    for (const p of batch) for (const k of p.keys) this.busy.set(k, (this.busy.get(k) ?? 0) + 1);
    return batch;
  }

  private async runLane(batch: Pending[]): Promise<void> {
    this.lanes++;
    batchSize.observe(batch.length);
    try {
      const outcomes = await this.run(batch);
      batch.forEach((p, i) => p.resolve(this.outcome(p.request, outcomes[i])));
    } catch (error) {
      for (const p of batch) p.reject(error);
    } finally {
      for (const p of batch) {
        for (const k of p.keys) {
          const left = this.busy.get(k)! - 1;
          if (left === 0) this.busy.delete(k);
          else this.busy.set(k, left);
        }
      }
      this.lanes--;
      this.schedule();
    }
  }

  /** One transaction; retried whole when PostgreSQL picks it as a deadlock victim (every request is idempotent). */
  private async run(batch: Pending[], attempt = 0): Promise<string[]> {
    try {
      const { rows } = await sql<{ outcomes: string[] }>`SELECT ledger_apply(${JSON.stringify(batch.map((p) => p.request))}::jsonb,
        ${JSON.stringify(batch.map((p) => p.event))}::jsonb) AS outcomes`.execute(this.db);
      return rows[0].outcomes;
    } catch (error) {
      if (retryable(error) && attempt < 5) return this.run(batch, attempt + 1);
      throw error;
    }
  }

  private outcome(request: Request, outcome: string): LedgerOutcome {
    applied.inc({ kind: request.kind, outcome });
    // 'voided': a release that came before its hold; the hold, when it comes, is refused.
    if (outcome === 'posted' || outcome === 'duplicate' || outcome === 'voided') return { ok: true, id: request.id, duplicate: outcome === 'duplicate' };
    if (outcome === 'mismatch') return { ok: false, code: 'CONFLICT', message: `Request id ${request.id} was already used for a different ${request.kind}.` };
    const refusal = REFUSALS[outcome];
    return { ok: false, code: refusal.code, message: refusal.message };
  }

  transfer(r: Omit<Extract<LedgerRequest, { kind: 'transfer' }>, 'kind'>, context?: LedgerContext) {
    return this.apply({ kind: 'transfer', ...r }, context);
  }

  hold(r: Omit<Extract<LedgerRequest, { kind: 'hold' }>, 'kind'>, context?: LedgerContext) {
    return this.apply({ kind: 'hold', ...r }, context);
  }

  /** Usage: taken from the hold first (which stays open with the rest), then from the available balance. */
  charge(r: Omit<Extract<LedgerRequest, { kind: 'charge' }>, 'kind'>, context?: LedgerContext) {
    return this.apply({ kind: 'charge', ...r }, context);
  }

  capture(r: { id: string; holdId: string; amount: number }, context?: LedgerContext) {
    return this.apply({ kind: 'capture', ...r }, context);
  }

  release(r: { id: string; holdId: string }, context?: LedgerContext) {
    return this.apply({ kind: 'release', ...r }, context);
  }

  /**
   * Makes the caller the current writer behind `name`: the epoch it returns is the one its
   * requests must carry from now on, and requests carrying an older one are refused (SUPERSEDED).
   * It waits for the batches that checked the old epoch to commit, so that whatever the caller
   * reads of the ledger afterwards includes everything its predecessor will ever have posted.
   * A batch that does not commit within 30 s (its connection cut mid-transaction, and not yet
   * noticed by PostgreSQL) fails the advance rather than hold the caller for as long.
   */
  async advanceFence(name: string): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      await sql`SET LOCAL lock_timeout = '30s'`.execute(trx);
      const { rows } = await sql<{ epoch: string }>`INSERT INTO ledger_fences (name, epoch) VALUES (${name}, 1)
        ON CONFLICT (name) DO UPDATE SET epoch = ledger_fences.epoch + 1 RETURNING epoch::text`.execute(trx);
      return Number(rows[0].epoch);
    });
  }

  /**
   * Releases holds past their expiry, each exactly once (their ids are derived from the hold's).
   * The kind and status are written into the statement, as in the partial index
   * ledger_pending_holds: a plan made once for any parameters cannot use that index, and would
   * read every entry the ledger ever kept, every 30 s.
   */
  async expireHolds(now = new Date(), limit = 500): Promise<number> {
    const due = await this.db
      .selectFrom('ledger_entries')
      .select('entry_id')
      .where(sql<boolean>`kind = 'hold' AND status = 'pending'`)
      .where('expires_at', '<=', now)
      .limit(limit)
      .execute();
    const outcomes = await Promise.all(due.map(({ entry_id }) => this.apply({ kind: 'expire', id: `expire:${entry_id}`, holdId: entry_id as string })));
    return outcomes.filter((o) => o.ok && !o.duplicate).length;
  }

  /**
   * Pays what an organization owes (its arrears) from what it has available now, as far as that
   * goes; returns the amount paid. Arrears can arise with money available when a top-up lands
   * between a refused charge and the recording of what it owed.
   */
  async settleArrears(tenantId: string, attempt = 0): Promise<number> {
    const id = randomUUID();
    const event = { event_id: id, occurred_at: new Date().toISOString(), metadata: { correlationId: `arrears-settle:${tenantId}`, causationId: null, actor: { type: 'system', id: 'ledger' } } };
    try {
      const { rows } = await sql<{ paid: string }>`SELECT ledger_settle_arrears(${tenantId}, ${JSON.stringify(event)}::jsonb)::text AS paid`.execute(this.db);
      return Number(rows[0].paid);
    } catch (error) {
      if (retryable(error) && attempt < 5) return this.settleArrears(tenantId, attempt + 1);
      throw error;
    }
  }

  /**
   * The amounts posted under these request ids (charges and transfers that moved money), by id;
   * ids never posted, or refused, are absent. Billing asks which windows of a stopped pod's meter
   * were charged before the stop reached it.
   */
  async posted(ids: string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const rows = await this.db.selectFrom('ledger_entries').select(['entry_id', 'amount']).where('entry_id', 'in', ids).where('kind', 'in', ['charge', 'transfer']).execute();
    return new Map(rows.map((r) => [r.entry_id as string, Number(r.amount)]));
  }

  /** The write side's own view of an account (authoritative, unlike the read model). */
  async account(accountId: string): Promise<{ balance: number; held: number; available: number }> {
    const { rows } = await sql<{ balance: string | null; held: string | null }>`SELECT sum(balance)::text AS balance, sum(held)::text AS held
      FROM ledger_accounts WHERE account_id = ${accountId}`.execute(this.db);
    const balance = Number(rows[0]?.balance ?? 0);
    const held = Number(rows[0]?.held ?? 0);
    return { balance, held, available: balance - held };
  }
}
