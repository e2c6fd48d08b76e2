import { sql } from 'kysely';
import { START_OF_STORE, type GlobalCheckpoint } from '@volt/contracts';
import { compareCheckpoints, withSessionLock, type Database, type EventStore } from '@volt/event-store';
import { appendBillingEvent } from './billing-events';
import { SYSTEM_ACCOUNTS, arrearsAccount, customerAccount, type Fence, type LedgerOutcome } from '@volt/ledger-contracts';
import { counter, type Logger } from '@volt/telemetry';

const charges = counter('volt_billing_charges_total', 'Usage charges posted, by how they were paid', ['mode']);
const givenBack = counter('volt_billing_given_back_total', "Usage windows charged past a meter's end (a pod's stop still on its way) and given back");

/** What the charging cycle needs of the ledger (the billing app passes the ledger itself). */
export interface ChargeLedger {
  charge(r: { id: string; debit: string; credit: string; amount: number; holdId: string | null; resource: string | null; description: string; fence: Fence }): Promise<LedgerOutcome>;
  transfer(r: { id: string; debit: string; credit: string; amount: number; resource: string | null; description: string; fence: Fence }): Promise<LedgerOutcome>;
  /** The amounts posted under these ids; ids not posted are absent. */
  posted(ids: string[]): Promise<Map<string, number>>;
  /** A new epoch for the fence `name`, once every request that carried the old one has landed or been refused. */
  advanceFence(name: string): Promise<number>;
}

/** The ledger fence of billing cycles: each cycle advances it, and the requests of one superseded are refused. */
const CYCLE_FENCE = 'billing-cycle';

/** A cycle's request refused because a later cycle advanced the fence (this one lost its lock). */
class Superseded extends Error {}

/** What one cycle knows and gathers as it charges its meters. */
interface Run {
  now: Date;
  fence: Fence;
  report: CycleReport;
  /** Decisions already taken for these meters (by a cycle that crashed, or one running beside this one). */
  decided: Map<string, Mode>;
  /** How far each meter was charged. */
  progress: Map<string, Date>;
  paid: { meterId: string; win: number; amount: number }[];
  /** The closed meters settled to their end. */
  done: Set<string>;
  /** What the ledger posted for windows past the ends of closed meters (`postedPastEnd`). */
  pastEnd: Map<string, number>;
}

type Mode = 'balance' | 'arrears';

interface Meter {
  meter_id: string;
  pod_id: string;
  tenant_id: string;
  kind: 'gpu' | 'storage';
  rate: string;
  hold_id: string | null;
  started_at: Date;
  ended_at: Date | null;
  /** Where in the global order the meter was closed (text: xid8 and bigint). */
  closed_transaction_id: string | null;
  closed_position: string | null;
  charged_until: Date | null;
  /** How far a cycle set out to charge it (written before charging: a crash may leave it ahead of charged_until). */
  planned_until: Date | null;
}

export interface CycleReport {
  meters: number;
  charges: number;
  arrears: number;
  /** Windows charged while a stop was on its way, given back. */
  givenBack: number;
  /** Organizations whose balance did not cover a charge in this cycle. */
  exhausted: string[];
}

/**
 * What a meter at `rate` micro-dollars per hour has accrued after `ms` milliseconds: floored once,
 * so the charging cycle's windows and a pod's shown cost value the same time the same way.
 */
export const accruedMicros = (rate: number, ms: number) => Math.floor((rate * ms) / 3_600_000);
const WIDTH = 64;

/** How far a meter is charged (ms), as stored: else its start. */
function chargedTo(m: Meter): number {
  return (m.charged_until ?? m.started_at).getTime();
}

/**
 * A closed meter is settled when it is charged exactly to its end and nothing past it may have
 * been charged (a window charged while its stop was on the way is given back first).
 */
function settled(m: Meter, done: Set<string>): boolean {
  if (done.has(m.meter_id)) return true;
  const end = m.ended_at!.getTime();
  return chargedTo(m) === end && (m.planned_until === null || m.planned_until.getTime() <= end);
}

/** Whether the meter has ended by `now` (one ending later, by a clock ahead of this one, has not). */
const endedBy = (m: Meter, now: Date) => m.ended_at !== null && m.ended_at.getTime() <= now.getTime();

/** The ledger id of a meter's charge for window k (its arrears transfer and refund add a suffix). */
const chargeId = (m: Meter, k: number) => `charge:${m.meter_id}:${k}`;

