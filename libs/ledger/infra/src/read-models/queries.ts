import { sql } from 'kysely';
import type { PageQuery } from '@volt/contracts';
import type { Database } from '@volt/event-store';
import { arrearsAccount, customerAccount, microsToUsd } from '@volt/ledger-contracts';

/** GET /api/volt/balance: from the read model. `arrears` is what the organization owes and could not pay. */
export async function balanceOf(db: Database, orgId: string) {
  const rows = await db.selectFrom('ledger_balances').select(['account_id', 'balance', 'held']).where('account_id', 'in', [customerAccount(orgId), arrearsAccount(orgId)]).execute();
  const get = (id: string) => rows.find((r) => r.account_id === id);
  const c = get(customerAccount(orgId));
  const balance = Number(c?.balance ?? 0);
  const held = Number(c?.held ?? 0);
  // Unpaid usage is debited to the arrears account: a negative balance there is what is owed.
  const owed = Math.max(0, -Number(get(arrearsAccount(orgId))?.balance ?? 0));
  // Exact to the micro-dollar: a balance rounded up to a cent would promise money that is not there.
  const usd = (micros: number) => microsToUsd(micros, true);
  return { balance: usd(balance), held: usd(held), available: usd(balance - held), arrears: usd(owed), currency: 'USD' as const };
}

/** GET /api/volt/billing/transactions: newest first. */
export async function transactionsOf(db: Database, orgId: string, page: PageQuery) {
  const base = db.selectFrom('ledger_history').where('tenant_id', '=', orgId).where('account_id', '=', customerAccount(orgId));
  const [rows, count] = await Promise.all([
    base.selectAll().orderBy('position', 'desc').orderBy('entry_id').limit(page.limit).offset(page.offset).execute(),
    base.select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow(),
  ]);
  return {
    transactions: rows.map((r) => ({
      id: r.entry_id as string,
      type: r.type as string,
      amount: microsToUsd(Number(r.amount), true),
      currency: 'USD' as const,
      resource: r.resource as string | null,
      description: r.description as string,
      created_at: (r.at as Date).toISOString(),
    })),
    total: Number(count.n),
  };
}
