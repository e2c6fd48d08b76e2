import { Kysely, PostgresDialect } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import { Pool, type PoolConfig } from 'pg';

export type Database = Kysely<any>;

export function createDatabase(connectionString: string, pool: Omit<PoolConfig, 'connectionString'> = {}): Database {
  return new Kysely<any>({
    dialect: new PostgresDialect({ pool: new Pool({ connectionString, max: 10, ...pool }) }),
  });
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