/** Meters in the order they were closed. */
function byPlace(a: Meter, b: Meter): number {
  return compareCheckpoints(
    { transactionId: a.closed_transaction_id!, position: a.closed_position! },
    { transactionId: b.closed_transaction_id!, position: b.closed_position! },
  );
}

/**
 * Charges usage in fixed windows of `cadenceMs`. A meter's charge for window k is
 * C(min(end, window end)) − C(max(start, window start)), with C(t) = ⌊rate × (t − start) / 1 h⌋
 * in micro-dollars, so the windows of a meter add up to exactly rate × time, floored once.
 * The ledger id of each charge is `charge:<meter>:<k>`: a retry, a crash or two cycles at once
 * cannot charge a window twice. An open meter is charged for complete windows; a closed one
 * (stop, delete) is settled to its end.
 *
 * A pod stops at the time its stop was asked for, but its meter closes when that event reaches
 * billing: a window that ended in between was charged as usage. Settling a closed meter gives
 * such windows back (`charge:<meter>:<k>:refund`, from revenue to the customer's balance, which
 * pays what the organization owes first), so a pod pays exactly rate × time however late its stop
 * arrives, a crash included: which windows were charged is asked of the ledger.
 */
export class ChargingCycle {
  constructor(
    private readonly db: Database,
    private readonly store: EventStore,
    private readonly ledger: ChargeLedger,
    private readonly cadenceMs: number,
    private readonly logger?: Logger,
    /** Called after each window charged (the crash tests kill the process from here). */
    private readonly afterCharge?: () => void,
  ) {}

  /** One cycle at a time across all billing instances (a PostgreSQL advisory lock); a cycle that finds it taken does nothing. */
  async run(now = new Date()): Promise<CycleReport> {
    const cycle = await withSessionLock(this.db, 'volt:billing:cycle', (lost) => this.runLocked(now, lost));
    return cycle.held ? cycle.value : { meters: 0, charges: 0, arrears: 0, givenBack: 0, exhausted: [] };
  }

  /**
   * `lost` says the lock went with its connection: another instance may be cycling now, so stop
   * taking meters. The fence goes further: advanced first, it makes the ledger refuse whatever a
   * cycle that lost its lock still sends (a window past a stop this cycle is settling, say), and
   * it waits for what that cycle already sent, so this one's look at the ledger misses nothing.
   */
  private async runLocked(now: Date, lost: () => Error | undefined): Promise<CycleReport> {
    const fence = { name: CYCLE_FENCE, epoch: await this.ledger.advanceFence(CYCLE_FENCE) };
    const settledMark = await this.settledThrough();
    const candidates = await this.candidates(settledMark);
    const done = new Set<string>();
    const rows = candidates.filter((m) => (m.ended_at ? !settled(m, done) : chargedTo(m) < now.getTime()));
    const report: CycleReport = { meters: rows.length, charges: 0, arrears: 0, givenBack: 0, exhausted: [] };
    const decided = new Map<string, Mode>();
    const ids = rows.map((r) => r.meter_id);
    for (let i = 0; i < ids.length; i += 5000) {
      const found = await this.db.selectFrom('billing_charges').select(['meter_id', 'win', 'mode']).where('meter_id', 'in', ids.slice(i, i + 5000)).execute();
      for (const d of found) decided.set(`${d.meter_id}:${d.win}`, d.mode as Mode);
    }
    await this.savePlanned(rows, now);
    const run: Run = { now, fence, report, decided, progress: new Map(), paid: [], done, pastEnd: await this.postedPastEnd(rows, now) };
    let next = 0;
    let superseded: Superseded | undefined;
    const stop = () => lost() ?? superseded;
    try {
      await Promise.all(
        Array.from({ length: Math.min(WIDTH, rows.length) }, async () => {
          while (next < rows.length && !stop()) {
            await this.chargeMeter(rows[next++], run).catch((error: unknown) => {
              if (!(error instanceof Superseded)) throw error;
              superseded = error;
            });
          }
        }),
      );
      if (stop()) this.logger?.warn({ charged: report.charges, meters: rows.length, superseded: superseded !== undefined }, 'lost the billing cycle lock; the rest waits for the next cycle');
    } finally {
      // Both only save work: after a crash, a paid window charged again is a duplicate the ledger ignores.
      await this.savePaid(run.paid);
      await this.saveProgress(run.progress, done);
    }
    await this.advanceSettled(settledMark, candidates, done);
    report.exhausted = [...new Set(report.exhausted)];
    return report;
  }

