import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore, eventStoreMigrations } from '@volt/event-store';
import { ProjectionRunner, projectionMigrations } from '@volt/projections';
import { SYSTEM_ACCOUNTS, arrearsAccount, customerAccount, usdToMicros } from '@volt/ledger-contracts';
import { createTestDatabase, type TestDatabase } from '@volt/testing';
import { auditBalance } from './audit';
import { Ledger } from './ledger';
import { ledgerMigrations } from './migrations';
import { ledgerBalancesProjection } from './read-models/projections';

let t: TestDatabase;
let ledger: Ledger;
beforeAll(async () => {
  t = await createTestDatabase([eventStoreMigrations, projectionMigrations, ledgerMigrations]);
  ledger = new Ledger(t.db);
});
afterAll(() => t.drop());

const usd = usdToMicros;
/** A moment strictly between what came before and what comes after. */
async function moment(): Promise<Date> {
  await new Promise((r) => setTimeout(r, 15));
  const at = new Date();
  await new Promise((r) => setTimeout(r, 15));
  return at;
}

describe('ledger: an organization’s balance replayed from the store', () => {
  it('is what the requests up to any moment add up to, arrears included, and agrees with the rows built from them', async () => {
    const org = `org_audit${Math.random().toString(36).slice(2, 8)}`;
    const other = `${org}x`;
    const since = new Date(Date.now() - 1000);
    const cust = customerAccount(org);
    const ok = (r: Promise<{ ok: boolean }>) => expect(r).resolves.toMatchObject({ ok: true });
    // Another organization's money in the same journal changes nothing here.
    await ok(ledger.transfer({ id: `dep:${other}`, debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(other), amount: usd(50) }));
    const start = await moment();
    await ok(ledger.transfer({ id: `owed:${org}`, debit: arrearsAccount(org), credit: SYSTEM_ACCOUNTS.revenue, amount: usd(3) }));
    const owing = await moment();
    // The top-up pays the arrears first.
    await ok(ledger.transfer({ id: `dep:${org}`, debit: SYSTEM_ACCOUNTS.deposits, credit: cust, amount: usd(10) }));
    const paid = await moment();
    const hold = { id: `hold:${org}`, debit: cust, credit: SYSTEM_ACCOUNTS.revenue, amount: usd(2), expiresAt: new Date(Date.now() + 3600_000).toISOString() };
    await ok(ledger.hold(hold));
    await ok(ledger.charge({ id: `charge:${org}`, debit: cust, credit: SYSTEM_ACCOUNTS.revenue, amount: usd(0.5), holdId: hold.id, resource: 'pod_x' }));
    await ok(ledger.transfer({ id: `spend:${org}`, debit: cust, credit: SYSTEM_ACCOUNTS.revenue, amount: usd(1.25) }));
    const spent = await moment();

    const asOf = async (at: Date) => (await auditBalance(t.db, org, since, at)).replayed;
    expect(await asOf(start)).toEqual({ balance: 0, held: 0, arrears: 0 });
    expect(await asOf(owing)).toEqual({ balance: 0, held: 0, arrears: usd(3) });
    expect(await asOf(paid)).toEqual({ balance: usd(7), held: 0, arrears: 0 });
    expect(await asOf(spent)).toEqual({ balance: usd(5.25), held: usd(1.5), arrears: 0 });
    // Before the organization's first day nothing is read at all.
    expect(await auditBalance(t.db, org, new Date(Date.now() + 2 * 86_400_000), spent)).toMatchObject({ events: 0 });

    // The present, checked against the ledger's rows and the read model. The read model has not
    // run yet: it is compared with the store replayed to its (absent) checkpoint.
    const account = await ledger.account(cust);
    const present = await auditBalance(t.db, org, since);
    expect(present.replayed).toEqual({ balance: account.balance, held: account.held, arrears: 0 });
    expect(present.checks).toEqual({
      ledgerAccounts: { money: present.replayed, agrees: true },
      readModel: { money: { balance: 0, held: 0, arrears: 0 }, replayed: { balance: 0, held: 0, arrears: 0 }, position: '0', agrees: true },
    });
    const store = new EventStore(t.db);
    const runner = new ProjectionRunner(t.db, store, [ledgerBalancesProjection]);
    await runner.catchUp();
    const caughtUp = (await auditBalance(t.db, org, since)).checks!.readModel;
    expect(caughtUp).toMatchObject({ money: present.replayed, agrees: true });
    // A request the read model has not taken in yet: it lags, and still agrees to its checkpoint.
    await ok(ledger.transfer({ id: `spend:${org}:2`, debit: cust, credit: SYSTEM_ACCOUNTS.revenue, amount: usd(1) }));
    const lagging = await auditBalance(t.db, org, since);
    expect(lagging.replayed).toEqual({ balance: usd(4.25), held: usd(1.5), arrears: 0 });
    expect(lagging.checks).toMatchObject({ ledgerAccounts: { agrees: true }, readModel: { money: present.replayed, position: caughtUp.position, agrees: true } });
    await runner.catchUp();

    // A row changed behind the ledger's back is named.
    await sql`UPDATE ledger_balances SET balance = balance + 1 WHERE account_id = ${cust}`.execute(t.db);
    expect((await auditBalance(t.db, org, since)).checks).toMatchObject({ ledgerAccounts: { agrees: true }, readModel: { agrees: false, money: { balance: usd(4.25) + 1 } } });
    await sql`UPDATE ledger_accounts SET held = held - 1 WHERE account_id = ${cust}`.execute(t.db);
    expect((await auditBalance(t.db, org, since)).checks).toMatchObject({ ledgerAccounts: { agrees: false, money: { held: usd(1.5) - 1 } } });
  });
});
