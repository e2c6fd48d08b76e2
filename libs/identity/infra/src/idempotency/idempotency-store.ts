import { sql } from 'kysely';
import type { Database } from '@volt/event-store';

export const IDEMPOTENCY_TTL_HOURS = 24;
/**
 * A first execution that has not finished after this long is taken to have died with
 * its process. Longer than JetStream's duplicate window (120 s), so the retry's command,
 * which has the same id, is delivered and answered from the events the first one wrote.
 */
export const IN_FLIGHT_TAKEOVER_SECONDS = 180;

export type IdempotencyStart =
  | { kind: 'started' }
  | { kind: 'replay'; status: number; body: string }
  | { kind: 'reused' }
  | { kind: 'in_flight' };

/**
 * Idempotency-Key records, per organization. The first request with a key claims it;
 * later ones replay its stored response, or are refused when the body differs or the
 * first is still running.
 */
export class IdempotencyStore {
  constructor(private readonly db: Database) {}

  async begin(tenantId: string, key: string, requestHash: string): Promise<IdempotencyStart> {
    const claimed = await sql<{ key: string }>`
      INSERT INTO gw_idempotency (tenant_id, key, request_hash, state, started_at, expires_at)
      VALUES (${tenantId}, ${key}, ${requestHash}, 'in_flight', now(), now() + make_interval(hours => ${IDEMPOTENCY_TTL_HOURS}))
      ON CONFLICT (tenant_id, key) DO UPDATE
        SET request_hash = excluded.request_hash, state = 'in_flight', status = NULL, body = NULL,
            started_at = excluded.started_at, expires_at = excluded.expires_at
        WHERE gw_idempotency.expires_at < now()
           OR (gw_idempotency.state = 'in_flight' AND gw_idempotency.request_hash = excluded.request_hash
               AND gw_idempotency.started_at < now() - make_interval(secs => ${IN_FLIGHT_TAKEOVER_SECONDS}))
      RETURNING key`.execute(this.db);
    if (claimed.rows.length) return { kind: 'started' };
    const row = await this.db
      .selectFrom('gw_idempotency')
      .select(['request_hash', 'state', 'status', 'body'])
      .where('tenant_id', '=', tenantId)
      .where('key', '=', key)
      .executeTakeFirst();
    // Deleted in between (the first attempt failed with a 5xx): claim it now.
    if (!row) return this.begin(tenantId, key, requestHash);
    if (row.request_hash !== requestHash) return { kind: 'reused' };
    if (row.state === 'in_flight') return { kind: 'in_flight' };
    return { kind: 'replay', status: row.status, body: row.body };
  }

  async complete(tenantId: string, key: string, status: number, body: string): Promise<void> {
    await this.db
      .updateTable('gw_idempotency')
      .set({ state: 'done', status, body })
      .where('tenant_id', '=', tenantId)
      .where('key', '=', key)
      .where('state', '=', 'in_flight')
      .execute();
  }

  /** The first attempt failed on our side: let the client's retry run it again. */
  async abandon(tenantId: string, key: string): Promise<void> {
    await this.db.deleteFrom('gw_idempotency').where('tenant_id', '=', tenantId).where('key', '=', key).where('state', '=', 'in_flight').execute();
  }

  async prune(): Promise<void> {
    await this.db.deleteFrom('gw_idempotency').where('expires_at', '<', sql<Date>`now()`).execute();
  }
}
