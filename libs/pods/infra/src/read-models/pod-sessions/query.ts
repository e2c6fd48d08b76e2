import { sql } from 'kysely';
import type { PageQuery } from '@volt/contracts';
import { batched, rowsByIds, type Batcher, type Database } from '@volt/event-store';
import { TERMINAL_STATUSES, type Pod, type PodStatus, type PodSummary } from '@volt/pods-contracts';

/** A pods_sessions row as the database returns it. */
export interface PodRow {
  pod_id: string;
  tenant_id: string;
  name: string;
  status: PodStatus;
  reason: string | null;
  status_message: string | null;
  provider: 'lium' | 'targon';
  machine_id: string;
  offer_id: string;
  resource_name: string | null;
  gpu_type: string;
  gpu_count: number;
  cpu_cores: number;
  ram_gb: number;
  location: string;
  instance_type: 'dedicated' | 'spot';
  minimum_runtime_minutes: number;
  price_per_gpu_hour: number;
  cost_per_hour: number;
  volume_size_gb: number;
  template_id: string | null;
  image: string;
  ssh_key_ids: string[];
  confidential: boolean;
  attested_at: Date | null;
  instance_id: string | null;
  ip: string | null;
  ssh_port: number | null;
  /** Since when its machine's SSH has not answered, running or booting (null while it answers or before any check). */
  ssh_silent_since: Date | null;
  running_since: Date | null;
  run_seconds: number;
  status_at: Date;
  created_at: Date;
}

/** Seconds a pod has spent running by `now`. */
export function runSecondsAt(row: Pick<PodRow, 'run_seconds' | 'running_since'>, now: Date): number {
  const open = row.running_since ? Math.max(0, (now.getTime() - row.running_since.getTime()) / 1000) : 0;
  return row.run_seconds + open;
}

export function podSummary(r: PodRow): PodSummary {
  return {
    id: r.pod_id,
    name: r.name,
    status: r.status,
    provider: r.provider,
    gpu_type: r.gpu_type,
    gpu_count: r.gpu_count,
    cost_per_hour: r.cost_per_hour,
    created_at: r.created_at.toISOString(),
    ip: r.ip,
    ssh_port: r.ssh_port,
    reason: r.reason as PodSummary['reason'],
    status_message: r.status_message,
  };
}

/** Detail; uptime and cost are billing's (its meters are what the ledger charges), passed in by the caller. */
export function podDetail(r: PodRow, usage: Pick<Pod, 'uptime_hours' | 'total_cost'>): Pod {
  return {
    ...podSummary(r),
    machine_id: r.machine_id,
    cpu_cores: r.cpu_cores,
    ram_gb: r.ram_gb,
    template: r.image,
    image: r.image,
    template_id: r.template_id,
    resource_name: r.resource_name,
    volume_size_gb: r.volume_size_gb,
    ssh_keys: r.ssh_key_ids,
    instance_type: r.instance_type,
    location: r.location,
    confidential: r.confidential,
    attestation: r.confidential ? 'intel_tdx' : null,
    ...usage,
  };
}

export interface PodListFilter extends PageQuery {
  status?: PodStatus | 'active' | 'inactive';
}

/** Newest first. Deleted pods are left out unless asked for by status. */
export async function listPods(db: Database, tenantId: string, filter: PodListFilter): Promise<{ pods: PodSummary[]; total: number }> {
  let q = db.selectFrom('pods_sessions').where('tenant_id', '=', tenantId);
  if (filter.status === 'active') q = q.where('status', 'not in', [...TERMINAL_STATUSES, 'deleting']);
  else if (filter.status === 'inactive') q = q.where('status', 'in', [...TERMINAL_STATUSES]);
  else if (filter.status) q = q.where('status', '=', filter.status);
  else q = q.where('status', '!=', 'deleted');
  const [rows, count] = await Promise.all([
    q.selectAll().orderBy('created_at', 'desc').orderBy('pod_id').limit(filter.limit).offset(filter.offset).execute(),
    q.select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow(),
  ]);
  return { pods: (rows as unknown as PodRow[]).map(podSummary), total: Number(count.n) };
}

