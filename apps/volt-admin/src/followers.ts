import { START_OF_STORE } from '@volt/contracts';
import type { Database, EventStore } from '@volt/event-store';
import { relayCheckpoints } from '@volt/messaging/base';
import { projectionCheckpoints, type Projection } from '@volt/projections';

/** A projection or an outbox relay as the database holds it. */
export interface Follower {
  kind: 'projection' | 'relay';
  name: string;
  /** Its stored checkpoint's position ('0': none yet). */
  position: string;
  /** Events after that checkpoint that are its to apply (a projection: of the types it handles) or to publish (a relay: all). */
  pending: number;
  /** When its checkpoint last moved (null: never). */
  updatedAt: string | null;
  tables?: readonly string[];
}

/**
 * Every projection and every relay that has stored a checkpoint, with how much is waiting for it
 * in the store: what `volt_projection_behind_seconds` and `volt_relay_behind_seconds` tell in
 * time, told in events and from the database alone. A running relay stores its checkpoint every
 * 250 ms at most, so a few of its pending events may be published already; a projection stores
 * its own with each batch it applies, so its count is exact.
 */
export async function followers(db: Database, store: EventStore, projections: Projection[]): Promise<Follower[]> {
  const stored = await projectionCheckpoints(db);
  const list: Follower[] = [];
  for (const p of projections) {
    const row = stored.get(p.name);
    const from = row?.checkpoint ?? START_OF_STORE;
    list.push({ kind: 'projection', name: p.name, position: from.position, pending: await store.countAfter(from, p.handles), updatedAt: row?.updatedAt.toISOString() ?? null, tables: p.tables });
  }
  for (const [name, r] of await relayCheckpoints(db)) {
    list.push({ kind: 'relay', name, position: r.checkpoint.position, pending: await store.countAfter(r.checkpoint), updatedAt: r.updatedAt.toISOString() });
  }
  return list;
}

export function followerLine(f: Follower): string {
  const what = f.kind === 'projection' ? 'to apply' : 'to publish';
  const tables = f.tables ? `  tables ${f.tables.join(', ')}` : '';
  return `${f.kind} ${f.name}  position ${f.position}  ${what} ${f.pending}  moved ${f.updatedAt ?? 'never'}${tables}`;
}
