import { sql } from 'kysely';
import type { Database } from '@volt/event-store';
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

/**
 * The request audit log (append-only; the table refuses UPDATE and DELETE). A request
 * that changes state is written before its response leaves; reads are written in
 * batches a moment later, so auditing them costs no round trip per request.
 */
export class AuditLog {
  private pending: AuditRecord[] = [];
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;

  constructor(
    private readonly db: Database,
    private readonly onError: (error: unknown) => void = () => undefined,
    private readonly flushMs = 250,
  ) {}

  async record(entry: AuditRecord): Promise<void> {
    await this.db.insertInto('gw_audit_log').values(toRow(entry)).execute();
  }

  recordLater(entry: AuditRecord): void {
    this.pending.push(entry);
    if (this.pending.length >= 5000) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
  }

  /**
   * One statement however long the batch: the rows as one JSON parameter (serialized natively;
   * pg's array literals were escaped element by element in JavaScript, on the gateway's request
   * path), committed without waiting for the WAL flush: a crash can lose the last fraction of a
   * second of read records, never a write's (those use record()).
   */
  private async insertBatch(batch: AuditRecord[]): Promise<void> {
    const rows = JSON.stringify(batch.map(toRow));
    await this.db.transaction().execute(async (trx) => {
      await sql`SET LOCAL synchronous_commit = off`.execute(trx);
      await sql`INSERT INTO gw_audit_log (tenant_id, actor_type, actor_id, method, route, resource_id, status, request_id, trace_id, client_ip, occurred_at)
        SELECT tenant_id, actor_type, actor_id, method, route, resource_id, status, request_id, trace_id, client_ip, occurred_at
        FROM jsonb_to_recordset(${rows}::jsonb) AS r(tenant_id text, actor_type text, actor_id text, method text, route text, resource_id text,
          status int, request_id text, trace_id text, client_ip text, occurred_at timestamptz)`.execute(trx);
    });
  }

  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    this.flushing = this.insertBatch(batch).then(
        () => undefined,
        (error) => this.onError(error),
      );
    await this.flushing;
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
