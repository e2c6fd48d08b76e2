import { sql } from 'kysely';
import type { Database } from '@volt/event-store';

export interface RateDecision {
  allowed: boolean;
  limit: number;
  /** Requests left in this window, as far as this instance can tell. */
  remaining: number;
  /** When the window ends and the count starts again. */
  resetAt: Date;
}

interface Lease {
  windowStart: number;
  /** The shared count after this instance's last claim. */
  known: number;
  /** Requests claimed from the shared count and not yet spent here. */
  held: number;
  lastChunk: number;
  claiming?: Promise<void>;
}

export interface RateLimiterOptions {
  /** The most one instance claims at once; 1 makes every request a shared write. */
  maxChunk?: number;
  now?: () => number;
}

/**
 * Fixed-window limits shared by every gateway instance through one PostgreSQL row
 * per (bucket, window). An instance claims a chunk of the window at a time and spends
 * it locally, so a busy key costs one write per chunk instead of one per request. The
 * chunk shrinks as the window fills, down to one request per claim near the limit,
 * so the limit itself is exact across instances; at worst a stopped instance takes
 * its unspent chunk with it (the window errs on the side of refusing).
 */
export class RateLimiter {
  private readonly leases = new Map<string, Lease>();
  private readonly maxChunk: number;
  private readonly now: () => number;

  constructor(
    private readonly db: Database,
    options: RateLimiterOptions = {},
  ) {
    this.maxChunk = options.maxChunk ?? 500;
    this.now = options.now ?? Date.now;
  }

  /** Counts one request; a promise only when this instance must claim more of the window first. */
  take(bucket: string, limit: number, windowSeconds: number): RateDecision | Promise<RateDecision> {
    return this.takeHeld(bucket, limit, windowSeconds) ?? this.takeClaiming(bucket, limit, windowSeconds);
  }

  /**
   * Gives back a request that `take` allowed and that, in the end, should not count (a pod create
   * that created nothing). This instance spends it again; the shared count is left as it is, so
   * that no instance's view of the window ever falls. Nothing, once its window has ended.
   */
  giveBack(bucket: string, taken: RateDecision, windowSeconds: number): void {
    const lease = this.leases.get(bucket);
    if (taken.allowed && lease && lease.windowStart + windowSeconds * 1000 === taken.resetAt.getTime()) lease.held++;
  }

  private takeHeld(bucket: string, limit: number, windowSeconds: number): RateDecision | undefined {
    const windowMs = windowSeconds * 1000;
    const now = this.now();
    const windowStart = now - (now % windowMs);
    const lease = this.leases.get(bucket);
    if (!lease || lease.windowStart !== windowStart) return undefined;
    const resetAt = new Date(windowStart + windowMs);
    if (lease.held > 0) {
      lease.held--;
      // Claim the next chunk before this one runs out, so busy keys never wait on the database.
      if (lease.lastChunk > 1 && lease.held <= lease.lastChunk / 2 && !lease.claiming && lease.known < limit) this.startClaim(bucket, lease, limit).catch(() => undefined);
      return { allowed: true, limit, remaining: Math.max(0, limit - lease.known + lease.held), resetAt };
    }
    // The shared count never falls within a window: once it reached the limit, refuse locally.
    if (lease.known >= limit) return { allowed: false, limit, remaining: 0, resetAt };
    return undefined;
  }

  private async takeClaiming(bucket: string, limit: number, windowSeconds: number): Promise<RateDecision> {
    const windowMs = windowSeconds * 1000;
    for (;;) {
      const now = this.now();
      const windowStart = now - (now % windowMs);
      let lease = this.leases.get(bucket);
      if (!lease || lease.windowStart !== windowStart) {
        lease = { windowStart, known: 0, held: 0, lastChunk: 0 };
        this.leases.set(bucket, lease);
      }
      const held = this.takeHeld(bucket, limit, windowSeconds);
      if (held) return held;
      await (lease.claiming ?? this.startClaim(bucket, lease, limit));
    }
  }

  private startClaim(bucket: string, lease: Lease, limit: number): Promise<void> {
    // Smaller chunks as the window fills: near the limit every request is its own claim.
    const chunk = Math.max(1, Math.min(this.maxChunk, Math.floor((limit - lease.known) / 16)));
    lease.lastChunk = chunk;
    lease.claiming = this.claim(bucket, lease.windowStart, chunk).then(
      (count) => {
        lease.known = count;
        // Of the chunk, only what fits under the limit is ours.
        lease.held += Math.max(0, Math.min(chunk, limit - (count - chunk)));
        lease.claiming = undefined;
      },
      (error) => {
        lease.claiming = undefined;
        throw error;
      },
    );
    return lease.claiming;
  }

  private async claim(bucket: string, windowStart: number, chunk: number): Promise<number> {
    const { rows } = await sql<{ count: string }>`
      INSERT INTO gw_rate_windows (bucket, window_start, count) VALUES (${bucket}, ${new Date(windowStart)}, ${chunk})
      ON CONFLICT (bucket, window_start) DO UPDATE SET count = gw_rate_windows.count + excluded.count
      RETURNING count`.execute(this.db);
    return Number(rows[0].count);
  }

  /** Forgets windows that ended; run now and then. */
  async prune(olderThanSeconds = 86_400): Promise<void> {
    const cutoff = this.now() - olderThanSeconds * 1000;
    await this.db.deleteFrom('gw_rate_windows').where('window_start', '<', new Date(cutoff)).execute();
    for (const [bucket, lease] of this.leases) if (lease.windowStart < cutoff) this.leases.delete(bucket);
  }
}
