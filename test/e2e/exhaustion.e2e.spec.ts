import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_ACCOUNTS, arrearsAccount, customerAccount } from '@volt/ledger-contracts';
import { Ledger } from '@volt/ledger-infra';
import { EventStore } from '@volt/event-store';
import { billingStream } from '@volt/billing-contracts';
import { eventually, podReaches, simInstances } from '../support/pods';
import { startStack, type TestStack } from '../support/stack';

let stack: TestStack;
beforeAll(async () => {
  // Charge every 300 ms so that running out happens within the test; seconds of grace, not 72 hours.
  stack = await startStack({ env: { VOLT_BILLING_CADENCE_MS: '300', VOLT_BILLING_GRACE_MS: '8000', VOLT_BILLING_GRACE_WARNING_MS: '4000' } });
});
afterAll(() => stack?.stop());

const create = (key: string) => stack.call('POST', '/api/volt/pods', { key, body: { machine_id: 'mach_h100_01', template_id: 'tpl_pytorch21' } });

/** The organization's first-hour holds are given back (as if expired) and its balance spent elsewhere. */
async function spendAll(orgId: string, pods: string[]) {
  const ledger = new Ledger(stack.db.db);
  for (const id of pods) expect(await ledger.release({ id: `test-release:${id}`, holdId: `${id}:run:0` })).toMatchObject({ ok: true });
  // Billing charges the pods every 300 ms meanwhile: a charge between the read and the transfer
  // leaves less than was read, and the transfer is refused; read again and retry (a few times:
  // charges come every 300 ms, so a run of refusals means something else is wrong).
  for (let attempt = 0; attempt < 20; attempt++) {
    const left = (await ledger.account(customerAccount(orgId))).available;
    if (left <= 0) return;
    const spent = await ledger.transfer({ id: `spend:${orgId}:${attempt}`, debit: customerAccount(orgId), credit: SYSTEM_ACCOUNTS.revenue, amount: left });
    if (spent.ok) return;
    expect(spent).toMatchObject({ code: 'INSUFFICIENT_BALANCE' });
  }
  throw new Error(`could not spend ${orgId}'s balance in 20 attempts`);
}

describe('balance exhaustion', () => {
  it('stops (not deletes) every running pod of the organization that ran out, and only that organization’s', async () => {
    const poor = await stack.createOrg('Runs Dry');
    const rich = await stack.createOrg('Well Funded');
    const poorPods = [(await create(poor.apiKey)).body.id, (await create(poor.apiKey)).body.id];
    const richPod = (await create(rich.apiKey)).body.id;
    for (const id of poorPods) await podReaches(stack, id, 'running', { key: poor.apiKey });
    await podReaches(stack, richPod, 'running', { key: rich.apiKey });

    await spendAll(poor.orgId, poorPods);
    const ledger = new Ledger(stack.db.db);

    for (const id of poorPods) {
      const stopped = await podReaches(stack, id, ['stopping', 'stopped'], { key: poor.apiKey, timeoutMs: 20_000 });
      expect(stopped.reason).toBe('insufficient_balance');
    }
    await eventually('the poor pods to be stopped at the provider', async () => {
      const phases = (await simInstances(stack)).filter((i) => poorPods.includes(i.tag!)).map((i) => i.phase);
      return phases.length === 2 && phases.every((p) => p === 'stopped');
    });
    expect((await stack.call('GET', `/api/volt/pods/${richPod}`, { key: rich.apiKey })).body.status).toBe('running');
    // What could not be paid is owed (in its own account), never taken below zero.
    expect((await ledger.account(arrearsAccount(poor.orgId))).balance).toBeLessThan(0);
    expect((await ledger.account(customerAccount(poor.orgId))).balance).toBeGreaterThanOrEqual(0);
    expect((await ledger.account(customerAccount(rich.orgId))).balance).toBeGreaterThan(0);
  });

  it('deletes the stopped pods of an organization still owing when the grace period ends, warning first; a top-up in time keeps them', async () => {
    const late = await stack.createOrg('Never Pays');
    const payer = await stack.createOrg('Pays In Time');
    const latePod = (await create(late.apiKey)).body.id;
    const payerPod = (await create(payer.apiKey)).body.id;
    await podReaches(stack, latePod, 'running', { key: late.apiKey });
    await podReaches(stack, payerPod, 'running', { key: payer.apiKey });
    await spendAll(late.orgId, [latePod]);
    await spendAll(payer.orgId, [payerPod]);
    await podReaches(stack, latePod, 'stopped', { key: late.apiKey, timeoutMs: 20_000 });
    await podReaches(stack, payerPod, 'stopped', { key: payer.apiKey, timeoutMs: 20_000 });
    // The payer tops up (a transfer like `volt-admin credit add`): the arrears are paid first.
    const ledger = new Ledger(stack.db.db);
    expect(await ledger.transfer({ id: `topup:${payer.orgId}`, debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(payer.orgId), amount: 100_000_000 })).toMatchObject({ ok: true });

    type BillingNews = { type: string; data: { podIds?: string[]; deleteAt: string; at: string; zeroSince: string } };
    const billingEvents = async (orgId: string) =>
      (await new EventStore(stack.db.db).readStream(billingStream(orgId))).filter((e) => e.type !== 'BalanceExhausted') as BillingNews[];
    const deleted = await podReaches(stack, latePod, 'deleted', { key: late.apiKey, timeoutMs: 30_000 });
    expect(deleted).toMatchObject({ reason: 'insufficient_balance' });
    expect(deleted.status_message).toMatch(/grace period at zero balance/);
    const lateEvents = await billingEvents(late.orgId);
    expect(lateEvents.map((e) => e.type)).toEqual(['PodsDeletionScheduled', 'GracePeriodExpired']);
    expect(lateEvents[0].data.podIds).toEqual([latePod]);
    // Warned a warning period ahead, deleted no earlier than announced.
    expect(Date.parse(lateEvents[0].data.deleteAt) - Date.parse(lateEvents[0].data.at)).toBeGreaterThan(3000);
    expect(Date.parse(lateEvents[1].data.at)).toBeGreaterThanOrEqual(Date.parse(lateEvents[0].data.deleteAt));
    await eventually('the late pod’s instance to be destroyed', async () => !(await simInstances(stack)).some((i) => i.tag === latePod && i.phase !== 'terminating'));

    // The payer's clock stopped when its arrears were paid; past its own deadline, its pod is still there.
    const restored = await eventually('the payer’s balance to be restored', async () => (await billingEvents(payer.orgId)).find((e) => e.type === 'BalanceRestored'));
    const deadline = Date.parse(restored.data.zeroSince) + 8000;
    await eventually('the payer’s deadline to pass', async () => Date.now() > deadline + 1000, 15_000);
    expect((await billingEvents(payer.orgId)).map((e) => e.type)).not.toContain('GracePeriodExpired');
    expect((await stack.call('GET', `/api/volt/pods/${payerPod}`, { key: payer.apiKey })).body.status).toBe('stopped');
    expect((await stack.call('GET', '/api/volt/balance', { key: payer.apiKey })).body).toMatchObject({ arrears: 0 });
  });
});
