import { sql } from 'kysely';
import type { Database } from '@volt/event-store';
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

/**
 * Refreshes the catalogue from each provider: its offers replace the provider's
 * rows in one transaction. A provider that does not answer keeps its last rows and
 * is shown as unavailable.
 */
export async function refreshCatalogue(db: Database, providers: Providers, now = new Date()): Promise<void> {
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
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('pods_machines').where('provider', '=', provider.name).execute();
        if (offers.length > 0) {
          await trx
            .insertInto('pods_machines')
            .values(
              offers.map((o) => ({
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
                refreshed_at: now,
              })),
            )
            .execute();
        }
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

/** Drops one offer the provider told us is gone, so nobody else tries it before the next refresh. */
export async function forgetMachine(db: Database, machineId: string): Promise<void> {
  await db.deleteFrom('pods_machines').where('machine_id', '=', machineId).execute();
}

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
  if (q.min_vram !== undefined) base = base.where('gpu_vram_gb', '>=', q.min_vram);
  if (q.max_price !== undefined) base = base.where('cost_per_gpu_hour', '<=', q.max_price);
  const minGpus = q.min_gpu_count ?? q.gpu_count;
  if (minGpus !== undefined) base = base.where('available_gpus', '>=', minGpus);
  if (q.confidential !== undefined) base = base.where('confidential', '=', q.confidential);
  if (q.instance_type) base = base.where('instance_type', '=', q.instance_type);
  const [rows, count] = await Promise.all([
    base.selectAll().orderBy(SORT[q.sort] as never, q.order).orderBy('machine_id').limit(q.limit).offset(q.offset).execute(),
    base.select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow(),
  ]);
  return { machines: rows.map(toMachine), total: Number(count.n) };
}

export async function findMachine(db: Database, machineId: string): Promise<Machine | undefined> {
  const row = await db.selectFrom('pods_machines').selectAll().where('machine_id', '=', machineId).executeTakeFirst();
  return row ? toMachine(row) : undefined;
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
