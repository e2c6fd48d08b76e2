import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identityMigrations } from '../migrations';
import { createTestDatabase, type TestDatabase } from '@volt/testing';
import { RateLimiter } from './rate-limiter';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase([identityMigrations]);
});
afterAll(() => t.drop());

describe('RateLimiter (shared through PostgreSQL)', () => {
  it('never lets more than the limit through across instances, even when all race', async () => {
    const instances = [new RateLimiter(t.db), new RateLimiter(t.db), new RateLimiter(t.db)];
    const limit = 1000;
    const results = await Promise.all(Array.from({ length: 1500 }, (_, i) => instances[i % 3].take('key:race', limit, 3600)));
    const allowed = results.filter((r) => r.allowed).length;
    // Chunks lost to instances that never spend them make it err on the side of refusing.
    expect(allowed).toBeLessThanOrEqual(limit);
    expect(allowed).toBeGreaterThan(limit * 0.9);
    const row = await t.db.selectFrom('gw_rate_windows').select('count').where('bucket', '=', 'key:race').executeTakeFirstOrThrow();
    expect(Number(row.count)).toBeGreaterThanOrEqual(allowed);
  });

  it('is exact near the limit: a small limit is counted one request per claim', async () => {
    const [a, b] = [new RateLimiter(t.db), new RateLimiter(t.db)];
    const outcomes: boolean[] = [];
    for (let i = 0; i < 12; i++) outcomes.push((await (i % 2 ? a : b).take('key:small', 10, 3600)).allowed);
    expect(outcomes).toEqual([...Array(10).fill(true), false, false]);
  });

  it('claims in chunks when far from the limit: one write serves many requests', async () => {
    const limiter = new RateLimiter(t.db, { maxChunk: 50 });
    for (let i = 0; i < 100; i++) await limiter.take('key:chunky', 1_000_000, 3600);
    // The next chunk is claimed in the background when half of one is left; let it land.
    await new Promise((r) => setTimeout(r, 200));
    const row = await t.db.selectFrom('gw_rate_windows').select('count').where('bucket', '=', 'key:chunky').executeTakeFirstOrThrow();
    // Whole chunks of 50 only, and at most three writes (two used, one claimed ahead) for 100 requests.
    expect(Number(row.count) % 50).toBe(0);
    expect(Number(row.count)).toBeGreaterThanOrEqual(100);
    expect(Number(row.count)).toBeLessThanOrEqual(150);
  });

  it('lets a request given back be spent again in its window, and only in its window', async () => {
    let now = Date.UTC(2026, 10, 22, 10, 50);
    const [a, b] = [new RateLimiter(t.db, { now: () => now }), new RateLimiter(t.db, { now: () => now })];
    const taken = [await a.take('org:back', 3, 900), await b.take('org:back', 3, 900), await a.take('org:back', 3, 900)];
    expect(taken.map((d) => d.allowed)).toEqual([true, true, true]);
    expect((await b.take('org:back', 3, 900)).allowed).toBe(false);
    // a gives one back: a may spend it again (once), b still may not.
    a.giveBack('org:back', taken[0], 900);
    expect((await b.take('org:back', 3, 900)).allowed).toBe(false);
    expect(await a.take('org:back', 3, 900)).toMatchObject({ allowed: true, remaining: 0 });
    expect((await a.take('org:back', 3, 900)).allowed).toBe(false);
    // Given back after its window ended, it adds nothing to the next one.
    const last = taken[2];
    now += 15 * 60_000;
    for (let i = 0; i < 3; i++) expect((await a.take('org:back', 3, 900)).allowed).toBe(true);
    a.giveBack('org:back', last, 900);
    expect((await a.take('org:back', 3, 900)).allowed).toBe(false);
  });

  it('starts again in the next window and says when that is', async () => {
    let now = Date.UTC(2026, 10, 22, 10, 59, 59);
    const limiter = new RateLimiter(t.db, { now: () => now });
    expect((await limiter.take('key:window', 1, 3600)).allowed).toBe(true);
    const refused = await limiter.take('key:window', 1, 3600);
    expect(refused).toEqual({ allowed: false, limit: 1, remaining: 0, resetAt: new Date(Date.UTC(2026, 10, 22, 11)) });
    now += 1000;
    expect((await limiter.take('key:window', 1, 3600)).allowed).toBe(true);
    await limiter.prune(0);
    expect(await t.db.selectFrom('gw_rate_windows').selectAll().where('bucket', '=', 'key:window').where('window_start', '<', new Date(now - 3600_000)).execute()).toEqual([]);
  });
});
