import { createHash } from 'node:crypto';
import { Kysely, PostgresDialect } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import { Client, Pool, type PoolConfig } from 'pg';

export type Database = Kysely<any>;

const pools = new WeakMap<Database, Pool>();

/** Statements a connection prepares by name at most; texts past that go unnamed. */
export const MAX_NAMED_PER_CONNECTION = 500;
/** Seconds a pooled connection serves before it is closed (when next idle) and replaced. */
export const CONNECTION_LIFETIME_S = 60;
const names = new Map<string, string>();

/** A statement's name from its text (remembered for the texts seen most recently). */
export function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    if (names.size >= 5_000) names.clear();
    name = `k_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
    names.set(text, name);
  }
  return name;
}

/**
 * A connection that prepares kysely's statements by name. kysely sends each one unnamed, so
 * PostgreSQL parsed, analysed and planned it on every call (a quarter of its CPU under
 * `bench:pods`); named, it is parsed once per connection and, with force_generic_plan, planned
 * once. Only statements with parameters (DDL, BEGIN and COMMIT have none, and stay unnamed), and
 * at most MAX_NAMED_PER_CONNECTION per connection: a text that varies with its data (one
 * placeholder per list element) must not prepare without end. A plan is kept as its table
 * grows: made just after a small table was analyzed, it may scan the table whole long after an
 * index would do, so connections live CONNECTION_LIFETIME_S at most and the next one plans
 * afresh (the planner scales the old statistics to the table's current size).
 */
class NamingClient extends Client {
  private readonly prepared = new Set<string>();

  override query(config: any, values?: any, callback?: any): any {
    if (typeof config === 'string' && Array.isArray(values) && values.length > 0) {
      const name = statementName(config);
      if (this.prepared.has(name) || this.prepared.size < MAX_NAMED_PER_CONNECTION) {
        this.prepared.add(name);
        return super.query({ name, text: config, values }, callback);
      }
    }
    return super.query(config, values, callback);
  }
}

export function createDatabase(connectionString: string, options: Omit<PoolConfig, 'connectionString'> = {}): Database {
  // Generic plans for named prepared statements (every statement with parameters, see
  // NamingClient, and the SPI plans inside es_append): their shape never changes, so planning
  // them per call is waste; lookups by key are written to stay index scans in a plan made while
  // a table was small (LATERAL … LIMIT 1, see rowsByIds). JIT only slows short
  // OLTP statements down. ISO dates and UTC whatever the server's defaults: pg's parsers and the
  // event store's timestamp text depend on the first, and day arithmetic (usage per day, a day's
  // journal) on the second — '1 day' added in a zone with summer time is sometimes 23 hours.
  // No idle timeout: pg-pool arms a timer on every release and clears it on the next checkout;
  // without it a sequential append took 7–19 µs (5–8%) less of the client's CPU (measured in 8 of
  // 8 alternating runs; its time did not change beyond noise). An idle connection still closes
  // when its lifetime ends, CONNECTION_LIFETIME_S after it opened.
  const pool = new Pool({
    connectionString,
    max: 10,
    maxLifetimeSeconds: CONNECTION_LIFETIME_S,
    idleTimeoutMillis: 0,
    Client: NamingClient,
    options: '-c plan_cache_mode=force_generic_plan -c jit=off -c DateStyle=ISO -c TimeZone=UTC',
    ...options,
  });
  // An idle connection the server closed (restart, failover) is dropped by the pool and
  // replaced on next use; without a listener the event would crash the process.
  pool.on('error', () => undefined);
  // The same for a connection checked out but between queries (held for a lock or a
  // transaction): pg stops listening to it while it is out, so its 'error' would end the
  // process. Its holder learns of the loss from its next query, and the pool discards it.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
  pools.set(db, pool);
  return db;
}

/**
 * The pg pool behind a database made by createDatabase. The event store's hot paths use
 * it directly for named prepared statements, which kysely does not offer.
 */
export function poolOf(db: Database): Pool | undefined {
  return pools.get(db);
}

/** Migrations are imported statically, so CommonJS builds and vitest both find them. */
class StaticMigrationProvider implements MigrationProvider {
  constructor(private readonly migrations: Record<string, Migration>) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return this.migrations;
  }
}

/** Runs every migration set given (each lib contributes its own) in name order. */
export async function migrateToLatest(db: Database, ...sets: Record<string, Migration>[]): Promise<string[]> {
  const all = Object.assign({}, ...sets) as Record<string, Migration>;
  const migrator = new Migrator({ db, provider: new StaticMigrationProvider(all) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/**
 * Runs `fn` while this process holds the session advisory lock named `key` (one holder across all
 * processes), or answers `{ held: false }` at once when another holds it. The lock lives with its
 * connection: `lost()` gives the error that ended that connection — PostgreSQL frees the lock for the
 * next taker as that session ends (the holder can hear of the loss a moment before), so a holder that
 * runs long should stop — and `onLost` is told at once.
 */
export async function withSessionLock<T>(
  db: Database,
  key: string,
  fn: (lost: () => Error | undefined) => Promise<T>,
  onLost?: (error: Error) => void,
): Promise<{ held: true; value: T } | { held: false }> {
  const pool = poolOf(db);
  if (!pool) throw new Error('withSessionLock needs a database made by createDatabase');
  const conn = await pool.connect();
  let lost: Error | undefined;
  // A lost connection can report more than one error (the server's FATAL, then the socket's
  // end): the holder is told once, of the first, which is also what `lost()` answers.
  const listener = (error: Error) => {
    if (lost) return;
    lost = error;
    onLost?.(error);
  };
  conn.on('error', listener);
  // A connection that failed a query of its own is not given back to the pool.
  const failed = (error: Error) => {
    lost ??= error;
    throw error;
  };
  try {
    const { rows } = await conn.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [key]).catch(failed);
    if (!rows[0].ok) return { held: false };
    try {
      return { held: true, value: await fn(() => lost) };
    } finally {
      if (!lost) await conn.query('SELECT pg_advisory_unlock(hashtext($1))', [key]).catch((error: Error) => (lost ??= error));
    }
  } finally {
    conn.removeListener('error', listener);
    conn.release(lost);
  }
}
