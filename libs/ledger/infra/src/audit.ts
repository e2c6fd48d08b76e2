import { sql, type Transaction } from 'kysely';
import { upcast, type GlobalCheckpoint } from '@volt/contracts';
import type { Database } from '@volt/event-store';
import { arrearsAccount, customerAccount, ledgerJournal } from '@volt/ledger-contracts';
import { ledgerBalancesProjection, movesOf } from './read-models/projections';

/** An organization's money in micro-dollars; `arrears` is what it owes (0 or more). */
export interface Money {
  balance: number;
  held: number;
  arrears: number;
}

export interface BalanceAudit {
  orgId: string;
  asOf: string;
  /** The ledger events of the organization's accounts that took place up to `asOf`. */
  events: number;
  /** What those events add up to: the store's word. */
  replayed: Money;
  /** Only for the present: the ledger's own rows (its balance checks run on them), and the read model. */
  checks?: {
    ledgerAccounts: { money: Money; agrees: boolean };
    /** The read model against the store replayed to the read model's checkpoint (it may lag). */
    readModel: { money: Money; replayed: Money; position: string; agrees: boolean };
  };
}

type Trx = Transaction<any>;
const sameMoney = (a: Money, b: Money) => a.balance === b.balance && a.held === b.held && a.arrears === b.arrears;

/**
 * Replays an organization's ledger events from the event store: its balance, held amount and
 * arrears as of `asOf` (when each request took place, its `at`). Without `asOf` it also checks,
 * in the same snapshot, that the ledger's account rows and the `ledger.balances` read model say
 * what the store says. `since` is the first day to read (the organization's creation).
 */
export async function auditBalance(db: Database, orgId: string, since: Date, asOf?: Date): Promise<BalanceAudit> {
  // One snapshot for the replay and the rows it is compared with: every event a row reflects is
  // visible in it, and nothing committed after it is.
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      const now = new Date((await sql<{ now: Date }>`SELECT now() AS now`.execute(trx)).rows[0].now);
      // The present is everything in the snapshot, whatever the clocks that stamped it said.
      const all = await replay(trx, orgId, since, asOf ?? null, now);
      const audit: BalanceAudit = { orgId, asOf: (asOf ?? now).toISOString(), events: all.events, replayed: all.money };
      if (asOf) return audit;
      const ledgerAccounts = await moneyIn(trx, 'ledger_accounts', orgId);
      const cp = (await sql<{ transaction_id: string; position: string }>`SELECT transaction_id::text, position::text FROM proj_checkpoints WHERE name = ${ledgerBalancesProjection.name}`.execute(trx)).rows[0];
      const checkpoint = cp ? { transactionId: cp.transaction_id, position: cp.position } : { transactionId: '0', position: '0' };
      const atCheckpoint = await replay(trx, orgId, since, null, now, checkpoint);
      const readModel = await moneyIn(trx, 'ledger_balances', orgId);
      audit.checks = {
        ledgerAccounts: { money: ledgerAccounts, agrees: sameMoney(ledgerAccounts, all.money) },
        readModel: { money: readModel, replayed: atCheckpoint.money, position: checkpoint.position, agrees: sameMoney(readModel, atCheckpoint.money) },
      };
      return audit;
    });
}

/**
 * Sums the moves of the organization's ledger events. They are read from the ledger's daily
 * journal streams (each a day's events of every organization, so filtered here by account in
 * SQL rather than loaded whole), from `since`'s day to the day after `until` (a request's `at`
 * is taken just before its transaction, which may run past midnight) or `now`: those that took
 * place up to `until` when given, and up to `upTo` in the global order when given.
 */
async function replay(trx: Trx, orgId: string, since: Date, until: Date | null, now: Date, upTo?: GlobalCheckpoint): Promise<{ events: number; money: Money }> {
  const days: string[] = [];
  const last = (until ?? now).getTime() + 86_400_000;
  for (let d = Date.UTC(since.getUTCFullYear(), since.getUTCMonth(), since.getUTCDate()); d <= last; d += 86_400_000) {
    days.push(ledgerJournal(new Date(d).toISOString().slice(0, 10)));
  }
  const accounts = [customerAccount(orgId), arrearsAccount(orgId)];
  const before = until ? sql`AND (data->>'at')::timestamptz <= ${until.toISOString()}::timestamptz` : sql``;
  const within = upTo ? sql`AND (transaction_id, position) <= (${upTo.transactionId}::xid8, ${upTo.position}::bigint)` : sql``;
  // The filter names the fields as every stored version has them (a later version that renamed
  // debit or credit would need it to name both); the sums read each event as its current version.
  const { rows } = await sql<{ type: string; schema_version: number; data: Record<string, unknown> }>`
    SELECT type, schema_version, data FROM es_events
     WHERE stream_id = ANY(${days}::text[])
       AND (data->>'debit' = ANY(${accounts}::text[]) OR data->>'credit' = ANY(${accounts}::text[]))
       ${before} ${within}`.execute(trx);
  const sums = new Map(accounts.map((a) => [a, [0, 0]]));
  for (const row of rows) {
    const data = upcast(row.type, row.schema_version, row.data).data as Record<string, unknown>;
    for (const [account, balance, held] of movesOf[row.type]?.(data) ?? []) {
      const sum = sums.get(account);
      if (sum) (sum[0] += balance), (sum[1] += held);
    }
  }
  const [customer, arrears] = accounts.map((a) => sums.get(a)!);
  return { events: rows.length, money: { balance: customer[0], held: customer[1], arrears: Math.max(0, -arrears[0]) } };
}

/** The organization's money as a table of account rows holds it (system accounts' shards summed like any). */
async function moneyIn(trx: Trx, table: 'ledger_accounts' | 'ledger_balances', orgId: string): Promise<Money> {
  const { rows } = await sql<{ account_id: string; balance: string; held: string }>`
    SELECT account_id, sum(balance)::text AS balance, sum(held)::text AS held FROM ${sql.table(table)}
     WHERE account_id IN (${customerAccount(orgId)}, ${arrearsAccount(orgId)}) GROUP BY account_id`.execute(trx);
  const get = (id: string) => rows.find((r) => r.account_id === id);
  const customer = get(customerAccount(orgId));
  return { balance: Number(customer?.balance ?? 0), held: Number(customer?.held ?? 0), arrears: Math.max(0, -Number(get(arrearsAccount(orgId))?.balance ?? 0)) };
}
