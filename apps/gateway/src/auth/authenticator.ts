import type { Database } from '@volt/event-store';
import { findActiveKeyByHash, hashApiKey, type KeyPrincipal } from '@volt/identity-infra';
import type { MessagingNames, NatsConnection } from '@volt/messaging';
import { followEvents } from '../live-events';

interface Cached {
  principal: KeyPrincipal | null;
  until: number;
}

/** Unknown keys are remembered briefly, so a flood of bad keys does not become a flood of queries. */
const NEGATIVE_TTL_MS = 5_000;
/** A backstop only: revocation reaches every instance through its event within milliseconds. */
const POSITIVE_TTL_MS = 5 * 60_000;
const MAX_ENTRIES = 50_000;

/**
 * Resolves a presented API key to its organization, scopes and role. Hits are served
 * from memory; every instance listens for ApiKeyRevoked and OrganizationLimitsSet on
 * NATS and drops what they change at once, so a revoked key stops working everywhere
 * as soon as the event is published, and a lost connection empties the cache.
 */
export class Authenticator {
  private readonly cache = new Map<string, Cached>();
  /** Keys revoked while this instance runs: refused even if a slow read raced the event. */
  private readonly revoked = new Set<string>();
  private unfollow?: () => void;
  private readonly usage = new Map<string, Date>();
  private catchUp?: Promise<void>;
  private nextCatchUp?: Promise<void>;

  /** `current` brings this instance's read models up to date with the store. */
  constructor(
    private readonly db: Database,
    private readonly current: () => Promise<void>,
  ) {}

  async listen(nc: NatsConnection, names: MessagingNames): Promise<void> {
    this.unfollow = await followEvents(
      nc,
      names,
      [
        ['identity', 'ApiKeyRevoked'],
        ['identity', 'OrganizationLimitsSet'],
      ],
      (event) => {
        if (event.type === 'ApiKeyRevoked') {
          const keyId = event.data.keyId as string;
          this.revoked.add(keyId);
          this.evict((p) => p.keyId === keyId);
        } else this.evict((p) => p.orgId === event.tenantId);
      },
      // Events missed while disconnected: start again from the database.
      () => this.cache.clear(),
    );
  }

  close(): void {
    this.unfollow?.();
  }

  /**
   * The key's principal, or null for a key that does not work; a promise only when the
   * key is not in memory (the hot path stays synchronous).
   */
  authenticate(secret: string, now = Date.now()): KeyPrincipal | null | Promise<KeyPrincipal | null> {
    if (secret.length > 256) return null;
    const hash = hashApiKey(secret);
    const entry = this.cache.get(hash);
    if (entry && entry.until >= now) return this.accept(entry.principal, now);
    return this.lookUp(hash).then((found) => {
      const principal = found ?? null;
      if (this.cache.size >= MAX_ENTRIES) this.cache.clear();
      this.cache.set(hash, { principal, until: now + (principal ? POSITIVE_TTL_MS : NEGATIVE_TTL_MS) });
      return this.accept(principal, now);
    });
  }

  /**
   * A key created elsewhere a moment ago (through another gateway instance, or `volt-admin`)
   * may not be in this instance's read model yet: before a key counts as unknown (and is
   * remembered as such), the read model is brought up to date and asked again.
   */
  private async lookUp(hash: string): Promise<KeyPrincipal | undefined> {
    const found = await findActiveKeyByHash(this.db, hash);
    if (found) return found;
    await this.caughtUp();
    return findActiveKeyByHash(this.db, hash);
  }

  /**
   * Brings the read models up to date for a miss. Each miss is served by a catch-up that started
   * after it; misses that arrive while one runs share the next, so a flood of unknown keys costs
   * one catch-up at a time, not one each. A catch-up that cannot finish in time (stuck behind a
   * long transaction) lets the lookup answer as the read model stands.
   */
  private caughtUp(): Promise<void> {
    if (!this.catchUp) return this.startCatchUp();
    this.nextCatchUp ??= this.catchUp.then(() => {
      this.nextCatchUp = undefined;
      return this.startCatchUp();
    });
    return this.nextCatchUp;
  }

  private startCatchUp(): Promise<void> {
    const run: Promise<void> = this.current()
      .catch(() => undefined)
      .finally(() => {
        if (this.catchUp === run) this.catchUp = undefined;
      });
    this.catchUp = run;
    return run;
  }

  private accept(principal: KeyPrincipal | null, now: number): KeyPrincipal | null {
    if (!principal || this.revoked.has(principal.keyId)) return null;
    this.usage.set(principal.keyId, new Date(now));
    return principal;
  }

  /** Last-used times gathered since the previous call, for one batched write. */
  drainUsage(): Map<string, Date> {
    const drained = new Map(this.usage);
    this.usage.clear();
    return drained;
  }

  /** What this instance saw but has not written yet, so its own listings are current. */
  pendingUsage(keyId: string): Date | undefined {
    return this.usage.get(keyId);
  }

  private evict(match: (p: KeyPrincipal) => boolean): void {
    for (const [hash, entry] of this.cache) if (entry.principal && match(entry.principal)) this.cache.delete(hash);
  }
}
