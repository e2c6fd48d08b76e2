import { randomBytes } from 'node:crypto';
import type { Migration } from 'kysely/migration';
import { sql } from 'kysely';
import { Client } from 'pg';
import { createDatabase, migrateToLatest, type Database } from '@volt/event-store';

export const TEST_ADMIN_URL = process.env.VOLT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  name: string;
  url: string;
  db: Database;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

function urlFor(database: string): string {
  const url = new URL(TEST_ADMIN_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

async function admin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: TEST_ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * A fresh database of its own on the real PostgreSQL server, migrated with the sets
 * given. Every integration test file takes one, so files never see each other's rows.
 */
export async function createTestDatabase(
  migrations: Record<string, Migration>[],
  options: { poolSize?: number } = {},
): Promise<TestDatabase> {
  const name = `volt_test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = urlFor(name);
  const db = createDatabase(url, { max: options.poolSize ?? 10 });
  await migrateToLatest(db, ...migrations);
  return {
    name,
    url,
    db,
    async drop() {
      await db.destroy();
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/**
 * Every migration of the sets given whose name comes before `name`: a database as the release
 * before that migration left it (names are ordered across all sets, as the migrator runs them).
 */
export function migrationsBefore(name: string, ...sets: Record<string, Migration>[]): Record<string, Migration> {
  return Object.fromEntries(sets.flatMap((set) => Object.entries(set)).filter(([other]) => other < name));
}

/**
 * Sequential and index scans PostgreSQL has counted on a table so far. The counters are the
 * calling session's once it has reported them, so give the database one connection
 * (`poolSize: 1`) when the scans to count are its own.
 */
export async function tableScans(db: Database, table: string): Promise<{ seq: number; idx: number }> {
  await sql`SELECT pg_stat_force_next_flush()`.execute(db);
  const { rows } = await sql<{ seq: number; idx: number }>`SELECT seq_scan::int AS seq, coalesce(idx_scan, 0)::int AS idx
    FROM pg_stat_user_tables WHERE relname = ${table}`.execute(db);
  return rows[0];
}

/**
 * Ends the PostgreSQL session holding the advisory lock `withSessionLock` takes under `key` (or,
 * with no key, every session holding one in this database), as a restart or a network cut would, and
 * waits until those sessions have ended.
 */
export async function terminateLockHolder(db: Database, key?: string): Promise<void> {
  // A session lock on hashtext(key) is an int8 lock: pg_locks shows its low 32 bits as objid.
  const which = key === undefined ? sql`true` : sql`objid = ((hashtext(${key})::bigint) & 4294967295)::oid`;
  // With a timeout, PostgreSQL answers once the session has ended and so released its locks; without
  // one it answers at once, and its client can hear of the loss before the lock is free (seen here).
  await sql`SELECT pg_terminate_backend(pid, 5000) FROM pg_locks WHERE locktype = 'advisory' AND granted AND ${which}
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`.execute(db);
}
