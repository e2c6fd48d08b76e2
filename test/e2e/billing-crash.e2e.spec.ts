import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { EventStore } from '@volt/event-store';
import { SYSTEM_ACCOUNTS, customerAccount, usdToMicros } from '@volt/ledger-contracts';
import { Ledger } from '@volt/ledger-infra';
import { eventually } from '../support/pods';
import { appsFixture } from '../support/process';

const apps = appsFixture();

const PODS = 40;
const org = 'org_crashbill';

describe('billing killed with SIGKILL in the middle of a charge cycle', () => {
  it('charges every window exactly once after a restart: none twice, none skipped', async () => {
    // 40 pods that each ran 10 minutes and 7 seconds, an hour ago: 11 windows each to charge.
    const db = apps.db;
    const store = new EventStore(db.db);
    const t0 = Math.floor((Date.now() - 3600_000) / 60_000) * 60_000 + 13_000;
    const at = (s: number) => new Date(t0 + s * 1000).toISOString();
    const meta = { tenantId: org, correlationId: 'c', causationId: null, actor: { type: 'system' as const, id: 'test' } };
    for (let i = 0; i < PODS; i++) {
      const podId = `pod_crash${i}`;
      for (const [type, s, data] of [
        ['PodRequested', 0, { podId, costPerHour: 1.29, volumeSizeGb: 50, holdId: null, requestedAt: at(0) }],
        ['PodRunning', 0, { podId, ip: null, sshPort: null, at: at(0) }],
        ['PodDeleteRequested', 607, { podId, at: at(607) }],
      ] as const) {
        await store.append(`pods:pod:${podId}`, [{ type, data, metadata: meta, occurredAt: at(s) }], { expectedVersion: 'any' });
      }
    }
    await new Ledger(db.db).transfer({ id: 'fund', debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org), amount: usdToMicros(100) });
    const env = apps.env({ VOLT_BILLING_CADENCE_MS: '60000' });

    // Dies after 150 of its 440 charges; restarted, it must finish the rest and nothing else.
    const doomed = await apps.start('billing', { ...env, VOLT_FAULT_CRASH_AFTER_CHARGES: '150' });
    expect(await doomed.exited).toBe('SIGKILL');
    const charged = async () => Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM ledger_entries WHERE kind = 'charge'`.execute(db.db)).rows[0].n);
    const afterCrash = await charged();
    expect(afterCrash).toBeGreaterThanOrEqual(150);
    expect(afterCrash).toBeLessThan(440);

    await apps.start('billing', env);
    await eventually('all 440 windows charged', async () => (await charged()) === 440, 30_000);
    // Every window of every pod exactly once, and the exact total: 1.29 USD/h for 607 s each.
    const perPod = Math.floor((1_290_000 * 607) / 3600);
    expect((await new Ledger(db.db).account(customerAccount(org))).balance).toBe(usdToMicros(100) - PODS * perPod);
    const windows = await sql<{ n: string }>`SELECT count(DISTINCT entry_id)::text AS n FROM ledger_entries WHERE kind = 'charge'`.execute(db.db);
    expect(windows.rows[0].n).toBe('440');
  }, 90_000);
});
