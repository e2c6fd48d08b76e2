import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { eventStoreMigrations } from '@volt/event-store';
import { MachineQuerySchema } from '@volt/pods-contracts';
import { createTestDatabase, type TestDatabase } from '@volt/testing';
import { podsMigrations } from '../../migrations';
import { ProviderHttp } from '../../providers/http-client';
import { LiumAdapter } from '../../providers/lium.adapter';
import { findMachine, listProviders, queryMachines, refreshCatalogue } from './catalogue';

// A real HTTP server speaking Lium's offer listing, with the executors the test sets (null: down).
let executors: Record<string, unknown>[] | null = [];
let server: http.Server;
let lium: { all: LiumAdapter[] };
let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase([eventStoreMigrations, podsMigrations]);
  server = http.createServer((req, res) => {
    if (req.url !== '/v1/executors' || !executors) return res.writeHead(503).end('{}');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ executors }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  lium = { all: [new LiumAdapter(new ProviderHttp('lium', { baseUrl, timeoutMs: 5_000, retries: 0, backoffMs: 5, breakerThreshold: 100, breakerCooldownMs: 100 }))] };
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await t.drop();
});

const executor = (i: number, overrides: Record<string, unknown> = {}) => ({
  id: `test_${i}`,
  gpu_model: 'H100 80GB',
  gpu_count: 8,
  gpu_memory_gb: 80,
  cpu_count: 64,
  memory_gb: 512,
  disk_gb: 1000,
  price_per_gpu_hour: 2.5,
  free_gpus: 8,
  region: 'US-East',
  rental: 'on_demand',
  min_rental_minutes: 0,
  ...overrides,
});

const versions = async () =>
  new Map((await sql<{ machine_id: string; xmin: string }>`SELECT machine_id, xmin::text FROM pods_machines`.execute(t.db)).rows.map((r) => [r.machine_id, r.xmin]));

describe('the machine catalogue refresh', () => {
  it('takes a catalogue of any size, rewrites only what changed, and keeps its rows while the provider is down', async () => {
    // 5,000 offers × 16 columns would be 80,000 parameters; PostgreSQL allows 65,535.
    executors = Array.from({ length: 5_000 }, (_, i) => executor(i));
    await refreshCatalogue(t.db, lium);
    expect((await queryMachines(t.db, MachineQuerySchema.parse({ provider: 'lium' }))).total).toBe(5_000);

    // Then: one offer repriced, one withdrawn, one new; the other 4,997 rows are not rewritten.
    const before = await versions();
    executors = [...executors.slice(0, 4_999).map((e, i) => (i === 7 ? { ...e, price_per_gpu_hour: 1.75, free_gpus: 3 } : e)), executor(9_999)].filter((e) => e.id !== 'test_11');
    await refreshCatalogue(t.db, lium);
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
    executors = null;
    await refreshCatalogue(t.db, lium);
    expect((await versions()).size).toBe(4_999);
    expect(await listProviders(t.db)).toMatchObject([{ name: 'lium', status: 'unavailable' }]);
  });
});
