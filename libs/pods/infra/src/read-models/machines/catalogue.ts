import { sql } from 'kysely';
import { batched, rowsByIds, type Batcher, type Database } from '@volt/event-store';
import type { Machine, MachineQuery } from '@volt/pods-contracts';
import type { Offer } from '../../providers/port';
import type { Providers } from '../../providers/providers';

const toMachine = (r: any): Machine => ({
  id: r.machine_id,
  gpu_type: r.gpu_type,
  gpu_count: r.gpu_count,
  gpu_vram_gb: r.gpu_vram_gb,
  cpu_cores: r.cpu_cores,
  ram_gb: r.ram_gb,
  storage_gb: r.storage_gb,
  cost_per_gpu_hour: r.cost_per_gpu_hour,
  available_gpus: r.available_gpus,
  location: r.location,
  provider: r.provider,
  confidential: r.confidential,
  instance_type: r.instance_type,
  minimum_runtime_minutes: r.minimum_runtime_minutes,
  resource_name: r.resource_name,
});

/** Columns of pods_machines, each with its type in the refresh's JSON payload (refreshed_at apart). */
const COLUMNS = {
  machine_id: 'text',
  provider: 'text',
  offer_id: 'text',
  resource_name: 'text',
  gpu_type: 'text',
  gpu_count: 'integer',
  gpu_vram_gb: 'integer',
  cpu_cores: 'integer',
  ram_gb: 'integer',
  storage_gb: 'integer',
  cost_per_gpu_hour: 'double precision',
  available_gpus: 'integer',
  location: 'text',
  confidential: 'boolean',
  instance_type: 'text',
  minimum_runtime_minutes: 'integer',
} as const;
const NAMES = Object.keys(COLUMNS);
const list = (prefix: string) => sql.raw(NAMES.map((c) => `${prefix}${c}`).join(', '));

/**
 * Refreshes the catalogue from each provider, in one statement per provider (the offers go as
 * one JSON parameter, so a catalogue of any size fits): offers no longer listed are removed,
 * new ones added, and only the rows whose offer changed are written (`refreshed_at` is when a
 * row last changed). A provider that does not answer keeps its last rows and is shown as
 * unavailable.
 */
export async function refreshCatalogue(db: Database, providers: Pick<Providers, 'all'>, now = new Date()): Promise<void> {
  await Promise.all(
    providers.all.map(async (provider) => {
      let offers: Offer[];
      try {
        offers = await provider.listOffers();
      } catch {
        await db
          .insertInto('pods_providers')
          .values({ name: provider.name, kind: provider.confidential ? 'confidential' : 'standard', status: 'unavailable', machines: 0, refreshed_at: null })
          .onConflict((oc) => oc.column('name').doUpdateSet({ status: 'unavailable' }))
          .execute();
        return;
      }
      const rows = offers.map((o) => ({
        machine_id: o.machineId,
        provider: o.provider,
        offer_id: o.offerId,
        resource_name: o.resourceName,
        gpu_type: o.gpuType,
        gpu_count: o.gpuCount,
        gpu_vram_gb: o.vramGb,
        cpu_cores: o.cpuCores,
        ram_gb: o.ramGb,
        storage_gb: o.storageGb,
        cost_per_gpu_hour: o.pricePerGpuHour,
        available_gpus: o.availableGpus,
        location: o.location,
        confidential: o.confidential,
        instance_type: o.instanceType,
        minimum_runtime_minutes: o.minimumRuntimeMinutes,
      }));
      await db.transaction().execute(async (trx) => {
        await sql`WITH incoming AS (
            SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(${sql.raw(Object.entries(COLUMNS).map(([c, t]) => `${c} ${t}`).join(', '))})
          ), gone AS (
            DELETE FROM pods_machines m WHERE m.provider = ${provider.name}
              AND NOT EXISTS (SELECT 1 FROM incoming i WHERE i.machine_id = m.machine_id)
          )
          INSERT INTO pods_machines (${list('')}, refreshed_at)
          SELECT ${list('i.')}, ${now}::timestamptz FROM incoming i
          ON CONFLICT (machine_id) DO UPDATE SET (${list('')}, refreshed_at) = (${list('EXCLUDED.')}, EXCLUDED.refreshed_at)
          WHERE (${list('pods_machines.')}) IS DISTINCT FROM (${list('EXCLUDED.')})`.execute(trx);
        const row = { name: provider.name, kind: provider.confidential ? 'confidential' : 'standard', status: 'ok', machines: offers.length, refreshed_at: now };
        await trx
          .insertInto('pods_providers')
          .values(row)
          .onConflict((oc) => oc.column('name').doUpdateSet({ status: 'ok', machines: row.machines, refreshed_at: now }))
          .execute();
      });
    }),
  );
}

/**
 * A machine the provider says has fewer free GPUs than `asked` now: the catalogue says so too
 * until the next refresh, so the next create on it is told how many it has instead of trying.
 */
