import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createTestDatabase, type TestDatabase } from '@volt/testing';
import { MAX_NAMED_PER_CONNECTION } from './database';

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
