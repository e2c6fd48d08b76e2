import { sql } from 'kysely';
import type { Database } from '@volt/event-store';
import { microsToUsd as usd } from '@volt/ledger-contracts';
import { accruedMicros } from './charging';

interface Span {
  day: Date;
  pod_id: string;
  kind: 'gpu' | 'storage';
  provider: string;
  gpu_type: string;
  seconds: number;
  /** For GPU time, GPUs × seconds. */
  gpuSeconds: number;
  micros: number;
}

/**
 * Usage per day, pod and meter kind between `from` and `to`, from the billing meters: seconds
 * in use and what they cost at the pod's rate (accrued; the ledger charges it window by window).
 */
async function spans(db: Database, tenantId: string, from: Date, to: Date): Promise<Span[]> {
  const { rows } = await sql<{ day: Date; pod_id: string; kind: 'gpu' | 'storage'; provider: string; gpu_type: string; seconds: string; gpu_seconds: string; micros: string }>`
    WITH m AS (
      SELECT m.pod_id, m.kind, m.rate, m.gpu_count, p.provider, p.gpu_type, greatest(m.started_at, ${from}::timestamptz) AS s,
             least(coalesce(m.ended_at, now()), ${to}::timestamptz) AS e
      FROM billing_meters m JOIN billing_pods p USING (pod_id)
      WHERE m.tenant_id = ${tenantId} AND m.started_at < ${to}::timestamptz AND coalesce(m.ended_at, now()) > ${from}::timestamptz
    ), d AS (
      SELECT m.*, day, greatest(m.s, day) AS ds, least(m.e, day + interval '1 day') AS de
      FROM m, generate_series(date_trunc('day', m.s, 'UTC'), m.e, interval '1 day') AS day
    )
    SELECT day, pod_id, kind, provider, gpu_type, sum(extract(epoch FROM de - ds))::text AS seconds,
           sum(gpu_count * extract(epoch FROM de - ds))::text AS gpu_seconds,
           sum(rate * extract(epoch FROM de - ds) / 3600)::text AS micros
    FROM d WHERE de > ds GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3`.execute(db);
  return rows.map(({ gpu_seconds, ...r }) => ({ ...r, seconds: Number(r.seconds), gpuSeconds: Number(gpu_seconds), micros: Number(r.micros) }));
}

/** GET /v1/usage: GPU-seconds (GPUs × seconds running), seconds of storage while stopped, and cost, per day and pod. */
export async function usageOf(db: Database, tenantId: string, from: Date, to: Date) {
  const rows = await spans(db, tenantId, from, to);
  const byKey = new Map<string, { date: string; resource: string; gpu_seconds: number; storage_seconds: number; cost: number; micros: number }>();
  for (const r of rows) {
    const date = r.day.toISOString().slice(0, 10);
    const key = `${date}:${r.pod_id}`;
    const u = byKey.get(key) ?? { date, resource: r.pod_id, gpu_seconds: 0, storage_seconds: 0, cost: 0, micros: 0 };
    if (r.kind === 'gpu') u.gpu_seconds += Math.round(r.gpuSeconds);
    else u.storage_seconds += Math.round(r.seconds);
    u.micros += r.micros;
    u.cost = usd(u.micros);
    byKey.set(key, u);
  }
  const usage = [...byKey.values()].map(({ micros: _m, ...u }) => ({ ...u, currency: 'USD' as const }));
  return { usage, total: usage.length };
}

/** Seed 003's cost summary for an organization (and, with `period`, per day or month). */
export async function costSummary(db: Database, tenantId: string, from: Date, to: Date, period?: 'daily' | 'monthly') {
  const rows = await spans(db, tenantId, from, to);
  const sum = (pick: (r: Span) => string) => {
    const out: Record<string, number> = {};
    for (const r of rows) out[pick(r)] = (out[pick(r)] ?? 0) + r.micros;
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, usd(v)]));
  };
  const micros = rows.reduce((s, r) => s + r.micros, 0);
  const summary = {
    consumer_id: tenantId,
    total_cost: usd(micros),
    currency: 'USD' as const,
    session_count: new Set(rows.map((r) => r.pod_id)).size,
    hours_used: Math.round((rows.filter((r) => r.kind === 'gpu').reduce((s, r) => s + r.seconds, 0) / 3600) * 100) / 100,
    by_provider: sum((r) => r.provider),
    by_gpu_type: sum((r) => r.gpu_type),
  };
  if (!period) return summary;
  const by = sum((r) => r.day.toISOString().slice(0, period === 'daily' ? 10 : 7));
  return { ...summary, period, by_period: Object.entries(by).map(([p, cost]) => ({ period: p, total_cost: cost })) };
}

/**
 * One pod's usage as its meters stand now: hours running and the cost so far, each meter
 * valued as the charging cycle values it (⌊rate × time⌋ micro-dollars), so that a settled
 * pod's cost is, to the cent, what the ledger charged for it.
 */
export async function podUsage(db: Database, tenantId: string, podId: string, now = new Date()): Promise<{ uptime_hours: number; total_cost: number }> {
  const meters = await db.selectFrom('billing_meters').select(['kind', 'rate', 'started_at', 'ended_at']).where('pod_id', '=', podId).where('tenant_id', '=', tenantId).execute();
  let micros = 0;
  let runMs = 0;
  for (const m of meters) {
    const ms = Math.max(0, Math.min((m.ended_at ?? now).getTime(), now.getTime()) - m.started_at.getTime());
    micros += accruedMicros(Number(m.rate), ms);
    if (m.kind === 'gpu') runMs += ms;
  }
  return { uptime_hours: Math.round(runMs / 36_000) / 100, total_cost: usd(micros) };
}

/** GET /api/volt/costs?session_id=…: one pod's cost so far. */
export async function podCost(db: Database, tenantId: string, podId: string) {
  return { session_id: podId, total_cost: (await podUsage(db, tenantId, podId)).total_cost, currency: 'USD' as const };
}
