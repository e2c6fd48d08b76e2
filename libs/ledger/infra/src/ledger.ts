import { sql } from 'kysely';
import { uuidFromName, type Database } from '@volt/event-store';
import { LedgerRequestSchema, type LedgerOutcome, type LedgerRequest } from '@volt/ledger-contracts';
import { counter } from '@volt/telemetry';
import type { Actor } from '@volt/contracts';

const applied = counter('volt_ledger_requests_total', 'Ledger requests by kind and outcome', ['kind', 'outcome']);

const REFUSALS: Record<string, Extract<LedgerOutcome, { ok: false }>['code']> = {
  VL001: 'INSUFFICIENT_BALANCE',
  VL002: 'NOT_FOUND',
  VL003: 'CONFLICT',
  VL004: 'VALIDATION_ERROR',
};

export interface LedgerContext {
  actor?: Actor;
  correlationId?: string;
  causationId?: string | null;
}

/**
 * The double-entry ledger. Every request (transfer, hold, capture, release) has its own id
 * and is applied at most once; the same id with different content is refused. Each is one
 * statement: `ledger_apply` checks the id, moves balances under their row locks (a customer
 * account never below what it holds) and appends the event, all in one transaction.
 */
export class Ledger {
  constructor(private readonly db: Database) {}

  async apply(request: LedgerRequest | (Omit<Extract<LedgerRequest, { kind: 'release' }>, 'kind'> & { kind: 'expire' }), context: LedgerContext = {}): Promise<LedgerOutcome> {
    const p = request.kind === 'expire' ? request : LedgerRequestSchema.parse(request);
    const now = new Date().toISOString();
    const event = {
      event_id: uuidFromName(`ledger:${p.id}`),
      occurred_at: now,
      metadata: {
        correlationId: context.correlationId ?? p.id,
        causationId: context.causationId ?? null,
        actor: context.actor ?? { type: 'system', id: 'ledger' },
      },
    };
    try {
      const { rows } = await sql<{ outcome: string }>`SELECT ledger_apply(${JSON.stringify(p)}::jsonb, ${JSON.stringify(event)}::jsonb) AS outcome`.execute(this.db);
      const outcome = rows[0].outcome;
      applied.inc({ kind: p.kind, outcome });
      if (outcome === 'mismatch') return { ok: false, code: 'CONFLICT', message: `Request id ${p.id} was already used for a different ${p.kind}.` };
      return { ok: true, id: p.id, duplicate: outcome === 'duplicate' };
    } catch (error) {
      const code = REFUSALS[(error as { code?: string }).code ?? ''];
      if (!code) throw error;
      applied.inc({ kind: p.kind, outcome: code });
      return { ok: false, code, message: (error as Error).message };
    }
  }

  transfer(r: Omit<Extract<LedgerRequest, { kind: 'transfer' }>, 'kind'>, context?: LedgerContext) {
    return this.apply({ kind: 'transfer', ...r }, context);
  }

  hold(r: Omit<Extract<LedgerRequest, { kind: 'hold' }>, 'kind'>, context?: LedgerContext) {
    return this.apply({ kind: 'hold', ...r }, context);
  }

  capture(r: { id: string; holdId: string; amount: number }, context?: LedgerContext) {
    return this.apply({ kind: 'capture', ...r }, context);
  }

  release(r: { id: string; holdId: string }, context?: LedgerContext) {
    return this.apply({ kind: 'release', ...r }, context);
  }

  /** Releases holds past their expiry, each exactly once (their ids are derived from the hold's). */
  async expireHolds(now = new Date(), limit = 500): Promise<number> {
    const due = await this.db
      .selectFrom('ledger_entries')
      .select('entry_id')
      .where('kind', '=', 'hold')
      .where('status', '=', 'pending')
      .where('expires_at', '<=', now)
      .limit(limit)
      .execute();
    let expired = 0;
    for (const { entry_id } of due) {
      const outcome = await this.apply({ kind: 'expire', id: `expire:${entry_id}`, holdId: entry_id as string });
      if (outcome.ok && !outcome.duplicate) expired++;
    }
    return expired;
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
