import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { eventStoreMigrations } from '@volt/event-store';
import { createTestDatabase, tableScans, type TestDatabase } from '@volt/testing';
import { podsMigrations } from '../migrations';
import { findMachine, tookGpus } from './machines/catalogue';
import { countSessions, findPod, livePods } from './pod-sessions/query';
import { findTemplate } from './templates/query';

// Lookups made at once share a statement (see Batcher): each caller must still get only its own answer.
let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase([eventStoreMigrations, podsMigrations]);
  const at = new Date('2026-11-30T12:00:00Z');
  const pod = (id: string, tenant: string) => ({
    pod_id: id, tenant_id: tenant, name: id, status: 'running', provider: 'lium', machine_id: 'm1', offer_id: 'o1', gpu_type: 'H100', gpu_count: 1, cpu_cores: 8,
    ram_gb: 64, location: 'EU', instance_type: 'dedicated', minimum_runtime_minutes: 0, price_per_gpu_hour: 2, cost_per_hour: 2, volume_size_gb: 50,
    image: 'img', ssh_key_ids: JSON.stringify([]), confidential: false, status_at: at, created_at: at,
  });
  await t.db.insertInto('pods_sessions').values([pod('pod_a1', 'org_a'), pod('pod_a2', 'org_a'), pod('pod_b1', 'org_b')]).execute();
  const template = (id: string, tenant: string | null) => ({
    template_id: id, tenant_id: tenant, name: id, image: `${id}:latest`, category: 'custom', description: '', ports: JSON.stringify([22]), env_vars: JSON.stringify({}),
    is_system: tenant === null, created_at: at,
  });
  await t.db.insertInto('pods_templates').values([template('tpl_sys', null), template('tpl_a', 'org_a'), template('tpl_b', 'org_b')]).execute();
  const machine = (id: string, free: number) => ({
    machine_id: id, provider: 'lium', offer_id: id, gpu_type: 'H100', gpu_count: 8, gpu_vram_gb: 80, cpu_cores: 64, ram_gb: 512, storage_gb: 1000,
    cost_per_gpu_hour: 2, available_gpus: free, location: 'EU', confidential: false, instance_type: 'dedicated', minimum_runtime_minutes: 0, refreshed_at: at,
  });
  await t.db.insertInto('pods_machines').values([machine('m1', 8), machine('m2', 2)]).execute();
});
afterAll(() => t?.drop());

describe('lookups made at once', () => {
  it('answer each organization with its own pods only', async () => {
    const asks: [string, string][] = [['org_a', 'pod_a1'], ['org_b', 'pod_a1'], ['org_a', 'pod_b1'], ['org_b', 'pod_b1'], ['org_a', 'pod_a2'], ['org_a', 'pod_none'], ['org_a', 'pod_a1']];
    const found = await Promise.all(asks.map(([tenant, id]) => findPod(t.db, tenant, id)));
    expect(found.map((row) => row?.pod_id ?? null)).toEqual(['pod_a1', null, null, 'pod_b1', 'pod_a2', null, 'pod_a1']);
    expect(found[0]).toMatchObject({ tenant_id: 'org_a', status: 'running', status_at: new Date('2026-11-30T12:00:00Z'), ssh_key_ids: [] });
  });

  it('answer each organization with its own templates and the system ones', async () => {
    const asks: [string, string][] = [['org_a', 'tpl_a'], ['org_b', 'tpl_a'], ['org_b', 'tpl_sys'], ['org_a', 'tpl_sys'], ['org_b', 'tpl_b'], ['org_a', 'tpl_b']];
    const found = await Promise.all(asks.map(([tenant, id]) => findTemplate(t.db, tenant, id)));
    expect(found.map((tpl) => tpl?.id ?? null)).toEqual(['tpl_a', null, 'tpl_sys', 'tpl_sys', 'tpl_b', null]);
  });

  it('find machines, and see GPUs taken (never below none)', async () => {
    await Promise.all([tookGpus(t.db, 'm1', 1), tookGpus(t.db, 'm1', 2), tookGpus(t.db, 'm2', 1), tookGpus(t.db, 'm2', 3), tookGpus(t.db, 'm9', 1)]);
    const [m1, m2, m9] = await Promise.all(['m1', 'm2', 'm9'].map((id) => findMachine(t.db, id)));
    expect([m1?.available_gpus, m2?.available_gpus, m9]).toEqual([5, 0, undefined]);
  });

  it('inside a transaction, see its own uncommitted writes', async () => {
    await t.db
      .transaction()
      .execute(async (trx) => {
        await sql`UPDATE pods_sessions SET status = 'stopped' WHERE pod_id = 'pod_a1'`.execute(trx);
        expect((await findPod(trx, 'org_a', 'pod_a1'))?.status).toBe('stopped');
        expect((await findPod(t.db, 'org_a', 'pod_a1'))?.status).toBe('running');
        throw new Error('roll back');
      })
      .catch(() => undefined);
    expect((await findPod(t.db, 'org_a', 'pod_a1'))?.status).toBe('running');
  });
});

describe("the reconciler's reads of live pods", () => {
  it('find them through the live-pods index, not by reading every pod ever kept', async () => {
    // 5,000 ended pods beside the three running ones.
    await sql`INSERT INTO pods_sessions (pod_id, tenant_id, name, status, provider, machine_id, offer_id, gpu_type, gpu_count, cpu_cores, ram_gb, location,
        instance_type, minimum_runtime_minutes, price_per_gpu_hour, cost_per_hour, volume_size_gb, image, ssh_key_ids, confidential, status_at, created_at)
      SELECT 'pod_gone' || i, 'org_gone', 'gone', (ARRAY['deleted', 'failed', 'terminated-provider'])[1 + i % 3], 'lium', 'm1', 'o1', 'H100', 1, 8, 64, 'EU',
        'dedicated', 0, 2, 2, 50, 'img', '[]', false, now(), now()
      FROM generate_series(1, 5000) i`.execute(t.db);
    await sql`ANALYZE pods_sessions`.execute(t.db);
    const before = await tableScans(t.db, 'pods_sessions');
    expect((await livePods(t.db)).map((p) => p.pod_id).sort()).toEqual(['pod_a1', 'pod_a2', 'pod_b1']);
    expect(await countSessions(t.db)).toEqual([{ provider: 'lium', status: 'running', n: 3, sshSilent: 0 }]);
    const after = await tableScans(t.db, 'pods_sessions');
    expect(after.seq).toBe(before.seq);
    expect(after.idx).toBeGreaterThanOrEqual(before.idx + 2);
  });
});