  /**
   * The meters a cycle must look at: every open one, every one closed after the settled mark
   * (settled or not: the mark moves over them), and any closed without a place in the order and
   * not yet settled. Not the meters settled before the mark, which are most of them and only grow.
   */
  private async candidates(settled: GlobalCheckpoint): Promise<Meter[]> {
    const columns = sql.raw(`m.meter_id, m.pod_id, m.tenant_id, m.kind, m.rate, m.hold_id, m.started_at, m.ended_at,
      m.closed_transaction_id::text AS closed_transaction_id, m.closed_position::text AS closed_position, p.charged_until, p.planned_until
      FROM billing_meters m LEFT JOIN billing_progress p USING (meter_id)`);
    const { rows } = await sql<Meter>`
      SELECT ${columns} WHERE m.ended_at IS NULL
      UNION ALL
      SELECT ${columns} WHERE m.closed_transaction_id IS NOT NULL
        AND (m.closed_transaction_id, m.closed_position) > (${settled.transactionId}::xid8, ${settled.position}::bigint)
      UNION ALL
      SELECT ${columns} WHERE m.ended_at IS NOT NULL AND m.closed_transaction_id IS NULL
        AND (coalesce(p.charged_until, m.started_at) <> m.ended_at OR p.planned_until > m.ended_at)`.execute(this.db);
    return rows;
  }

  private async settledThrough(): Promise<GlobalCheckpoint> {
    const row = await sql<{ transaction_id: string; position: string }>`SELECT transaction_id::text, position::text
      FROM billing_settled_through`.execute(this.db);
    return row.rows[0] ? { transactionId: row.rows[0].transaction_id, position: row.rows[0].position } : START_OF_STORE;
  }

  /**
   * Moves the settled mark over the closed meters, in the order they were closed, up to the first
   * one not yet charged to its end. The projection applies events in the global order, so any
   * meter closed later than those read here is closed at a later place: none is passed over.
   */
  private async advanceSettled(from: GlobalCheckpoint, candidates: Meter[], done: Set<string>): Promise<void> {
    const closed = candidates.filter((m) => m.closed_transaction_id !== null).sort(byPlace);
    let mark = from;
    for (let i = 0; i < closed.length; ) {
      // Meters closed at the same place (marked by the migration) pass together or not at all.
      let j = i;
      let allSettled = true;
      for (; j < closed.length && byPlace(closed[j], closed[i]) === 0; j++) allSettled &&= settled(closed[j], done);
      if (!allSettled) break;
      mark = { transactionId: closed[i].closed_transaction_id!, position: closed[i].closed_position! };
      i = j;
    }
    if (mark === from) return;
    // Forward only: a cycle that ran beside this one (its lock's connection lost) may have moved it further.
    await sql`INSERT INTO billing_settled_through (one, transaction_id, position) VALUES (true, ${mark.transactionId}::xid8, ${mark.position}::bigint)
      ON CONFLICT (one) DO UPDATE SET transaction_id = EXCLUDED.transaction_id, position = EXCLUDED.position
      WHERE (billing_settled_through.transaction_id, billing_settled_through.position) < (EXCLUDED.transaction_id, EXCLUDED.position)`.execute(this.db);
  }

  private async savePaid(paid: { meterId: string; win: number; amount: number }[]): Promise<void> {
    for (let i = 0; i < paid.length; i += 5000) {
      const part = paid.slice(i, i + 5000);
      await sql`INSERT INTO billing_charges (meter_id, win, amount, mode)
        SELECT m, w, a, 'balance' FROM unnest(${part.map((p) => p.meterId)}::text[], ${part.map((p) => p.win)}::bigint[], ${part.map((p) => p.amount)}::bigint[]) AS u(m, w, a)
        ON CONFLICT (meter_id, win) DO NOTHING`.execute(this.db);
    }
  }

