import { sql, type Transaction } from 'kysely';
import { START_OF_STORE, type EventEnvelope, type GlobalCheckpoint } from '@volt/contracts';
import { checkpointOf, compareCheckpoints, withSessionLock, type Database, type EventStore } from '@volt/event-store';
import { createCheckpoint } from './checkpoints';
import type { Projection } from './projection';

/** Tries at putting the new tables in place, each after replaying what the running instances applied meanwhile. */
const MAX_SWAP_ATTEMPTS = 20;

/** The schema a projection's new tables are built in, beside the ones in use. */
export const shadowSchema = (name: string) => `proj_rebuild_${name.toLowerCase().replace(/[^a-z0-9]/g, '_')}`;

/**
 * Rebuilds a read model from position 0 beside the one in use, then puts it in its place in one
 * transaction. Readers see the old model, whole, until they see the new one, whole: never one
 * emptied and part-way refilled (in which a revoked API key would work again, or a meter closed
 * long ago would show open and be charged again). Running instances go on updating the old
 * tables meanwhile; the swap takes their checkpoint's lock and, if they have applied nothing past
 * where the replay ended (else it replays further and tries again), swaps the tables and moves
 * the checkpoint there; they then go on from it. It reads the store through the pool only while
 * holding no transaction, so two connections are enough (volt-admin has two). One rebuild of a
 * projection at a time (an advisory lock); one that dies leaves only its schema behind, which
 * the next drops.
 * Returns how many events were read.
 */
export async function rebuildBeside(db: Database, store: EventStore, projection: Projection, batchSize: number): Promise<number> {
  const outcome = await withSessionLock(db, `volt:projection-rebuild:${projection.name}`, async () => {
    const shadow = shadowSchema(projection.name);
    const tables = await located(db, projection.tables);
    for (const t of tables) await refuseUncopyable(db, t);
    await sql`DROP SCHEMA IF EXISTS ${sql.id(shadow)} CASCADE`.execute(db);
    await sql`CREATE SCHEMA ${sql.id(shadow)}`.execute(db);
    for (const t of tables) {
      await sql`CREATE TABLE ${sql.id(shadow, t.table)} (LIKE ${sql.id(t.schema, t.table)} INCLUDING ALL)`.execute(db);
      await carryOver(db, t, shadow);
    }
    // The projection's statements name its tables unqualified: with the new schema first on the
    // search path, they find the new tables (a statement prepared under another path is planned again).
    const { rows } = await sql<{ path: string }>`SELECT current_setting('search_path') AS path`.execute(db);
    const path = `${shadow}, ${rows[0].path}`;
    const handles = new Set(projection.handles);
    let at: GlobalCheckpoint = START_OF_STORE;
    let read = 0;
    /** Replays into the new tables whatever the store holds past `at`. */
    const replay = async () => {
      for (;;) {
        const events = await store.readAll(at, batchSize);
        if (events.length === 0) return;
        read += events.length;
        const relevant = events.filter((e) => handles.has(e.type));
        if (relevant.length > 0) await db.transaction().execute((trx) => applyIn(trx, path, projection, relevant));
        at = checkpointOf(events[events.length - 1]);
      }
    };
    await createCheckpoint(db, projection.name);
    for (let attempt = 1; ; attempt++) {
      await replay();
      const swapped = await db.transaction().execute(async (trx) => {
        // The running instances' lock: no batch of theirs commits until the new tables are in place.
        const live = await sql<{ transaction_id: string; position: string }>`SELECT transaction_id::text, position::text FROM proj_checkpoints
          WHERE name = ${projection.name} FOR UPDATE`.execute(trx);
        // They applied a batch past the replay's end since it looked: replay that too, then lock again.
        if (compareCheckpoints({ transactionId: live.rows[0].transaction_id, position: live.rows[0].position }, at) > 0) return false;
        for (const t of tables) await putInPlace(trx, shadow, t);
        await sql`DROP SCHEMA ${sql.id(shadow)}`.execute(trx);
        await sql`UPDATE proj_checkpoints SET transaction_id = ${at.transactionId}::xid8, position = ${at.position}::bigint, updated_at = now()
          WHERE name = ${projection.name}`.execute(trx);
        return true;
      });
      if (swapped) break;
      if (attempt >= MAX_SWAP_ATTEMPTS) throw new Error(`${projection.name}: the running instances kept ahead of the rebuild; the tables in use are untouched`);
    }
    // New tables have no statistics: planned without, lookups would be planned as for empty tables.
    for (const t of tables) await sql`ANALYZE ${sql.id(t.schema, t.table)}`.execute(db);
    return read;
  });
  if (!outcome.held) throw new Error(`a rebuild of ${projection.name} is under way elsewhere`);
  return outcome.value;
}

/** A table of the projection's, where it is now: its schema, its name and its oid. */
interface Located {
  schema: string;
  table: string;
  oid: string;
}

/**
 * What `LIKE … INCLUDING ALL` does not copy and a swap would silently drop: row-level security
 * and its policies, triggers, foreign keys (either way) and publications. A rebuild refuses such
 * a table before it starts, naming what it has, rather than put a table without them in its place.
 */
