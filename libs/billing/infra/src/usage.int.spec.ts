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
    const from = new Date(Date.now() - 7 * 86_400_000);
    const to = new Date();
    const usage = await usageOf(t.db, 'org_7', from, to);
    const after = await tableScans(t.db, 'billing_meters');

    expect(pod.total_cost).toBeGreaterThan(0); // five meters found, each a day or more of GPU time
    expect(after.seq - before.seq).toBe(0);
    expect(after.idx - before.idx).toBeGreaterThanOrEqual(2);

    // org_7's 500 meters (of its 100 pods) each overlap the week by about six days, split by day.
    const { rows } = await sql<{ seconds: string }>`SELECT sum(extract(epoch FROM least(ended_at, ${to}) - greatest(started_at, ${from})))::text AS seconds
      FROM billing_meters WHERE tenant_id = 'org_7'`.execute(t.db);
    const expected = Number(rows[0].seconds);
    const seconds = usage.usage.reduce((s, u) => s + u.gpu_seconds, 0);
    expect(Math.abs(seconds - expected)).toBeLessThanOrEqual(usage.total); // each day's figure is rounded to the second
    expect(new Set(usage.usage.map((u) => u.resource))).toEqual(new Set(Array.from({ length: 100 }, (_, i) => `pod_${i * 100 + 7}`)));
    expect(usage.usage.every((u) => u.date >= from.toISOString().slice(0, 10) && u.date <= to.toISOString().slice(0, 10) && u.storage_seconds === 0)).toBe(true);
    // 0.39 USD per hour; each entry's cost is rounded to the cent.
    const cost = usage.usage.reduce((s, u) => s + u.cost, 0);
    expect(Math.abs(cost - (expected / 3600) * 0.39)).toBeLessThanOrEqual(0.005 * usage.total + 1e-6);
  });
});
