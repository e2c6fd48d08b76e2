import type { MessagingNames, NatsConnection } from '@volt/messaging';
import { followEvents } from './live-events';

/** The read models the gateway keeps in memory, and the events that change each. */
const CHANGED_BY: Record<string, string[]> = {
  'ssh-keys': ['SshKeyAdded', 'SshKeyRemoved'],
  templates: ['TemplateCreated', 'TemplateUpdated', 'TemplateDeleted'],
  'docker-credentials': ['DockerCredentialAdded', 'DockerCredentialRemoved'],
};
export type CachedResource = keyof typeof CHANGED_BY;

const MAX_ENTRIES = 20_000;

interface Entry {
  value: unknown;
}

/**
 * Hot reads answered from memory. An entry is dropped when its organization's
 * resource changes: at once on the instance that sent the command, and on every
 * other instance when the change's event arrives over NATS (the relay's lag, tens of
 * milliseconds). A load that raced a change is not kept, and a lost NATS connection
 * empties the cache, so nothing stale outlives an event.
 */
export class ReadCache {
  private readonly entries = new Map<string, Map<string, Entry>>();
  /**
   * The loads in flight per organization's resource, and how often it changed since the first of
   * them began: a load that a change overtook is not kept. Only keys with a load in flight are
   * here, so an instance that serves many organizations keeps nothing for those it is not reading.
   */
  private readonly loading = new Map<string, { loads: number; changes: number }>();
  private unfollow?: () => void;
  private size = 0;
  private epoch = 0;

  async listen(nc: NatsConnection, names: MessagingNames): Promise<void> {
    const resourceOf = new Map(Object.entries(CHANGED_BY).flatMap(([resource, types]) => types.map((type) => [type, resource as CachedResource])));
    this.unfollow = await followEvents(
      nc,
      names,
      [...resourceOf.keys()].map((type) => ['pods', type]),
      (event) => {
        // System templates (no tenant) are in every organization's list.
        if (event.tenantId === null) this.clear();
        else this.invalidate(resourceOf.get(event.type)!, event.tenantId);
      },
      () => this.clear(),
    );
  }

  close(): void {
    this.unfollow?.();
  }

  async get<T>(resource: CachedResource, tenantId: string, variant: string, load: () => Promise<T>): Promise<T> {
    const key = `${resource}:${tenantId}`;
    const hit = this.entries.get(key)?.get(variant);
    if (hit) return hit.value as T;
    let inFlight = this.loading.get(key);
    if (!inFlight) this.loading.set(key, (inFlight = { loads: 0, changes: 0 }));
    inFlight.loads++;
    const changes = inFlight.changes;
    const epoch = this.epoch;
    let value: T;
    try {
      value = await load();
    } finally {
      if (--inFlight.loads === 0) this.loading.delete(key);
    }
    if (inFlight.changes === changes && this.epoch === epoch) {
      // Frozen: every request that hits it shares it, so its JSON can be kept (see serializeReply).
      deepFreeze(value);
      if (this.size >= MAX_ENTRIES) this.clear();
      let variants = this.entries.get(key);
      if (!variants) this.entries.set(key, (variants = new Map()));
      if (!variants.has(variant)) this.size++;
      variants.set(variant, { value });
    }
    return value;
  }

  /** Runs a change to an organization's resource; whatever it did, what was cached for it is dropped. */
  async changing<T>(resource: CachedResource, tenantId: string, change: () => Promise<T>): Promise<T> {
    try {
      return await change();
    } finally {
      this.invalidate(resource, tenantId);
    }
  }

  invalidate(resource: CachedResource, tenantId: string): void {
    const key = `${resource}:${tenantId}`;
    const inFlight = this.loading.get(key);
    if (inFlight) inFlight.changes++;
    this.size -= this.entries.get(key)?.size ?? 0;
    this.entries.delete(key);
  }

  /** What the cache holds: cached answers, and organizations' resources with a load in flight. */
  stats(): { entries: number; loading: number } {
    return { entries: this.size, loading: this.loading.size };
  }

  clear(): void {
    // Loads in flight when everything was dropped must not land either.
    this.epoch++;
    this.entries.clear();
    this.size = 0;
  }
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
}

const serialized = new WeakMap<object, string>();

/**
 * The gateway's JSON serializer: a frozen object (a cached read model, which nothing can
 * change) is serialized once and its text reused for every request it answers.
 */
export function serializeReply(payload: unknown): string {
  if (typeof payload !== 'object' || payload === null || !Object.isFrozen(payload)) return JSON.stringify(payload);
  let text = serialized.get(payload);
  if (text === undefined) serialized.set(payload, (text = JSON.stringify(payload)));
  return text;
}