async function refuseUncopyable(db: Database, t: Located): Promise<void> {
  const table = sql`${t.oid}::oid`;
  const { rows } = await sql<{ what: string }>`
    SELECT 'row-level security' AS what FROM pg_class WHERE oid = ${table} AND (relrowsecurity OR relforcerowsecurity)
    UNION ALL SELECT 'policy ' || polname FROM pg_policy WHERE polrelid = ${table}
    UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE tgrelid = ${table} AND NOT tgisinternal
    UNION ALL SELECT 'foreign key ' || conname FROM pg_constraint WHERE contype = 'f' AND ${table} IN (conrelid, confrelid)
    UNION ALL SELECT 'publication ' || p.pubname FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid WHERE r.prrelid = ${table}`.execute(db);
  if (rows.length > 0) {
    throw new Error(`${t.table} has ${rows.map((r) => r.what).join(', ')}, which a rebuild cannot carry over to a new table; the tables in use are untouched`);
  }
}

/**
 * Gives the new table what `LIKE` leaves behind of the one in use: its grants (table and column),
 * its storage options, and its owner. Where the services connect as roles of their own, they keep
 * reading and writing it after the swap, and the role that ran the rebuild does not end up owning
 * it. Grants first, while this role owns the new table; a change of owner then carries them over.
 */
async function carryOver(db: Database, t: Located, shadow: string): Promise<void> {
  const table = sql`${t.oid}::oid`;
  const { rows } = await sql<{ privilege: string; columns: string | null; grantee: string; grantable: boolean }>`
    SELECT a.privilege_type AS privilege, NULL::text AS columns, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END AS grantee,
           a.is_grantable AS grantable
    FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = ${table} AND a.grantee <> c.relowner
    UNION ALL
    SELECT a.privilege_type, att.attname::text, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, a.is_grantable
    FROM pg_class c JOIN pg_attribute att ON att.attrelid = c.oid, aclexplode(att.attacl) a
    WHERE c.oid = ${table} AND att.attacl IS NOT NULL AND a.grantee <> c.relowner`.execute(db);
  const target = sql.id(shadow, t.table);
  for (const r of rows) {
    const columns = r.columns === null ? sql`` : sql`(${sql.id(r.columns)})`;
    const grantee = r.grantee === 'PUBLIC' ? sql`PUBLIC` : sql.id(r.grantee);
    // The privilege is a keyword from the catalog (SELECT, INSERT, …), not text from outside.
    await sql`GRANT ${sql.raw(r.privilege)} ${columns} ON ${target} TO ${grantee} ${r.grantable ? sql`WITH GRANT OPTION` : sql``}`.execute(db);
  }
  const [own] = (
    await sql<{ owner: string; self: boolean; options: string[] | null }>`
      SELECT pg_get_userbyid(c.relowner) AS owner, c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) AS self,
             c.reloptions AS options
      FROM pg_class c WHERE c.oid = ${table}`.execute(db)
  ).rows;
  // Storage options (fillfactor, autovacuum thresholds) as the catalog spells them: name=value.
  if (own.options?.length) await sql`ALTER TABLE ${target} SET (${sql.raw(own.options.join(', '))})`.execute(db);
  if (!own.self) await sql`ALTER TABLE ${target} OWNER TO ${sql.id(own.owner)}`.execute(db);
}

/** Applies a batch to the projection's new tables, with `path` (theirs first) as the search path. */
async function applyIn(trx: Transaction<any>, path: string, projection: Projection, events: EventEnvelope[]): Promise<void> {
  await sql`SELECT set_config('search_path', ${path}, true)`.execute(trx);
  if (projection.write) await (await projection.write(trx, events, sql<boolean>`true`))?.execute(trx);
  else await projection.apply(trx, events);
}

/** Where each table is: the schema the search path finds it in. */
async function located(db: Database, tables: readonly string[]): Promise<Located[]> {
  return Promise.all(
    tables.map(async (table) => {
      const { rows } = await sql<{ schema: string; oid: string }>`SELECT n.nspname AS schema, c.oid::text AS oid FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(${table})`.execute(db);
      if (!rows[0]) throw new Error(`no table ${table}`);
      return { schema: rows[0].schema, table, oid: rows[0].oid };
    }),
  );
}

/**
 * Replaces the table in use with its new copy, under the names the migrations gave its indexes
 * (LIKE names them anew), so that a later migration finds them.
 */
async function putInPlace(trx: Transaction<any>, shadow: string, t: { schema: string; table: string }): Promise<void> {
  const indexes = async (schema: string) =>
    (
      await sql<{ name: string; def: string }>`SELECT indexname AS name, regexp_replace(indexdef, '^CREATE (UNIQUE )?INDEX \\S+ ON \\S+ ', 'CREATE \\1INDEX ON ') AS def
        FROM pg_indexes WHERE schemaname = ${schema} AND tablename = ${t.table} ORDER BY indexname`.execute(trx)
    ).rows;
  const unmatched = await indexes(t.schema);
  const renames = (await indexes(shadow)).map((made) => {
    const i = unmatched.findIndex((w) => w.def === made.def);
    return { from: made.name, to: i >= 0 ? unmatched.splice(i, 1)[0].name : made.name };
  });
  // Two passes, so that no name is taken while another index still has it.
  for (const [i, r] of renames.entries()) await sql`ALTER INDEX ${sql.id(shadow, r.from)} RENAME TO ${sql.id(`proj_rebuild_index_${i}`)}`.execute(trx);
  for (const [i, r] of renames.entries()) await sql`ALTER INDEX ${sql.id(shadow, `proj_rebuild_index_${i}`)} RENAME TO ${sql.id(r.to)}`.execute(trx);
  await sql`DROP TABLE ${sql.id(t.schema, t.table)}`.execute(trx);
  await sql`ALTER TABLE ${sql.id(shadow, t.table)} SET SCHEMA ${sql.id(t.schema)}`.execute(trx);
}
