import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_ACCOUNTS, arrearsAccount, customerAccount } from '@volt/ledger-contracts';
import { Ledger } from '@volt/ledger-infra';
import { eventually, podReaches, simInstances } from '../support/pods';
import { startStack, type TestStack } from '../support/stack';

let stack: TestStack;
beforeAll(async () => {
  // Charge every 300 ms so that running out happens within the test.
  stack = await startStack({ env: { VOLT_BILLING_CADENCE_MS: '300' } });
});
afterAll(() => stack?.stop());

describe('balance exhaustion', () => {
  it('stops (not deletes) every running pod of the organization that ran out, and only that organization’s', async () => {
    const poor = await stack.createOrg('Runs Dry');
    const rich = await stack.createOrg('Well Funded');
    const create = (key: string) => stack.call('POST', '/api/volt/pods', { key, body: { machine_id: 'mach_h100_01', template_id: 'tpl_pytorch21' } });
    const poorPods = [(await create(poor.apiKey)).body.id, (await create(poor.apiKey)).body.id];
    const richPod = (await create(rich.apiKey)).body.id;
    for (const id of poorPods) await podReaches(stack, id, 'running', { key: poor.apiKey });
    await podReaches(stack, richPod, 'running', { key: rich.apiKey });

    // The poor organization's first-hour holds are given back (as if expired) and its balance spent elsewhere.
    const ledger = new Ledger(stack.db.db);
    for (const id of poorPods) expect(await ledger.release({ id: `test-release:${id}`, holdId: `${id}:run:0` })).toMatchObject({ ok: true });
    const left = (await ledger.account(customerAccount(poor.orgId))).available;
    await ledger.transfer({ id: `spend:${poor.orgId}`, debit: customerAccount(poor.orgId), credit: SYSTEM_ACCOUNTS.revenue, amount: left });

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
});
