import { sql } from 'kysely';
import type { EventEnvelope } from '@volt/contracts';
import { rowPerId } from '@volt/event-store';
import type { StatementProjection } from './projection';

/** A row as JSON: timestamps as their text (exact to the microsecond), jsonb columns as JSON. */
export type JsonRow = Record<string, unknown>;

export interface RowsSpec {
  name: string;
  table: string;
  /** The text primary key each event names. */
  key: string;
  /** Every column with its SQL type, in the table's terms. */
  columns: Record<string, string>;
  keyOf: (event: EventEnvelope<any>) => string;
  /**
   * Per event type: the row after the event, given the row before (undefined when there is none
   * yet); the same row (or undefined) when the event changes nothing. Pure: no I/O.
   */
  handlers: Record<string, (row: JsonRow | undefined, event: EventEnvelope<any>) => JsonRow | undefined>;
}

/**
 * A read model of one row per key (a pod, say), folded from its events in memory: per batch, one
 * statement reads the rows its events name and one writes back those that changed with the
 * checkpoint's move, however many events the batch holds (it was a statement per event). Rows
 * travel as JSON both ways, so what is not changed is written back exactly as it was read.
 */
export function rowsByKey(spec: RowsSpec): StatementProjection {
  const names = Object.keys(spec.columns);
  if (!names.includes(spec.key)) throw new Error(`${spec.name}: the key ${spec.key} must be one of the columns`);
  const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
  const table = sql.raw(ident(spec.table));
  const key = sql.raw(ident(spec.key));
  const columnList = sql.raw(names.map(ident).join(', '));
  const recordType = sql.raw(names.map((n) => `${ident(n)} ${spec.columns[n]}`).join(', '));
  const updates = sql.raw(names.filter((n) => n !== spec.key).map((n) => `${ident(n)} = EXCLUDED.${ident(n)}`).join(', '));

  return {
    name: spec.name,
    tables: [spec.table],
    handles: Object.keys(spec.handlers),
    async write(db, events, claimed) {
      const keys = [...new Set(events.map(spec.keyOf))];
      const rows = new Map<string, JsonRow>();
      const read = await sql<{ row: JsonRow }>`SELECT row_to_json(t) AS row FROM ${rowPerId(spec.table, spec.key, keys, 't')}`.execute(db);
      for (const { row } of read.rows) rows.set(row[spec.key] as string, row);
      const changed = new Set<string>();
      for (const e of events) {
        const id = spec.keyOf(e);
        const before = rows.get(id);
        const after = spec.handlers[e.type](before, e);
        if (after === undefined || after === before) continue;
        rows.set(id, after);
        changed.add(id);
      }
      if (changed.size === 0) return undefined;
      // In key order, so that two writers would lock rows in the same order.
      const written = [...changed].sort().map((id) => rows.get(id));
      return sql`INSERT INTO ${table} (${columnList})
        SELECT ${columnList} FROM json_to_recordset(${JSON.stringify(written)}::json) AS x(${recordType}) WHERE ${claimed}
        ON CONFLICT (${key}) DO UPDATE SET ${updates}`;
    },
  };
}