  /**
   * Before charging: how far each open meter will be charged this cycle. After a crash it tells
   * which windows past a stop may have been charged (windows before a stop are charged the same
   * whether the meter was open or closed, and a retry of them is a duplicate the ledger ignores).
   */
  private async savePlanned(rows: Meter[], now: Date): Promise<void> {
    const through = new Date(Math.floor(now.getTime() / this.cadenceMs) * this.cadenceMs);
    const open = rows.filter((m) => m.ended_at === null && chargedTo(m) < through.getTime()).map((m) => m.meter_id);
    for (let i = 0; i < open.length; i += 5000) {
      await sql`INSERT INTO billing_progress (meter_id, charged_until, planned_until)
        SELECT m.meter_id, m.started_at, ${through.toISOString()}::timestamptz FROM billing_meters m WHERE m.meter_id = ANY(${open.slice(i, i + 5000)}::text[])
        ON CONFLICT (meter_id) DO UPDATE SET planned_until = greatest(billing_progress.planned_until, EXCLUDED.planned_until)`.execute(this.db);
    }
  }

  /**
   * Charged this far; a settled meter exactly to its end (its windows past the end given back).
   * Never past a closed meter's end: a cycle that lost its lock saves what it charged after the
   * one that took over settled the meter (what it charged past the end was given back, and its
   * plan still says how far it may have gone until a cycle settles the meter).
   */
  private async saveProgress(progress: Map<string, Date>, done: Set<string>): Promise<void> {
    const all = [...progress].map(([meterId, until]) => ({ meterId, until }));
    for (let i = 0; i < all.length; i += 5000) {
      const part = all.slice(i, i + 5000);
      const ids = part.map((p) => p.meterId);
      const until = part.map((p) => p.until.toISOString());
      const exact = part.map((p) => done.has(p.meterId));
      await sql`INSERT INTO billing_progress (meter_id, charged_until)
        SELECT u.meter_id, least(u.until, m.ended_at) FROM unnest(${ids}::text[], ${until}::timestamptz[], ${exact}::boolean[]) AS u(meter_id, until, exact)
        JOIN billing_meters m USING (meter_id) WHERE NOT u.exact
        ON CONFLICT (meter_id) DO UPDATE SET charged_until = greatest(billing_progress.charged_until, EXCLUDED.charged_until)`.execute(this.db);
      await sql`INSERT INTO billing_progress (meter_id, charged_until)
        SELECT u.meter_id, u.until FROM unnest(${ids}::text[], ${until}::timestamptz[], ${exact}::boolean[]) AS u(meter_id, until, exact) WHERE u.exact
        ON CONFLICT (meter_id) DO UPDATE SET charged_until = EXCLUDED.charged_until, planned_until = NULL`.execute(this.db);
    }
  }

  private async chargeMeter(m: Meter, run: Run): Promise<void> {
    const { now, progress, done } = run;
    const rate = Number(m.rate);
    const start = m.started_at.getTime();
    const end = Math.min((m.ended_at ?? now).getTime(), now.getTime());
    const from = (m.charged_until ?? m.started_at).getTime();
    const accrued = (t: number) => accruedMicros(rate, t - start);
    const closed = endedBy(m, now);
    const charged = closed ? await this.giveBack(m, accrued, run) : new Set<number>();
    for (let k = Math.floor(from / this.cadenceMs); k * this.cadenceMs < end; k++) {
      const winStart = k * this.cadenceMs;
      const winEnd = winStart + this.cadenceMs;
      // A window not over yet waits, unless the meter has ended: then it is settled to its end. (A
      // meter ending later than now — a clock ahead of this one — waits too: a window charged in
      // part could not be charged for the rest, its id being taken.)
      if (winEnd > now.getTime() && !closed) break;
      const until = Math.min(end, winEnd);
      const amount = accrued(until) - accrued(Math.max(start, winStart));
      if (amount > 0 && !charged.has(k) && (await this.chargeWindow(m, k, amount, run)) === 'balance') run.paid.push({ meterId: m.meter_id, win: k, amount });
      progress.set(m.meter_id, new Date(until));
    }
    if (closed) {
      progress.set(m.meter_id, m.ended_at!);
      done.add(m.meter_id);
    }
  }

  /**
   * The windows of a closed meter past its end that may have been charged while it was open: as
   * far as it was charged, or as far as a cycle set out to charge it.
   */
  private pastEnd(m: Meter): number[] {
    const reach = Math.max(chargedTo(m), m.planned_until?.getTime() ?? 0);
    const windows: number[] = [];
    for (let k = Math.floor(Math.max(m.started_at.getTime(), m.ended_at!.getTime()) / this.cadenceMs); (k + 1) * this.cadenceMs <= reach; k++) windows.push(k);
    return windows;
  }

