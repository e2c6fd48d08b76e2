import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createTestDatabase, tableScans, type TestDatabase } from '@volt/testing';
import { billingMigrations } from './migrations';
import { podUsage, usageOf } from './usage';

let t: TestDatabase;

beforeAll(async () => {
  // One connection, so the counters read below are the ones its own queries moved.
  t = await createTestDatabase([billingMigrations], { poolSize: 1 });
  // A history the size a busy month leaves: 50,000 meters of 10,000 pods in 100 organizations.
  await sql`INSERT INTO billing_pods SELECT 'pod_' || i, 'org_' || (i % 100), 'lium', 'RTX 4090', 390000, 50, null
    FROM generate_series(0, 9999) i`.execute(t.db);
  await sql`INSERT INTO billing_meters SELECT 'm_' || i, 'pod_' || (i % 10000), 'org_' || (i % 100), 'gpu', 390000, null,
    now() - interval '30 days' + (i || ' seconds')::interval, now() - interval '1 day' FROM generate_series(0, 49999) i`.execute(t.db);
  await sql`ANALYZE billing_meters`.execute(t.db);
});
afterAll(() => t.drop());

describe('usage lookups over a long meter history', () => {
  it('find one pod\'s cost and one organization\'s usage through indexes, not by scanning every meter', async () => {
    const before = await tableScans(t.db, 'billing_meters');
    const pod = await podUsage(t.db, 'org_7', 'pod_7');
    const usage = await usageOf(t.db, 'org_7', new Date(Date.now() - 7 * 86_400_000), new Date());
    const after = await tableScans(t.db, 'billing_meters');

    expect(pod.total_cost).toBeGreaterThan(0); // five meters found, each a day or more of GPU time
    expect(usage).toBeDefined();
    expect(after.seq - before.seq).toBe(0);
    expect(after.idx - before.idx).toBeGreaterThanOrEqual(2);
  });
});