type PodAsk = { tenantId: string; podId: string };
const podLookups = new WeakMap<Database, Batcher<PodAsk, PodRow | undefined>>();
const lookUpPods = async (db: Database, asks: PodAsk[]) => {
  const byId = await rowsByIds(db, 'pods_sessions', 'pod_id', asks.map((a) => a.podId));
  return asks.map((a) => {
    const row = byId.get(a.podId) as PodRow | undefined;
    return row?.tenant_id === a.tenantId ? row : undefined;
  });
};

/** The organization's pod (another's is not found); lookups made at once share a statement. */
export function findPod(db: Database, tenantId: string, podId: string): Promise<PodRow | undefined> {
  return batched(podLookups, db, lookUpPods, { tenantId, podId });
}

/**
 * `status NOT IN (<the terminal statuses>)`, the statuses written into the statement as in the
 * partial index pods_sessions_live: a statement is planned once for any parameters
 * (force_generic_plan), and a plan cannot match an index's predicate to parameters, so with them
 * each reconciler sweep read every pod ever kept.
 */
const LIVE = sql<boolean>`status NOT IN (${sql.raw(TERMINAL_STATUSES.map((s) => `'${s}'`).join(', '))})`;

/** Pods whose provider side may still need work: everything not yet terminal. */
export async function livePods(db: Database): Promise<PodRow[]> {
  return (await db.selectFrom('pods_sessions').selectAll().where(LIVE).execute()) as unknown as PodRow[];
}

/**
 * The public keys each running pod should accept, sorted as JavaScript sorts: its keys that its
 * organization has, and those removed from the organization while the machine ran with them
 * (seed 000: running pods keep their keys until they are redeployed; a start or a re-create
 * leaves them out, as `machineKeys` does).
 */
export async function runningPodKeys(db: Database): Promise<Map<string, string[]>> {
  const { rows } = await sql<{ pod_id: string; keys: string[] }>`
    SELECT s.pod_id, coalesce(array_agg(k.public_key) FILTER (WHERE k.key_id IS NOT NULL), '{}') AS keys
    FROM pods_sessions s LEFT JOIN pods_ssh_keys k ON k.tenant_id = s.tenant_id AND s.ssh_key_ids ? k.key_id
      AND (k.removed_at IS NULL OR k.removed_at > s.running_since)
    WHERE s.status = 'running' GROUP BY s.pod_id`.execute(db);
  return new Map(rows.map((r) => [r.pod_id, r.keys.sort()]));
}

/** Pod ids among `ids` that are terminal (or unknown) in the read model. */
export async function podStatuses(db: Database, ids: string[]): Promise<Map<string, PodStatus>> {
  if (ids.length === 0) return new Map();
  // One array parameter, not one per id: a provider may list more instances than a statement has parameters.
  const rows = await db.selectFrom('pods_sessions').select(['pod_id', 'status']).where('pod_id', '=', sql<string>`ANY(${ids}::text[])`).execute();
  return new Map(rows.map((r) => [r.pod_id as string, r.status as PodStatus]));
}

/**
 * Live pods per provider and status (seed 003's active sessions), and how many of them have SSH
 * that stopped answering. Ended pods are left out: they are no session, and counting them would
 * read every pod ever kept on each sweep.
 */
export async function countSessions(db: Database): Promise<{ provider: string; status: string; n: number; sshSilent: number }[]> {
  const rows = await db
    .selectFrom('pods_sessions')
    .select(['provider', 'status', sql<string>`count(*)`.as('n'), sql<string>`count(ssh_silent_since)`.as('silent')])
    .where(LIVE)
    .groupBy(['provider', 'status'])
    .execute();
  return rows.map((r) => ({ provider: r.provider as string, status: r.status as string, n: Number(r.n), sshSilent: Number(r.silent) }));
}

/** An organization’s pods in the given statuses (the ones a stop or delete for lack of money applies to). */
export async function podsInStatus(db: Database, tenantId: string, statuses: PodStatus[]): Promise<Pick<PodRow, 'pod_id' | 'tenant_id'>[]> {
  return (await db.selectFrom('pods_sessions').select(['pod_id', 'tenant_id']).where('tenant_id', '=', tenantId).where('status', 'in', statuses).execute()) as Pick<PodRow, 'pod_id' | 'tenant_id'>[];
}
