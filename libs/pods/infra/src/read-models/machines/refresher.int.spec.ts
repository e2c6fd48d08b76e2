import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventStoreMigrations } from '@volt/event-store';
import { createTestDatabase, type TestDatabase } from '@volt/testing';
import { podsMigrations } from '../../migrations';
import type { ProviderAdapter } from '../../providers/port';
import { CatalogueRefresher } from './refresher';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase([eventStoreMigrations, podsMigrations]);
});
afterAll(() => t?.drop());

/** A provider whose offer listing takes `ms`, counting how many listings run at once. */
function slowProvider(name: string, ms: number) {
  const seen = { calls: 0, running: 0, most: 0 };
  const adapter = {
    name,
    confidential: false,
    async listOffers() {
      seen.calls++;
      seen.most = Math.max(seen.most, ++seen.running);
      await new Promise((resolve) => setTimeout(resolve, ms));
      seen.running--;
      return [];
    },
  } as unknown as ProviderAdapter;
  return { adapter, seen };
}

describe('CatalogueRefresher', () => {
  it('runs one refresh at a time, however many are asked for at once, and stops only after the one under way', async () => {
    const lium = slowProvider('lium', 30);
    const refresher = new CatalogueRefresher(t.db, { all: [lium.adapter] }, 60_000);
    await Promise.all([refresher.refresh(), refresher.refresh([lium.adapter]), refresher.refresh()]);
    expect(lium.seen).toMatchObject({ calls: 3, most: 1, running: 0 });
    void refresher.refresh();
    await refresher.stop();
    expect(lium.seen).toMatchObject({ calls: 4, running: 0 });
    const row = await t.db.selectFrom('pods_providers').selectAll().where('name', '=', 'lium').executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'ok', machines: 0 });
  });

  it('refreshes on its interval once started, and not after it is stopped', async () => {
    const targon = slowProvider('targon', 1);
    const refresher = new CatalogueRefresher(t.db, { all: [targon.adapter] }, 20);
    refresher.start();
    for (let waited = 0; targon.seen.calls < 2 && waited < 10_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    await refresher.stop();
    const calls = targon.seen.calls;
    expect(calls).toBeGreaterThanOrEqual(2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(targon.seen.calls).toBe(calls);
  });
});
