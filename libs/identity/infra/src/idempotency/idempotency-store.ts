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
  /** `attempt` counts the runs that failed on our side before this one: commands derive their ids from it. */
  | { kind: 'started'; attempt: number }
  | { kind: 'replay'; status: number; body: string }
  | { kind: 'reused' }
  | { kind: 'in_flight' };

/**
 * Idempotency-Key records, per organization. The first request with a key claims it;
 * later ones replay its stored response, or are refused when the body differs or the
 * first is still running. A request that timed out waiting for its command stays in
 * flight (the command completes on its own): retries are told so until the takeover.
 */
export class IdempotencyStore {
  constructor(private readonly db: Database) {}

  async begin(tenantId: string, key: string, requestHash: string): Promise<IdempotencyStart> {
    // Claimed when new, expired (then it is another request: a new attempt), abandoned after a
    // failure on our side (the retry is a new attempt), or in flight too long with the same
    // request (its process died: the same attempt again, so the same command ids).
    const claimed = await sql<{ attempt: number }>`
      INSERT INTO gw_idempotency (tenant_id, key, request_hash, state, started_at, expires_at)
      VALUES (${tenantId}, ${key}, ${requestHash}, 'in_flight', now(), now() + make_interval(hours => ${IDEMPOTENCY_TTL_HOURS}))
      ON CONFLICT (tenant_id, key) DO UPDATE
        SET request_hash = excluded.request_hash, state = 'in_flight', status = NULL, body = NULL,
            started_at = excluded.started_at, expires_at = excluded.expires_at,
            attempt = gw_idempotency.attempt + CASE WHEN gw_idempotency.expires_at < now() THEN 1 ELSE 0 END
        WHERE gw_idempotency.expires_at < now()
           OR gw_idempotency.state = 'abandoned'
           OR (gw_idempotency.state = 'in_flight' AND gw_idempotency.request_hash = excluded.request_hash
               AND gw_idempotency.started_at < now() - make_interval(secs => ${IN_FLIGHT_TAKEOVER_SECONDS}))
      RETURNING attempt`.execute(this.db);
    if (claimed.rows.length) return { kind: 'started', attempt: claimed.rows[0].attempt };
    const row = await this.db
      .selectFrom('gw_idempotency')
      .select(['request_hash', 'state', 'status', 'body'])
      .where('tenant_id', '=', tenantId)
      .where('key', '=', key)
      .executeTakeFirst();
    // Abandoned or expired in between: claim it now.
    if (!row || row.state === 'abandoned') return this.begin(tenantId, key, requestHash);
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

  /**
   * The attempt failed on our side and did nothing that a retry would repeat: the client's
   * retry runs the request again, as a new attempt (new command ids: the failed attempt's
   * command was answered, and JetStream would drop a command sent again with its id).
   */
  async abandon(tenantId: string, key: string): Promise<void> {
    await this.db
      .updateTable('gw_idempotency')
      .set({ state: 'abandoned', attempt: sql`attempt + 1` })
      .where('tenant_id', '=', tenantId)
      .where('key', '=', key)
      .where('state', '=', 'in_flight')
      .execute();
  }

  async prune(): Promise<void> {
    await this.db.deleteFrom('gw_idempotency').where('expires_at', '<', sql<Date>`now()`).execute();
  }
}
