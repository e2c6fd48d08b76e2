import { sql } from 'kysely';
import { uuidFromName, type Database, type EventStore } from '@volt/event-store';
import { billingStream } from '@volt/billing-contracts';
import { SYSTEM_ACCOUNTS, arrearsAccount, customerAccount, type LedgerOutcome } from '@volt/ledger-contracts';
import { counter, type Logger } from '@volt/telemetry';

const charges = counter('volt_billing_charges_total', 'Usage charges posted, by how they were paid', ['mode']);

/** What the charging cycle needs of the ledger (the billing app passes the ledger itself). */
export interface ChargeLedger {
  charge(r: { id: string; debit: string; credit: string; amount: number; holdId: string | null; resource: string | null; description: string }): Promise<LedgerOutcome>;
  transfer(r: { id: string; debit: string; credit: string; amount: number; resource: string | null; description: string }): Promise<LedgerOutcome>;
}

interface Meter {
  meter_id: string;
  pod_id: string;
  tenant_id: string;
  kind: 'gpu' | 'storage';
  rate: string;
  hold_id: string | null;
  started_at: Date;
  ended_at: Date | null;
  charged_until: Date | null;
}

export interface CycleReport {
  meters: number;
  charges: number;
  arrears: number;
  /** Organizations whose balance did not cover a charge in this cycle. */
  exhausted: string[];
}

const HOUR_MS = 3_600_000;
const WIDTH = 32;

/**
 * Charges usage in fixed windows of `cadenceMs`. A meter's charge for window k is
 * C(min(end, window end)) − C(max(start, window start)), with C(t) = ⌊rate × (t − start) / 1 h⌋
 * in micro-dollars, so the windows of a meter add up to exactly rate × time, floored once.
 * The ledger id of each charge is `charge:<meter>:<k>`: a retry, a crash or two cycles at once
 * cannot charge a window twice. An open meter is charged for complete windows; a closed one
 * (stop, delete) is settled to its end.
 */
export class ChargingCycle {
  constructor(
    private readonly db: Database,
    private readonly store: EventStore,
    private readonly ledger: ChargeLedger,
    private readonly cadenceMs: number,
    private readonly logger?: Logger,
  ) {}

  async run(now = new Date()): Promise<CycleReport> {
    const { rows } = await sql<Meter>`SELECT m.*, p.charged_until FROM billing_meters m LEFT JOIN billing_progress p USING (meter_id)
      WHERE coalesce(p.charged_until, m.started_at) < coalesce(m.ended_at, ${now})`.execute(this.db);
    const report: CycleReport = { meters: rows.length, charges: 0, arrears: 0, exhausted: [] };
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(WIDTH, rows.length) }, async () => {
        while (next < rows.length) await this.chargeMeter(rows[next++], now, report);
      }),
    );
    report.exhausted = [...new Set(report.exhausted)];
    return report;
  }

  private async chargeMeter(m: Meter, now: Date, report: CycleReport): Promise<void> {
    const rate = Number(m.rate);
    const start = m.started_at.getTime();
    const end = Math.min((m.ended_at ?? now).getTime(), now.getTime());
    const from = (m.charged_until ?? m.started_at).getTime();
    const accrued = (t: number) => Math.floor((rate * (t - start)) / HOUR_MS);
    for (let k = Math.floor(from / this.cadenceMs); k * this.cadenceMs < end; k++) {
      const winStart = k * this.cadenceMs;
      const winEnd = winStart + this.cadenceMs;
      // An open meter waits for its window to finish; a closed one is settled to its end.
      if (!m.ended_at && winEnd > now.getTime()) break;
      const until = Math.min(end, winEnd);
      const amount = accrued(until) - accrued(Math.max(start, winStart));
      if (amount > 0) await this.chargeWindow(m, k, amount, report);
      await sql`INSERT INTO billing_progress (meter_id, charged_until) VALUES (${m.meter_id}, ${new Date(until)})
        ON CONFLICT (meter_id) DO UPDATE SET charged_until = greatest(billing_progress.charged_until, EXCLUDED.charged_until)`.execute(this.db);
    }
  }

  /** Charges one window from the balance (the pod's hold first); what the balance cannot pay goes to arrears. */
  private async chargeWindow(m: Meter, k: number, amount: number, report: CycleReport): Promise<void> {
    const chargeId = `charge:${m.meter_id}:${k}`;
    const decided = await this.db.selectFrom('billing_charges').select('mode').where('meter_id', '=', m.meter_id).where('win', '=', k).executeTakeFirst();
    let mode = decided?.mode as 'balance' | 'arrears' | undefined;
    const description = m.kind === 'gpu' ? 'GPU time' : 'storage while stopped';
    if (!mode) {
      const paid = await this.ledger.charge({ id: chargeId, debit: customerAccount(m.tenant_id), credit: SYSTEM_ACCOUNTS.revenue, amount, holdId: m.hold_id, resource: m.pod_id, description });
      if (!paid.ok && paid.code !== 'INSUFFICIENT_BALANCE') throw new Error(`charge ${chargeId} refused: ${paid.message}`);
      mode = paid.ok ? 'balance' : 'arrears';
      await this.db.insertInto('billing_charges').values({ meter_id: m.meter_id, win: k, amount, mode }).onConflict((oc) => oc.columns(['meter_id', 'win']).doNothing()).execute();
      // Whoever recorded the decision first is the decision.
      mode = ((await this.db.selectFrom('billing_charges').select('mode').where('meter_id', '=', m.meter_id).where('win', '=', k).executeTakeFirstOrThrow()).mode as 'balance' | 'arrears');
    }
    charges.inc({ mode });
    report.charges++;
    if (mode === 'balance') return;
    report.arrears++;
    report.exhausted.push(m.tenant_id);
    const owed = await this.ledger.transfer({ id: `${chargeId}:arrears`, debit: arrearsAccount(m.tenant_id), credit: SYSTEM_ACCOUNTS.revenue, amount, resource: m.pod_id, description: `${description} (unpaid)` });
    if (!owed.ok) throw new Error(`arrears ${chargeId} refused: ${owed.message}`);
    await this.store.append(
      billingStream(m.tenant_id),
      [
        {
          id: uuidFromName(`exhausted:${chargeId}`),
          type: 'BalanceExhausted',
          data: { tenantId: m.tenant_id, podId: m.pod_id, chargeId, unpaid: amount, at: new Date().toISOString() },
          metadata: { tenantId: m.tenant_id, correlationId: chargeId, causationId: null, actor: { type: 'system', id: 'billing' } },
          occurredAt: new Date().toISOString(),
        },
      ],
      { expectedVersion: 'any' },
    );
    this.logger?.warn({ tenantId: m.tenant_id, podId: m.pod_id, chargeId }, 'balance exhausted; usage recorded as arrears');
  }
}
