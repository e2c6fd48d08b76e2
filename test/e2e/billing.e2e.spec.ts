import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_ACCOUNTS, customerAccount, usdToMicros } from '@volt/ledger-contracts';
import { Ledger, createVoucher } from '@volt/ledger-infra';
import { startStack, type TestStack } from '../support/stack';

let stack: TestStack;
let ledger: Ledger;
beforeAll(async () => {
  stack = await startStack({ ledger: true });
  ledger = new Ledger(stack.db.db);
});
afterAll(() => stack?.stop());

const settled = () => stack.ledger!.runtime.projections.catchUp();

describe('balance, transactions and vouchers', () => {
  it('shows credit, holds and charges in the balance and the history, newest first', async () => {
    const org = await stack.createOrg('Billing A');
    const call = (method: string, path: string, body?: unknown) => stack.call(method, path, { key: org.apiKey, body });
    expect((await call('GET', '/api/volt/balance')).body).toEqual({ balance: 0, held: 0, available: 0, arrears: 0, currency: 'USD' });

    await ledger.transfer({ id: `credit:${org.orgId}`, debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org.orgId), amount: usdToMicros(25), description: 'prepaid credit' });
    await ledger.hold({ id: `hold:${org.orgId}`, debit: customerAccount(org.orgId), credit: SYSTEM_ACCOUNTS.revenue, amount: usdToMicros(2.4), expiresAt: new Date(Date.now() + 3600_000).toISOString(), resource: 'pod_abc' });
    await ledger.transfer({ id: `charge:${org.orgId}`, debit: customerAccount(org.orgId), credit: SYSTEM_ACCOUNTS.revenue, amount: usdToMicros(0.39), resource: 'pod_abc', description: 'GPU time' });
    await settled();
    expect((await call('GET', '/api/volt/balance')).body).toEqual({ balance: 24.61, held: 2.4, available: 22.21, arrears: 0, currency: 'USD' });
    const history = (await call('GET', '/api/volt/billing/transactions')).body;
    expect(history.total).toBe(2);
    expect(history.transactions.map((t: { type: string; amount: number; resource: string | null }) => [t.type, t.amount, t.resource])).toEqual([
      ['charge', -0.39, 'pod_abc'],
      ['credit', 25, null],
    ]);
    expect(history.transactions[0]).toMatchObject({ id: `charge:${org.orgId}`, currency: 'USD', description: 'GPU time', created_at: expect.any(String) });
    expect((await call('GET', '/api/volt/billing/transactions?limit=1&offset=1')).body.transactions.map((t: { type: string }) => t.type)).toEqual(['credit']);
  });

  it('redeems a voucher once per organization, up to its limit', async () => {
    const a = await stack.createOrg('Voucher A');
    const b = await stack.createOrg('Voucher B');
    await createVoucher(stack.db.db, { code: 'WELCOME-10', amount: usdToMicros(10), maxRedemptions: 1, expiresAt: null });
    const redeem = (key: string, code: string) => stack.call('POST', '/api/volt/billing/vouchers/redeem', { key, body: { code } });
    const first = await redeem(a.apiKey, 'welcome-10');
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ code: 'WELCOME-10', amount: 10, currency: 'USD', message: 'Voucher redeemed: 10.00 USD added to your balance.' });
    expect((await stack.call('GET', '/api/volt/balance', { key: a.apiKey })).body.balance).toBe(10);
    const again = await redeem(a.apiKey, 'WELCOME-10');
    expect(again.body.message).toBe('This voucher was already redeemed for your organization.');
    expect((await stack.call('GET', '/api/volt/balance', { key: a.apiKey })).body.balance).toBe(10);
    expect((await stack.call('GET', '/api/volt/billing/transactions', { key: a.apiKey })).body.transactions.map((t: { type: string }) => t.type)).toEqual(['voucher']);
    const usedUp = await redeem(b.apiKey, 'WELCOME-10');
    expect(usedUp.status).toBe(409);
    expect(usedUp.body).toMatchObject({ error: true, status: 409, code: 'CONFLICT', message: 'This voucher has been fully redeemed.' });
    expect((await redeem(b.apiKey, 'NOPE-1234')).status).toBe(404);
    const bad = await stack.call('POST', '/api/volt/billing/vouchers/redeem', { key: b.apiKey, body: { code: '<script>' } });
    expect(bad.status).toBe(400);
    expect(bad.body.details[0].field).toBe('code');
  });

  it('rebuilds the balance and history read models from the event store into identical rows', async () => {
    const rows = async () => ({
      balances: await stack.db.db.selectFrom('ledger_balances').selectAll().orderBy('account_id').execute(),
      history: await stack.db.db.selectFrom('ledger_history').selectAll().orderBy('entry_id').orderBy('account_id').execute(),
    });
    await settled();
    const before = await rows();
    expect(before.balances.length).toBeGreaterThan(3);
    await stack.ledger!.runtime.projections.rebuild('ledger.balances');
    await stack.ledger!.runtime.projections.rebuild('ledger.history');
    expect(await rows()).toEqual(before);
    // And the read model agrees with the ledger's own accounts, micro-dollar for micro-dollar.
    for (const b of before.balances) expect(Number(b.balance)).toBe((await ledger.account(b.account_id as string)).balance);
  });
});
