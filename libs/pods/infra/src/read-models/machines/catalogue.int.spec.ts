import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { eventStoreMigrations } from '@volt/event-store';
import { MachineQuerySchema } from '@volt/pods-contracts';
import { createTestDatabase, type TestDatabase } from '@volt/testing';
import { podsMigrations } from '../../migrations';
import type { Offer, ProviderAdapter } from '../../providers/port';
import { findMachine, listProviders, queryMachines, refreshCatalogue } from './catalogue';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase([eventStoreMigrations, podsMigrations]);
});
afterAll(() => t.drop());

const offer = (i: number, overrides: Partial<Offer> = {}): Offer => ({
  machineId: `mach_test_${i}`,
  provider: 'lium',
  offerId: `offer_${i}`,
  resourceName: null,
  gpuType: 'H100 80GB',
  gpuCount: 8,
  vramGb: 80,
  cpuCores: 64,
  ramGb: 512,
  storageGb: 1000,
  pricePerGpuHour: 2.5,
  availableGpus: 8,
  location: 'US-East',
  confidential: false,
  instanceType: 'dedicated',
  minimumRuntimeMinutes: 0,
  ...overrides,
});

/** A provider whose offers the test sets; `null` makes its listing fail. */
function provider(offers: () => Offer[] | null) {
  const adapter = {
    name: 'lium',
    confidential: false,
    listOffers: async () => {
      const list = offers();
      if (!list) throw new Error('provider down');
      return list;
    },
  } as unknown as ProviderAdapter;
  return { all: [adapter] };
}

const versions = async () =>
  new Map((await sql<{ machine_id: string; xmin: string }>`SELECT machine_id, xmin::text FROM pods_machines`.execute(t.db)).rows.map((r) => [r.machine_id, r.xmin]));

describe('the machine catalogue refresh', () => {
  it('takes a catalogue of any size (more offers than one statement has room for parameters)', async () => {
    // 5,000 offers × 16 columns would be 80,000 parameters; PostgreSQL allows 65,535.
    let offers: Offer[] | null = Array.from({ length: 5_000 }, (_, i) => offer(i));
    await refreshCatalogue(t.db, provider(() => offers));
    expect((await queryMachines(t.db, MachineQuerySchema.parse({ provider: 'lium' }))).total).toBe(5_000);

    // Then: one offer repriced, one withdrawn, one new; the other 4,997 rows are not rewritten.
    const before = await versions();
    offers = [...offers.slice(0, 4_999).map((o, i) => (i === 7 ? { ...o, pricePerGpuHour: 1.75, availableGpus: 3 } : o)), offer(9_999)].filter((o) => o.machineId !== 'mach_test_11');
    await refreshCatalogue(t.db, provider(() => offers));
    const after = await versions();
    expect(after.size).toBe(4_999);
    expect(after.has('mach_test_11')).toBe(false);
    expect(after.has('mach_test_4999')).toBe(false);
    expect(await findMachine(t.db, 'mach_test_9999')).toMatchObject({ id: 'mach_test_9999', available_gpus: 8 });
    expect(await findMachine(t.db, 'mach_test_7')).toMatchObject({ cost_per_gpu_hour: 1.75, available_gpus: 3 });
    const rewritten = [...after].filter(([id, xmin]) => before.get(id) !== xmin).map(([id]) => id);
    expect(rewritten.sort()).toEqual(['mach_test_7', 'mach_test_9999']);
    expect(await listProviders(t.db)).toMatchObject([{ name: 'lium', status: 'ok', machines: 4_999 }]);

    // A provider that does not answer keeps its rows and shows as unavailable.
    offers = null;
    await refreshCatalogue(t.db, provider(() => offers));
    expect((await versions()).size).toBe(4_999);
    expect(await listProviders(t.db)).toMatchObject([{ name: 'lium', status: 'unavailable' }]);
  });
});
