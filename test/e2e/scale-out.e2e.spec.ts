import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { startService, type RunningService } from '@volt/platform';
import { auditBalance } from '@volt/ledger-infra';
import { billingService } from '../../apps/billing/src/billing.service';
import { ledgerService } from '../../apps/ledger/src/ledger.service';
import { podsService } from '../../apps/pods/src/pods.service';
import { eventually, metric, podReaches, simInstances } from '../support/pods';
import { settle, startStack, type TestStack } from '../support/stack';

// Every service twice over one PostgreSQL and one NATS, as they scale out: the gateways answer
// from their own read models, the pods, ledger and billing instances share their commands as
// JetStream queue consumers, and the reconcilers and billing cycles run side by side.
let stack: TestStack;
const second: RunningService[] = [];
beforeAll(async () => {
  stack = await startStack({ gateways: 2, liumCopies: 2, env: { VOLT_BILLING_CADENCE_MS: '1000' } });
  second.push(await startService(podsService(stack.env), stack.env));
  second.push(await startService(ledgerService(), stack.env));
  second.push(await startService(billingService(stack.env), stack.env));
});
afterAll(async () => {
  for (const s of second) await s.stop();
  await stack?.stop();
});

describe('two instances of every service', () => {
  it('run pods through their whole life once each, charge each second once, and agree with the provider and the store', async () => {
    const since = new Date(Date.now() - 60_000);
    // What each pods instance appends: both must take a share of the commands.
    const appends = [0, 0];
    [stack.pods, second[0]].forEach((s, i) => s.runtime.store.onAppended(() => void appends[i]++));
    const machines = (await stack.call('GET', '/api/volt/machines?provider=lium&instance_type=dedicated&limit=100')).body.machines as { id: string; available_gpus: number }[];
    const slots = machines.flatMap((m) => Array.from({ length: Math.min(m.available_gpus, 2) }, () => m.id)).slice(0, 8);
    expect(slots).toHaveLength(8);
    const created = await Promise.all(slots.map((machine_id, i) => stack.call('POST', '/api/volt/pods', { via: i % 2, body: { machine_id, template_id: 'tpl_pytorch21', name: `scale-${i}` } })));
    expect(created.map((r) => r.status)).toEqual(Array(8).fill(201));
    const pods = created.map((r) => r.body.id as string);
    for (const id of pods) await podReaches(stack, id, 'running');

    await new Promise((r) => setTimeout(r, 2500));
    // Stop half and delete the others, each through both gateways at once.
    const [stopped, deleted] = [pods.slice(0, 4), pods.slice(4)];
    const twice = (method: string, path: string) => Promise.all([0, 1].map((via) => stack.call(method, path, { via })));
    const answers = await Promise.all([...stopped.map((id) => twice('POST', `/api/volt/pods/${id}/stop`)), ...deleted.map((id) => twice('DELETE', `/api/volt/pods/${id}`))]);
    for (const pair of answers) expect(pair.map((r) => r.status)).toEqual([200, 200]);
    for (const id of stopped) await podReaches(stack, id, 'stopped');
    for (const id of deleted) await podReaches(stack, id, 'deleted');
    expect(appends[0]).toBeGreaterThan(0);
    expect(appends[1]).toBeGreaterThan(0);

    // The provider holds one instance for each stopped pod, stopped, and none for the deleted.
    await eventually('the provider to agree', async () => {
      const instances = (await simInstances(stack)).filter((i) => pods.includes(i.tag!));
      return instances.length === 4 && instances.every((i) => stopped.includes(i.tag!) && i.phase === 'stopped');
    });
    // No reconciler took the other's work in flight for an orphan (the metrics of this process's services are one registry).
    expect(await metric(stack.pods.url, 'gpu_orphans_detected_total')).toBe(0);

    // Every GPU meter charged exactly its life, to the micro-dollar: no second passed twice.
    const meters = await stack.db.db.selectFrom('billing_meters').selectAll().where('pod_id', 'in', pods).where('kind', '=', 'gpu').execute();
    expect(meters).toHaveLength(8);
    await eventually(
      'every GPU meter to be charged its whole life',
      async () => {
        const { rows } = await sql<{ resource: string; n: string }>`SELECT resource, sum(amount)::text AS n FROM ledger_entries
          WHERE kind = 'charge' AND description = 'GPU time' AND resource = ANY(${pods}) GROUP BY resource`.execute(stack.db.db);
        const charged = new Map(rows.map((r) => [r.resource, Number(r.n)]));
        const ended = await stack.db.db.selectFrom('billing_meters').selectAll().where('pod_id', 'in', pods).where('kind', '=', 'gpu').execute();
        return ended.every((m) => m.ended_at && charged.get(m.pod_id as string) === Math.floor((Number(m.rate) * (m.ended_at.getTime() - m.started_at.getTime())) / 3_600_000));
      },
      15_000,
    );
    // The money, replayed from the store, is what the ledger's rows and every read model say.
    await settle(stack.db, stack.ledger, second[1]);
    const audit = await auditBalance(stack.db.db, stack.orgId, since);
    expect(audit.checks).toMatchObject({ ledgerAccounts: { agrees: true }, readModel: { agrees: true } });
    const { rows } = await sql<{ total: string }>`SELECT coalesce(sum(balance), 0)::text AS total FROM ledger_accounts`.execute(stack.db.db);
    expect(Number(rows[0].total)).toBe(0);
    for (const via of [0, 1]) {
      const balance = (await stack.call('GET', '/api/volt/balance', { via })).body;
      expect(Math.round(balance.balance * 1e6)).toBe(audit.replayed.balance);
    }
  });
});