export async function fewerFreeGpus(db: Database, machineId: string, asked: number): Promise<void> {
  await db
    .updateTable('pods_machines')
    .set({ available_gpus: sql`LEAST(available_gpus, ${asked - 1})` })
    .where('machine_id', '=', machineId)
    .execute();
}

interface Took {
  machineId: string;
  gpus: number;
}
const takings = new WeakMap<Database, Batcher<Took, void>>();

/** Concurrent creates' takings as one statement: summed per machine, rows locked in id order. */
async function takeGpus(db: Database, took: Took[]): Promise<void[]> {
  const sums = new Map<string, number>();
  for (const t of took) sums.set(t.machineId, (sums.get(t.machineId) ?? 0) + t.gpus);
  const ids = [...sums.keys()].sort();
  // Clamping the sum once equals clamping after each taking: max(max(a − x, 0) − y, 0) = max(a − x − y, 0).
  await sql`UPDATE pods_machines m SET available_gpus = GREATEST(m.available_gpus - x.gpus, 0)
    FROM unnest(${ids}::text[], ${ids.map((id) => sums.get(id)!)}::int[]) AS x(machine_id, gpus)
    WHERE m.machine_id = x.machine_id`.execute(db);
  return took.map(() => undefined);
}

/**
 * A create of ours took `gpus` of the machine's: listed at once, not at the next refresh.
 * Creates running at once go together in one statement (one commit, and no waiting on each
 * other's lock of a busy machine's row).
 */
export function tookGpus(db: Database, machineId: string, gpus: number): Promise<void> {
  return batched(takings, db, takeGpus, { machineId, gpus });
}

/** Drops one offer the provider told us is gone, so nobody else tries it before the next refresh. */
export async function forgetMachine(db: Database, machineId: string): Promise<void> {
  await db.deleteFrom('pods_machines').where('machine_id', '=', machineId).execute();
}

/** PostgreSQL's largest integer. */
const MAX_INT = 2 ** 31 - 1;

const SORT: Record<MachineQuery['sort'], string> = {
  price: 'cost_per_gpu_hour',
  gpu_count: 'gpu_count',
  vram: 'gpu_vram_gb',
  available_gpus: 'available_gpus',
  location: 'location',
};

export async function queryMachines(db: Database, q: MachineQuery): Promise<{ machines: Machine[]; total: number }> {
  let base = db.selectFrom('pods_machines');
  if (q.provider) base = base.where('provider', '=', q.provider);
  if (q.gpu_type) base = base.where(sql<boolean>`lower(gpu_type) LIKE ${`%${q.gpu_type.toLowerCase().replace(/[%_\\]/g, '\\$&')}%`}`);
  if (q.location) base = base.where(sql<boolean>`lower(location) = ${q.location.toLowerCase()}`);
  // The columns are integers: 79.5 GB asks for 80 or more, and a figure past integer range for
  // none (sent as it came, PostgreSQL would refuse the parameter).
  if (q.min_vram !== undefined) base = base.where('gpu_vram_gb', '>=', Math.min(Math.ceil(q.min_vram), MAX_INT));
  if (q.max_price !== undefined) base = base.where('cost_per_gpu_hour', '<=', q.max_price);
  const minGpus = q.min_gpu_count ?? q.gpu_count;
  if (minGpus !== undefined) base = base.where('available_gpus', '>=', Math.min(minGpus, MAX_INT));
  if (q.confidential !== undefined) base = base.where('confidential', '=', q.confidential);
  if (q.instance_type) base = base.where('instance_type', '=', q.instance_type);
  const [rows, count] = await Promise.all([
    base.selectAll().orderBy(SORT[q.sort] as never, q.order).orderBy('machine_id').limit(q.limit).offset(q.offset).execute(),
    base.select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow(),
  ]);
  return { machines: rows.map(toMachine), total: Number(count.n) };
}

const machineLookups = new WeakMap<Database, Batcher<string, Machine | undefined>>();
const lookUpMachines = async (db: Database, ids: string[]) => {
  const byId = await rowsByIds(db, 'pods_machines', 'machine_id', ids);
  return ids.map((id) => (byId.has(id) ? toMachine(byId.get(id)) : undefined));
};

/** A machine of the catalogue; lookups made at once share a statement. */
export function findMachine(db: Database, machineId: string): Promise<Machine | undefined> {
  return batched(machineLookups, db, lookUpMachines, machineId);
}

export async function listProviders(db: Database) {
  const rows = await db.selectFrom('pods_providers').selectAll().orderBy('name').execute();
  return rows.map((r) => ({
    name: r.name as 'lium' | 'targon',
    kind: r.kind as 'standard' | 'confidential',
    status: r.status as 'ok' | 'unavailable',
    machines: r.machines as number,
    refreshed_at: r.refreshed_at ? (r.refreshed_at as Date).toISOString() : null,
  }));
}
