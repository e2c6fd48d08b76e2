import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { SYSTEM_ACCOUNTS, customerAccount, usdToMicros } from '@volt/ledger-contracts';
import { Ledger } from '@volt/ledger-infra';
import { CommandBus } from '@volt/messaging';
import { eventually } from '../support/pods';
import { appsFixture } from '../support/process';

const apps = appsFixture();

const HOLDS = 200;
const org = 'org_crashledger';
const command = (type: string, data: Record<string, unknown>) => ({
  id: randomUUID(),
  type,
  schemaVersion: 1,
  tenantId: org,
  correlationId: 'crash-test',
  causationId: null,
  actor: { type: 'system' as const, id: 'test' },
  issuedAt: new Date().toISOString(),
  data: { ...data, requestedAt: new Date().toISOString() },
});

describe('the ledger service killed with SIGKILL while holds are being placed and released', () => {
  it('applies every queued command once after a restart: no hold lost or doubled, nothing left held', async () => {
    const db = apps.db;
    await new Ledger(db.db).transfer({ id: 'fund', debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org), amount: usdToMicros(1_000) });
    const env = apps.env();
    const first = await apps.start('ledger', env);

    // 200 holds of 1 USD, each followed by its release, queued durably without waiting for replies.
    const bus = new CommandBus(apps.messaging.nc, apps.messaging.names);
    const holdIds = Array.from({ length: HOLDS }, (_, i) => `crash-hold-${i}`);
    for (const holdId of holdIds) {
      const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
      await bus.post('ledger', command('PlaceHold', { holdId, amount: usdToMicros(1), resource: null, description: 'crash test', expiresAt }));
      await bus.post('ledger', command('ReleaseHold', { holdId }));
    }
    const entries = async () => Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM ledger_entries WHERE entry_id LIKE '%crash-hold-%'`.execute(db.db)).rows[0].n);
    // Killed part-way: some applied, some not.
    await eventually('some commands applied', async () => (await entries()) >= 40, 20_000);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    const applied = await entries();
    expect(applied).toBeLessThan(2 * HOLDS);

    await apps.start('ledger', env);
    await eventually('every hold placed and released', async () => (await entries()) === 2 * HOLDS, 30_000);
    const { rows } = await sql<{ status: string; n: string }>`SELECT status, count(*)::text AS n FROM ledger_entries
      WHERE kind = 'hold' AND entry_id LIKE 'crash-hold-%' GROUP BY status`.execute(db.db);
    // Each release either closed its hold or, having come first, voided its id; none is pending.
    expect(rows.every((r) => r.status === 'released' || r.status === 'voided')).toBe(true);
    expect(rows.reduce((n, r) => n + Number(r.n), 0)).toBe(HOLDS);
    expect(await new Ledger(db.db).account(customerAccount(org))).toEqual({ balance: usdToMicros(1_000), held: 0, available: usdToMicros(1_000) });
    // One HoldPlaced per placed hold and one HoldClosed per release of one: nothing recorded twice.
    const placed = rows.find((r) => r.status === 'released')?.n ?? '0';
    const events = await sql<{ type: string; n: string; ids: string }>`SELECT type, count(*)::text AS n, count(DISTINCT data->>'transferId')::text AS ids
      FROM es_events WHERE type IN ('HoldPlaced', 'HoldClosed') AND (data->>'transferId' LIKE 'crash-hold-%' OR data->>'transferId' LIKE 'release:crash-hold-%')
      GROUP BY type ORDER BY type`.execute(db.db);
    expect(events.rows).toEqual([
      { type: 'HoldClosed', n: placed, ids: placed },
      { type: 'HoldPlaced', n: placed, ids: placed },
    ]);
    const sum = await sql<{ s: string }>`SELECT sum(balance)::text AS s FROM ledger_accounts`.execute(db.db);
    expect(sum.rows[0].s).toBe('0');
    bus.stop();
  }, 90_000);
});
