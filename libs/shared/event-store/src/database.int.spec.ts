import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sql } from 'kysely';
import { createTestDatabase, type TestDatabase } from '@volt/testing';
import { CONNECTION_LIFETIME_S, createDatabase, MAX_NAMED_PER_CONNECTION, poolOf, statementName } from './database';

// One connection, so that every statement below and the look at what it prepared share a session.
let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase([], { poolSize: 1 });
  await sql`CREATE TABLE things (id integer PRIMARY KEY, name text NOT NULL)`.execute(t.db);
  await sql`INSERT INTO things SELECT g, 'thing ' || g FROM generate_series(1, 100) g`.execute(t.db);
});
afterAll(() => t?.drop());

const prepared = async () =>
  (await sql<{ statement: string; generic_plans: number; custom_plans: number }>`
    SELECT statement, generic_plans::int, custom_plans::int FROM pg_prepared_statements WHERE name LIKE 'k\\_%'`.execute(t.db)).rows;

describe('statements sent through kysely', () => {
  it('are prepared once per connection by name and planned once, when they have parameters', async () => {
    for (let id = 1; id <= 5; id++) {
      expect(await t.db.selectFrom('things').select('name').where('id', '=', id).executeTakeFirst()).toEqual({ name: `thing ${id}` });
    }
    await sql`SELECT count(*) FROM things`.execute(t.db);
    const mine = (await prepared()).filter((p) => p.statement.includes('"things"') || p.statement.includes('FROM things'));
    // The five lookups are one prepared statement, run five times on its one generic plan (no
    // custom plan, made per call); the count, with no parameters, is not prepared.
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ generic_plans: 5, custom_plans: 0 });
    expect(mine[0].statement).toContain('where "id" = $1');
  });

  it('stop being prepared past a connection’s limit, and still answer', async () => {
    for (let n = 0; n < MAX_NAMED_PER_CONNECTION + 20; n++) {
      // A different text each time, as a list of n values would make.
      const row = await sql<{ v: number }>`SELECT ${n}::int + ${sql.raw(String(n))} AS v`.execute(t.db);
      expect(row.rows[0].v).toBe(2 * n);
    }
    expect((await prepared()).length).toBe(MAX_NAMED_PER_CONNECTION);
  });
});

describe('a statement prepared while its table was small', () => {
  it('is planned afresh by the next connection once the table has grown', async () => {
    // Every database's connections are replaced after a while; here sooner, to watch it happen.
    expect(poolOf(t.db)?.options.maxLifetimeSeconds).toBe(CONNECTION_LIFETIME_S);
    const db = createDatabase(t.url, { max: 1, maxLifetimeSeconds: 6 });
    try {
      await sql`CREATE TABLE sessions (id integer PRIMARY KEY, tenant_id text NOT NULL, payload text NOT NULL)`.execute(db);
      await sql`CREATE INDEX sessions_by_tenant ON sessions (tenant_id)`.execute(db);
      await sql`INSERT INTO sessions SELECT g, 't' || g, repeat('x', 200) FROM generate_series(1, 60) g`.execute(db);
      // As autovacuum does after the first 50 rows.
      await sql`ANALYZE sessions`.execute(db);
      const query = db.selectFrom('sessions').select('id').where('tenant_id', '=', 't1');
      const plan = async () => {
        await query.execute();
        const rows = (await sql.raw<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE ${statementName(query.compile().sql)}('t1')`).execute(db)).rows;
        return rows.map((r) => r['QUERY PLAN']).join('\n');
      };
      expect(await plan()).toContain('Seq Scan');
      await sql`INSERT INTO sessions SELECT g, 't' || (g % 500), repeat('x', 200) FROM generate_series(61, 20000) g`.execute(db);
      // The same connection keeps the plan it made (no ANALYZE has run since)…
      expect(await plan()).toContain('Seq Scan');
      // …until its lifetime is over; the next one scales the old statistics to the table's size.
      await new Promise((r) => setTimeout(r, 6_200));
      expect(await plan()).toMatch(/Index Scan|Bitmap Index Scan/);
    } finally {
      await db.destroy();
    }
  });
});

describe('connections opened for a burst', () => {
  it('are all closed once their lifetime is over, though nothing times out their idleness', async () => {
    const lifetimeS = 2;
    const opened = Date.now();
    const db = createDatabase(t.url, { max: 3, maxLifetimeSeconds: lifetimeS });
    try {
      const pool = poolOf(db)!;
      const backends = async () =>
        Number((await sql<{ n: string }>`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'burst'`.execute(t.db)).rows[0].n);
      await Promise.all([1, 2, 3].map(() => sql`SET application_name = 'burst'; SELECT pg_sleep(0.2)`.execute(db)));
      expect(pool.totalCount).toBe(3);
      expect(pool.idleCount).toBe(3);
      expect(await backends()).toBe(3);
      // Idle, they close when their lifetime ends (not before), on the server too.
      await vi.waitFor(() => expect(pool.totalCount).toBe(0), { timeout: 15_000, interval: 50 });
      expect(Date.now() - opened).toBeGreaterThanOrEqual(lifetimeS * 1000);
      await vi.waitFor(async () => expect(await backends()).toBe(0), { timeout: 5_000, interval: 50 });
    } finally {
      await db.destroy();
    }
  });
});
