import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore } from '@volt/event-store';
import { PodLifecycle, Providers, Reconciler } from '@volt/pods-infra';
import { allMigrations } from '@volt/schema';
import { Keyring } from '@volt/secrets';
import { createTestDatabase, terminateLockHolder, type TestDatabase } from '@volt/testing';
import { metricsRegistry } from '@volt/telemetry';
import { parsePodsConfig } from '../../apps/pods/src/pods.config';
import { startProviderSim, type ProviderSim } from '../../apps/provider-sim/src/server';

describe('reconciliation sweeps', () => {
  let t: TestDatabase;
  let sim: ProviderSim;
  let providers: Providers;
  let reconciler: Reconciler;

  beforeAll(async () => {
    t = await createTestDatabase(allMigrations);
    sim = await startProviderSim({ transitionMs: 0, liumCopies: 1, targonCapacity: 4, priceDrift: 0, pricePeriodMs: 60_000 });
    const config = parsePodsConfig({
      DATABASE_URL: t.url,
      VOLT_SECRETS_KEY: Keyring.generate('test1'),
      VOLT_PROVIDER_LIUM_URL: `${sim.url}/lium`,
      VOLT_PROVIDER_TARGON_URL: `${sim.url}/targon`,
      VOLT_RETRY_BACKOFF_MS: '20',
    });
    providers = new Providers(config.providers);
    const store = new EventStore(t.db);
    // No pod exists here, so no hold is ever asked for: this sweep only looks for orphans.
    const holds = {
      place: () => Promise.reject(new Error('no pod is created in this test')),
      release: () => Promise.reject(new Error('no pod is created in this test')),
    };
    const lifecycle = new PodLifecycle({ db: t.db, store, providers, holds, keyring: config.keyring });
    reconciler = new Reconciler(t.db, store, providers, lifecycle, config.reconciler);
  });
  afterAll(async () => {
    await sim.close();
    await t.drop();
  });

  const instances = async () => ((await (await fetch(`${sim.url}/admin/state`)).json()) as { instances: { id: string; phase: string }[] }).instances;

  it('destroys nothing more once the lock is gone, and the next sweep does the rest', async () => {
    for (let i = 0; i < 3; i++) {
      await fetch(`${sim.url}/admin/orphans`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ provider: 'lium' }) });
    }
    expect(await instances()).toHaveLength(3);
    // While the sweep lists Lium's instances, PostgreSQL loses the connection holding its lock.
    const lium = providers.get('lium');
    const list = lium.listInstances.bind(lium);
    lium.listInstances = async () => {
      const found = await list();
      await terminateLockHolder(t.db, 'volt:pods:reconciler');
      // The loss reaches the lock's client as an error event on its socket.
      await new Promise((r) => setTimeout(r, 200));
      return found;
    };
    const first = await reconciler.sweep();
    expect(first).toMatchObject({ swept: true, orphans: 0 });
    expect((await instances()).filter((i) => i.phase !== 'terminating' && i.phase !== 'terminated')).toHaveLength(3);

    lium.listInstances = list;
    const second = await reconciler.sweep();
    expect(second).toMatchObject({ swept: true, orphans: 3 });
  });

  it('counts an orphan once while its destroy is repeated, and forgets the repeated call once its instance is gone', async () => {
    const value = async (name: string) => (await metricsRegistry().getSingleMetric(name)!.get()).values.reduce((sum, v) => sum + v.value, 0);
    const faults = (body: object) => fetch(`${sim.url}/admin/faults/lium`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    // Whatever the test before left behind is gone first.
    for (let i = 0; i < 20 && (await value('volt_reconciler_retries')) > 0; i++) await reconciler.sweep();
    expect(await value('volt_reconciler_retries')).toBe(0);
    const orphansBefore = await value('gpu_orphans_detected_total');
    await faults({ destroyNoop: 1 });
    for (let i = 0; i < 2; i++) await fetch(`${sim.url}/admin/orphans`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ provider: 'lium' }) });
    // Destroys that do nothing: each sweep asks again (after its backoff), and counts each orphan once.
    for (let i = 0; i < 3; i++) {
      await reconciler.sweep();
      expect(await value('volt_reconciler_retries')).toBe(2);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await value('gpu_orphans_detected_total')) - orphansBefore).toBe(2);
    // Destroys work again: once the instances are gone, a sweep forgets the calls it repeated.
    await faults({});
    let sweeps = 0;
    while ((await value('volt_reconciler_retries')) > 0 && sweeps < 20) {
      await reconciler.sweep();
      sweeps++;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await value('volt_reconciler_retries')).toBe(0);
    expect((await instances()).filter((i) => i.phase !== 'terminating' && i.phase !== 'terminated')).toHaveLength(0);
    expect((await value('gpu_orphans_detected_total')) - orphansBefore).toBe(2);
  });
});
