import { sql } from 'kysely';
import type { Database, EventStore } from '@volt/event-store';
import { arrearsAccount } from '@volt/ledger-contracts';
import type { Logger } from '@volt/telemetry';
import { appendBillingEvent } from './billing-events';

/** What the grace policy needs of the ledger: an account's balance (an arrears account is negative while owed), and paying arrears from what is available. */
export interface BalanceLedger {
  account(accountId: string): Promise<{ balance: number }>;
  settleArrears(tenantId: string): Promise<number>;
}

interface Clock {
  tenant_id: string;
  zero_since: Date;
  warned_at: Date | null;
  expired_at: Date | null;
}

/**
 * The policy for organizations at zero balance. The clock starts at the first charge their
 * balance could not pay (arrears) and stops when all arrears are paid (by a top-up, or from
 * money that was available when they were recorded). `warningMs`
 * before `graceMs` have passed, PodsDeletionScheduled names the stopped pods to be deleted;
 * when they have passed, GracePeriodExpired tells the pods service to delete them. Each
 * event's id derives from (organization, clock start): repeating a step appends nothing.
 */
export class GracePolicy {
  constructor(
    private readonly db: Database,
    private readonly store: EventStore,
    private readonly ledger: BalanceLedger,
    private readonly graceMs: number,
    private readonly warningMs: number,
    private readonly logger?: Logger,
  ) {}

  /** Starts the clocks of the organizations just found unable to pay, then moves every running clock on. */
  async run(exhausted: string[], now = new Date()): Promise<void> {
    if (exhausted.length > 0) {
      await sql`INSERT INTO billing_grace (tenant_id, zero_since) SELECT unnest(${exhausted}::text[]), ${now.toISOString()}::timestamptz
        ON CONFLICT (tenant_id) DO NOTHING`.execute(this.db);
    }
    const clocks = (await this.db.selectFrom('billing_grace').selectAll().execute()) as Clock[];
    for (const clock of clocks) {
      // One organization's failure (a database hiccup) must not hold up the others' clocks.
      await this.step(clock, now).catch((error) => this.logger?.error({ err: error, tenantId: clock.tenant_id }, 'grace step failed; the next cycle retries it'));
    }
  }

  private async step(c: Clock, now: Date): Promise<void> {
    const t = c.tenant_id;
    const since = c.zero_since.toISOString();
    const key = `${t}:${since}`;
    // Money that arrived while a charge was being recorded as owed pays it now.
    await this.ledger.settleArrears(t);
    if ((await this.ledger.account(arrearsAccount(t))).balance >= 0) {
      await appendBillingEvent(this.store, t, `grace-restored:${key}`, 'BalanceRestored', { tenantId: t, zeroSince: since, at: now.toISOString() });
      await this.db.deleteFrom('billing_grace').where('tenant_id', '=', t).where('zero_since', '=', c.zero_since).execute();
      this.logger?.info({ tenantId: t }, 'arrears paid; grace clock stopped');
      return;
    }
    const deleteAt = c.zero_since.getTime() + this.graceMs;
    if (!c.warned_at && now.getTime() >= deleteAt - this.warningMs) {
      const podIds = await this.stoppedPods(t);
      await appendBillingEvent(this.store, t, `grace-warning:${key}`, 'PodsDeletionScheduled', { tenantId: t, zeroSince: since, deleteAt: new Date(deleteAt).toISOString(), podIds, at: now.toISOString() });
      await this.db.updateTable('billing_grace').set({ warned_at: now }).where('tenant_id', '=', t).execute();
      this.logger?.warn({ tenantId: t, podIds, deleteAt: new Date(deleteAt).toISOString() }, 'zero balance: stopped pods scheduled for deletion');
    }
    if (!c.expired_at && now.getTime() >= deleteAt) {
      const podIds = await this.stoppedPods(t);
      await appendBillingEvent(this.store, t, `grace-expired:${key}`, 'GracePeriodExpired', { tenantId: t, zeroSince: since, podIds, at: now.toISOString() });
      await this.db.updateTable('billing_grace').set({ expired_at: now }).where('tenant_id', '=', t).execute();
      this.logger?.warn({ tenantId: t, podIds }, 'grace period at zero balance over: stopped pods to be deleted');
    }
  }

  /** Stopped pods are the ones accruing storage: an open storage meter. */
  private async stoppedPods(tenantId: string): Promise<string[]> {
    const rows = await this.db.selectFrom('billing_meters').select('pod_id').distinct().where('tenant_id', '=', tenantId).where('kind', '=', 'storage').where('ended_at', 'is', null).orderBy('pod_id').execute();
    return rows.map((r) => r.pod_id as string);
  }
}
