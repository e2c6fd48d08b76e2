import { sql, type Transaction } from 'kysely';
import type { EventEnvelope } from '@volt/contracts';
import { accountKind, accountTenant, SYSTEM_ACCOUNTS } from '@volt/ledger-contracts';
import { eachEvent, type StatementProjection } from '@volt/projections';

type Trx = Transaction<any>;

/**
 * How each event moves accounts: [account, balance change, held change]. The one definition of
 * what a ledger event does to a balance: the read model below and the audit's replay
 * (`auditBalance`) both sum these.
 */
export const movesOf: Record<string, (d: any) => [string, number, number][]> = {
  TransferPosted: (d) => [
    [d.debit, -d.amount, 0],
    [d.credit, d.amount, 0],
  ],
  HoldPlaced: (d) => [[d.debit, 0, d.amount]],
  ChargePosted: (d) => [
    [d.debit, -d.amount, -d.fromHold],
    [d.credit, d.amount, 0],
  ],
  HoldClosed: (d) => [[d.debit, -d.captured, -d.held], ...(d.captured > 0 ? [[d.credit, d.captured, 0] as [string, number, number]] : [])],
};

/**
 * ledger_balances: every account's balance and held amount. A batch's movements are summed per
 * account and written in one statement with the checkpoint's move (amounts are integers, so the
 * sums are exact); accounts in id order, so two writers lock rows in the same order.
 */
export const ledgerBalancesProjection: StatementProjection = {
  name: 'ledger.balances',
  tables: ['ledger_balances'],
  handles: Object.keys(movesOf),
  async write(_db, events, claimed) {
    const sums = new Map<string, [number, number]>();
    for (const e of events) {
      for (const [account, balance, held] of movesOf[e.type]?.(e.data) ?? []) {
        const sum = sums.get(account) ?? [0, 0];
        sums.set(account, [sum[0] + balance, sum[1] + held]);
      }
    }
    if (sums.size === 0) return undefined;
    const accounts = [...sums.keys()].sort();
    return sql`INSERT INTO ledger_balances (account_id, tenant_id, balance, held)
      SELECT * FROM unnest(${accounts}::text[], ${accounts.map(accountTenant)}::text[], ${accounts.map((a) => sums.get(a)![0])}::bigint[],
                           ${accounts.map((a) => sums.get(a)![1])}::bigint[])
      WHERE ${claimed}
      ON CONFLICT (account_id) DO UPDATE SET balance = ledger_balances.balance + EXCLUDED.balance, held = ledger_balances.held + EXCLUDED.held`;
  },
};

/** What a movement is, seen from a customer's account, named by the other side. */
function typeOf(counterparty: string, incoming: boolean): string {
  if (counterparty === SYSTEM_ACCOUNTS.deposits) return 'credit';
  if (counterparty === SYSTEM_ACCOUNTS.promotions) return 'voucher';
  if (counterparty === SYSTEM_ACCOUNTS.refunds) return 'refund';
  if (counterparty === SYSTEM_ACCOUNTS.revenue) return incoming ? 'refund' : 'charge';
  if (accountKind(counterparty) === 'arrears') return incoming ? 'arrears' : 'arrears_settlement';
  return incoming ? 'transfer_in' : 'transfer_out';
}

async function record(trx: Trx, e: EventEnvelope<any>, accountId: string, type: string, amount: number, resource: string | null, description: string) {
  if (accountKind(accountId) !== 'customer' || amount === 0) return;
  await trx
    .insertInto('ledger_history')
    .values({ entry_id: e.data.transferId, account_id: accountId, tenant_id: accountTenant(accountId), type, amount, resource, description, at: e.data.at, position: e.position })
    .onConflict((oc) => oc.columns(['entry_id', 'account_id']).doNothing())
    .execute();
}

/** A transfer or a charge: money from debit to credit, on both sides' histories. */
async function recordMove(trx: Trx, e: EventEnvelope<any>) {
  const d = e.data;
  await record(trx, e, d.debit, typeOf(d.credit, false), -d.amount, d.resource, d.description);
  await record(trx, e, d.credit, typeOf(d.debit, true), d.amount, d.resource, d.description);
}

/**
 * A usage charge (one per meter per billing cycle, every minute by default) goes on the
 * customer's history as one line per resource, kind and UTC hour in which it was charged,
 * summed, rather than sixty: the ledger keeps every charge; the history is for reading. The
 * line moves to the top of the history with each charge it takes in.
 */
async function recordCharge(trx: Trx, e: EventEnvelope<any>) {
  const d = e.data;
  if (accountKind(d.debit) !== 'customer' || typeOf(d.credit, false) !== 'charge' || !d.resource) return recordMove(trx, e);
  const hour = new Date(d.at).toISOString().slice(0, 13);
  const next = new Date(Date.parse(`${hour}:00:00Z`) + 3_600_000).toISOString().slice(11, 13);
  await trx
    .insertInto('ledger_history')
    .values({
      entry_id: `charges:${d.resource}:${d.description.toLowerCase().replace(/[^a-z0-9]+/g, '-')}:${hour}`,
      account_id: d.debit,
      tenant_id: accountTenant(d.debit),
      type: 'charge',
      amount: -d.amount,
      resource: d.resource,
      description: `${d.description}, charged ${hour.slice(0, 10)} ${hour.slice(11)}:00–${next}:00 UTC`,
      at: d.at,
      position: e.position,
    })
    .onConflict((oc) =>
      oc.columns(['entry_id', 'account_id']).doUpdateSet({
        amount: sql`ledger_history.amount + EXCLUDED.amount`,
        at: sql`GREATEST(ledger_history.at, EXCLUDED.at)`,
        position: sql`GREATEST(ledger_history.position, EXCLUDED.position)`,
      }),
    )
    .execute();
}

/** ledger_history: each customer's movements, newest first by position. Holds appear when captured. */
export const ledgerHistoryProjection = eachEvent('ledger.history', ['ledger_history'], {
  TransferPosted: recordMove,
  ChargePosted: recordCharge,
  async HoldClosed(trx, e: EventEnvelope<any>) {
    const d = e.data;
    await record(trx, e, d.debit, typeOf(d.credit, false), -d.captured, d.resource, `captured from hold ${d.holdId}`);
    await record(trx, e, d.credit, typeOf(d.debit, true), d.captured, d.resource, `captured from hold ${d.holdId}`);
  },
});

export const ledgerProjections = [ledgerBalancesProjection, ledgerHistoryProjection];
