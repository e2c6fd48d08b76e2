import { finished } from 'node:stream/promises';
import { sql } from 'kysely';
import { from as copyFrom } from 'pg-copy-streams';
import { Batcher, poolOf, type Database } from '@volt/event-store';
import { counter } from '@volt/telemetry';
import type { AuditEntry, AuditQuery } from '@volt/identity-contracts';

export interface AuditRecord {
  tenantId: string;
  actor: { type: string; id: string };
  method: string;
  route: string;
  resourceId: string | null;
  status: number;
  requestId: string;
  traceId: string | null;
  clientIp: string | null;
  occurredAt: Date;
}

const toRow = (r: AuditRecord) => ({
  tenant_id: r.tenantId,
  actor_type: r.actor.type,
  actor_id: r.actor.id,
  method: r.method,
  route: r.route,
  resource_id: r.resourceId,
  status: r.status,
  request_id: r.requestId,
  trace_id: r.traceId,
  client_ip: r.clientIp,
  occurred_at: r.occurredAt,
});

const COPY_COLUMNS = 'tenant_id, actor_type, actor_id, method, route, resource_id, status, request_id, trace_id, client_ip, occurred_at';

/** A value in COPY's text format: \N for null; backslash, tab, newline and carriage return escaped; NUL (which text refuses) dropped. */
function copyField(value: string | null): string {
  if (value === null) return '\\N';
  return COPY_SPECIAL.test(value) ? value.replace(COPY_SPECIALS, (c) => COPY_ESCAPES[c]) : value;
}
const COPY_SPECIAL = /[\\\t\n\r\0]/;
const COPY_SPECIALS = /[\\\t\n\r\0]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '' };

// Records made in the same millisecond share their time's text (reads arrive tens per millisecond).
let lastTime = { ms: Number.NaN, text: '' };
function timeText(at: Date): string {
  const ms = at.getTime();
  if (ms !== lastTime.ms) lastTime = { ms, text: at.toISOString() };
  return lastTime.text;
}

// Concatenated rather than mapped and joined: this runs once per request the gateway serves.
function copyLine(r: AuditRecord): string {
  return (
    copyField(r.tenantId) + '\t' + copyField(r.actor.type) + '\t' + copyField(r.actor.id) + '\t' + copyField(r.method) + '\t' +
    copyField(r.route) + '\t' + copyField(r.resourceId) + '\t' + r.status + '\t' + copyField(r.requestId) + '\t' +
    copyField(r.traceId) + '\t' + copyField(r.clientIp) + '\t' + timeText(r.occurredAt) + '\n'
  );
}

const dropped = counter('volt_audit_reads_dropped_total', 'Read requests left out of the audit log because too many read records were waiting for PostgreSQL');

/**
 * The request audit log (append-only; the table refuses UPDATE and DELETE). A request
 * that changes state is written before its response leaves; reads are written in
 * batches a moment later, so auditing them costs no round trip per request.
 */
export class AuditLog {
  private pending: AuditRecord[] = [];
  /** Read records not yet written: pending, and in the batches queued behind a slow COPY. */
  private held = 0;
  private dropping = false;
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  /** Group committed: while one INSERT is in flight, the records that arrive go together in the next. */
  private readonly writes = new Batcher<ReturnType<typeof toRow>, unknown>(async (rows) => {
    const insert = (batch: typeof rows) => this.db.insertInto('gw_audit_log').values(batch).execute();
    try {
      await insert(rows);
      return rows.map(() => undefined);
    } catch (error) {
      // One record the table refuses must not fail its neighbours: each goes again on its own.
      if (rows.length === 1) return [error];
      return Promise.all(rows.map((row) => insert([row]).then(() => undefined, (e: unknown) => e)));
    }
  }, 1000);

  constructor(
    private readonly db: Database,
    private readonly onError: (error: unknown) => void = () => undefined,
    private readonly flushMs = 250,
    /**
     * Most read records held while PostgreSQL is slow or away (about 300 bytes each): past it,
     * reads go unaudited and are counted, so an outage costs the gateway bounded memory rather
     * than all of it. Writes' records are never dropped: their requests wait for the commit.
     */
    private readonly maxHeld = 100_000,
  ) {}

  /** Stores a state-changing request's record; resolves once it is committed. */
  async record(entry: AuditRecord): Promise<void> {
    const error = await this.writes.submit(toRow(entry));
    if (error) throw error;
  }

  recordLater(entry: AuditRecord): void {
    if (this.held >= this.maxHeld) {
      dropped.inc();
      if (!this.dropping) this.onError(new Error(`audit: ${this.held} read records are waiting for PostgreSQL; reads go unaudited until they are written (volt_audit_reads_dropped_total counts them)`));
      this.dropping = true;
      return;
    }
    this.held++;
    this.pending.push(entry);
    if (this.pending.length >= 5000) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
  }

  /**
   * The batch as one COPY: PostgreSQL's cheapest way in, and the cheapest text to make on the
   * gateway (half the cost, both sides, of the one-JSON-parameter INSERT it replaced; every read
   * is audited, so this runs at the gateway's full request rate). Committed without waiting for
   * the WAL flush: a crash can lose the last fraction of a second of read records, never a
   * write's (those use record()).
   */
  private async insertBatch(batch: AuditRecord[]): Promise<void> {
    const pool = poolOf(this.db);
    if (!pool) throw new Error('AuditLog needs a database made by createDatabase');
    let text = '';
    for (const r of batch) text += copyLine(r);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL synchronous_commit = off');
      const copy = client.query(copyFrom(`COPY gw_audit_log (${COPY_COLUMNS}) FROM STDIN`));
      copy.end(text);
      await finished(copy);
      await client.query('COMMIT');
      client.release();
    } catch (error) {
      // The connection may be mid-COPY: drop it rather than hand it back to the pool.
      client.release(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }

  /**
   * Writes what is pending, after any batch already on its way: when it returns, every record
   * made before the call is stored (or reported to onError). Batches go one at a time, in order.
   */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    const previous = this.flushing;
    const current = (async () => {
      await previous?.catch(() => undefined);
      if (batch.length === 0) return;
      await this.insertBatch(batch).catch((error: unknown) => this.onError(error));
      this.held -= batch.length;
      if (this.held < this.maxHeld / 2) this.dropping = false;
    })();
    this.flushing = current;
    await current;
  }
}

export async function queryAuditLog(db: Database, tenantId: string, query: AuditQuery): Promise<{ entries: AuditEntry[]; next_cursor: string | null }> {
  let q = db.selectFrom('gw_audit_log').selectAll().where('tenant_id', '=', tenantId);
  if (query.since) q = q.where('occurred_at', '>=', new Date(query.since));
  if (query.until) q = q.where('occurred_at', '<', new Date(query.until));
  if (query.actor) q = q.where('actor_id', '=', query.actor);
  if (query.route) q = q.where('route', '=', query.route);
  if (query.cursor) q = q.where('id', '<', sql<string>`${query.cursor}::bigint`);
  const rows = await q.orderBy('id', 'desc').limit(query.limit + 1).execute();
  const page = rows.slice(0, query.limit);
  return {
    entries: page.map((r) => ({
      id: String(r.id),
      org_id: r.tenant_id,
      actor: { type: r.actor_type, id: r.actor_id },
      method: r.method,
      route: r.route,
      resource_id: r.resource_id,
      status: r.status,
      request_id: r.request_id,
      trace_id: r.trace_id,
      client_ip: r.client_ip,
      occurred_at: (r.occurred_at as Date).toISOString(),
    })),
    next_cursor: rows.length > query.limit ? String(page[page.length - 1].id) : null,
  };
}