  /** What the ledger posted for those windows of the meters closed by `now` (their charges or arrears transfers), in one query per 5,000 ids. */
  private async postedPastEnd(rows: Meter[], now: Date): Promise<Map<string, number>> {
    const ids = rows
      .filter((m) => endedBy(m, now))
      .flatMap((m) => this.pastEnd(m).flatMap((k) => [chargeId(m, k), `${chargeId(m, k)}:arrears`]));
    const posted = new Map<string, number>();
    for (let i = 0; i < ids.length; i += 5000) for (const [id, amount] of await this.ledger.posted(ids.slice(i, i + 5000))) posted.set(id, amount);
    return posted;
  }

  /**
   * For a closed meter: of the windows past its end that may have been charged (`pastEnd`), those
   * the ledger posted give back what they took beyond the meter's end. Returns the windows found
   * charged, which are not charged again.
   */
  private async giveBack(m: Meter, accrued: (t: number) => number, run: Run): Promise<Set<number>> {
    const posted = run.pastEnd;
    const start = m.started_at.getTime();
    const end = m.ended_at!.getTime();
    const found = new Set<number>();
    for (const k of this.pastEnd(m)) {
      const id = chargeId(m, k);
      const took = posted.get(id) ?? posted.get(`${id}:arrears`);
      if (took === undefined) continue;
      found.add(k);
      const winStart = k * this.cadenceMs;
      const due = Math.max(0, accrued(Math.min(end, winStart + this.cadenceMs)) - accrued(Math.max(start, winStart)));
      if (took <= due) continue;
      const back = await this.ledger.transfer({
        id: `${id}:refund`,
        debit: SYSTEM_ACCOUNTS.revenue,
        credit: customerAccount(m.tenant_id),
        amount: took - due,
        resource: m.pod_id,
        description: `${m.kind === 'gpu' ? 'GPU time' : 'storage'} charged past its end (${m.ended_at!.toISOString()}), given back`,
        fence: run.fence,
      });
      refused(back, `refund ${id}`);
      givenBack.inc();
      run.report.givenBack++;
    }
    return found;
  }

  /**
   * Charges one window from the balance (the pod's hold first); what the balance cannot pay
   * goes to arrears. A window found owed before stays owed: that decision is recorded before
   * the arrears transfer, and repeated.
   */
  private async chargeWindow(m: Meter, k: number, amount: number, run: Run): Promise<Mode> {
    const { report, fence } = run;
    const id = chargeId(m, k);
    let mode = run.decided.get(`${m.meter_id}:${k}`);
    const description = m.kind === 'gpu' ? 'GPU time' : 'storage while stopped';
    if (!mode) {
      const paid = await this.ledger.charge({ id, debit: customerAccount(m.tenant_id), credit: SYSTEM_ACCOUNTS.revenue, amount, holdId: m.hold_id, resource: m.pod_id, description, fence });
      if (!paid.ok && paid.code !== 'INSUFFICIENT_BALANCE') refused(paid, `charge ${id}`);
      mode = paid.ok ? 'balance' : 'arrears';
      if (mode === 'arrears') await this.db.insertInto('billing_charges').values({ meter_id: m.meter_id, win: k, amount, mode }).onConflict((oc) => oc.columns(['meter_id', 'win']).doNothing()).execute();
    }
    charges.inc({ mode });
    report.charges++;
    this.afterCharge?.();
    if (mode === 'balance') return mode;
    report.arrears++;
    report.exhausted.push(m.tenant_id);
    const owed = await this.ledger.transfer({ id: `${id}:arrears`, debit: arrearsAccount(m.tenant_id), credit: SYSTEM_ACCOUNTS.revenue, amount, resource: m.pod_id, description: `${description} (unpaid)`, fence });
    refused(owed, `arrears ${id}`);
    await appendBillingEvent(this.store, m.tenant_id, `exhausted:${id}`, 'BalanceExhausted', { tenantId: m.tenant_id, podId: m.pod_id, chargeId: id, unpaid: amount, at: new Date().toISOString() });
    this.logger?.warn({ tenantId: m.tenant_id, podId: m.pod_id, chargeId: id }, 'balance exhausted; usage recorded as arrears');
    return mode;
  }
}

/** Throws for a ledger refusal: Superseded when a later cycle advanced the fence, else an error naming `what`. */
function refused(outcome: LedgerOutcome, what: string): void {
  if (outcome.ok) return;
  if (outcome.code === 'SUPERSEDED') throw new Superseded(`${what}: ${outcome.message}`);
  throw new Error(`${what} refused: ${outcome.message}`);
}
