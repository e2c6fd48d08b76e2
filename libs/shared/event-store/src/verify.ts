import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Database } from './database';

export interface VerifyProblem {
  /** Global position of the first event found wrong (null when no event can be named). */
  position: string | null;
  kind: 'hash_mismatch' | 'version_gap' | 'seal_mismatch' | 'seal_chain_broken' | 'export_incomplete';
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  eventsChecked: number;
  streamsChecked: number;
  sealsChecked: number;
  problems: VerifyProblem[];
  firstBadPosition: string | null;
}

/**
 * An event as its hash covers it: every field as the text `es_event_hash` hashes (the payloads
 * exactly as stored, the time in microseconds), and the stored hash in hex. What `export` writes.
 */
export interface AuditedEvent {
  position: string;
  transaction_id: string;
  stream_id: string;
  stream_version: number;
  event_id: string;
  type: string;
  schema_version: number;
  data: string;
  metadata: string;
  occurred_at_us: string;
  hash: string;
}

/** A sealed range of the global order: its digest chains the previous one with every hash in it. */
export interface AuditedSeal {
  seal_no: string;
  first_position: string;
  last_transaction_id: string;
  last_position: string;
  event_count: number;
  prev_digest: string;
  digest: string;
}

const GENESIS = Buffer.alloc(32);
const PAGE = 5000;

/** Whether the event comes after the seal's last event in the global order (transaction id, position). */
function afterSeal(e: AuditedEvent, s: AuditedSeal): boolean {
  const tx = BigInt(e.transaction_id) - BigInt(s.last_transaction_id);
  return tx > 0n || (tx === 0n && BigInt(e.position) > BigInt(s.last_position));
}

/** What `es_event_hash` computes: sha256 of the predecessor's hash and the fields joined by 0x1f. */
function eventHash(prev: Buffer, e: AuditedEvent): Buffer {
  const fields = [e.position, e.transaction_id, e.stream_id, String(e.stream_version), e.event_id, e.type, String(e.schema_version), e.data, e.metadata, e.occurred_at_us];
  return createHash('sha256').update(prev).update(fields.join('\x1f'), 'utf8').digest();
}

/**
 * Checks that no event was changed, removed or reordered: each event's hash against its
 * stream predecessor, stream versions without gaps, and every sealed range of the global order
 * against its digest (which is what catches the removal of a stream's last event). It is fed
 * the seals first, then the events in the global order, from the database or from an export:
 * one check for both. It keeps each stream's last hash (about 100 bytes a stream). A stream's
 * versions may come out of version order in the global order (a transaction that took its id
 * early appends after a later one), so a version that comes early waits for its predecessor.
 */
export class StoreChecker {
  private readonly problems: VerifyProblem[] = [];
  private firstBad: bigint | null = null;
  private readonly heads = new Map<string, { version: number; hash: Buffer }>();
  private readonly early = new Map<string, Map<number, AuditedEvent>>();
  private readonly seals: AuditedSeal[] = [];
  private sealAt = 0;
  /** What was found so far in the range of seals[sealAt]. */
  private range: { count: number; first: string | null; digest: ReturnType<typeof createHash> } | null = null;
  private events = 0;

  seal(s: AuditedSeal): void {
    const before = this.seals[this.seals.length - 1];
    if (s.prev_digest !== (before?.digest ?? GENESIS.toString('hex'))) {
      this.add({ position: s.first_position, kind: 'seal_chain_broken', detail: `seal ${s.seal_no} does not chain from the seal before it` });
    }
    this.seals.push(s);
  }

  event(e: AuditedEvent): void {
    this.events++;
    // Every event up to a seal's end, after the previous seal's, is in its range.
    while (this.sealAt < this.seals.length && afterSeal(e, this.seals[this.sealAt])) this.closeSeal();
    if (this.sealAt < this.seals.length) {
      const range = (this.range ??= this.openRange(this.seals[this.sealAt]));
      range.count++;
      range.first ??= e.position;
      range.digest.update(Buffer.from(e.hash, 'hex'));
    }
    const head = this.heads.get(e.stream_id) ?? { version: 0, hash: GENESIS };
    if (e.stream_version === head.version + 1) {
      this.chain(e, head.hash);
      this.chainWaiting(e.stream_id);
      return;
    }
    const waiting = this.early.get(e.stream_id) ?? new Map<number, AuditedEvent>();
    if (e.stream_version > head.version && !waiting.has(e.stream_version)) this.early.set(e.stream_id, waiting.set(e.stream_version, e));
    else this.gap(e, head.version);
  }

  /** The report, once every seal and event was given. */
  report(): VerifyReport {
    while (this.sealAt < this.seals.length) this.closeSeal();
    // Versions still waiting: their predecessors are missing. Checked on from the last one there.
    for (const [stream, waiting] of this.early) {
      for (const e of [...waiting.values()].sort((a, b) => a.stream_version - b.stream_version)) {
        const head = this.heads.get(stream) ?? { version: 0, hash: GENESIS };
        this.gap(e, head.version);
        this.chain(e, head.hash);
      }
    }
    this.early.clear();
    const problems = this.problems.sort((a, b) => (a.position === null ? 1 : b.position === null ? -1 : Number(BigInt(a.position) - BigInt(b.position))));
    return {
      ok: problems.length === 0,
      eventsChecked: this.events,
      streamsChecked: this.heads.size,
      sealsChecked: this.seals.length,
      problems,
      firstBadPosition: this.firstBad === null ? null : String(this.firstBad),
    };
  }

  /** Kept: the first 100 problems found, and the lowest position of all. */
  private add(problem: VerifyProblem): void {
    if (this.problems.length < 100) this.problems.push(problem);
    if (problem.position !== null && (this.firstBad === null || BigInt(problem.position) < this.firstBad)) this.firstBad = BigInt(problem.position);
  }

  private chain(e: AuditedEvent, prev: Buffer): void {
    const hash = Buffer.from(e.hash, 'hex');
    if (!eventHash(prev, e).equals(hash)) {
      this.add({ position: e.position, kind: 'hash_mismatch', detail: `stream ${e.stream_id} version ${e.stream_version}: hash does not match its content and predecessor` });
    }
    this.heads.set(e.stream_id, { version: e.stream_version, hash });
  }

  /** Chains the versions of the stream that came before their predecessor, now that it is here. */
  private chainWaiting(stream: string): void {
    const waiting = this.early.get(stream);
    if (!waiting) return;
    for (let head = this.heads.get(stream)!, next = waiting.get(head.version + 1); next; head = this.heads.get(stream)!, next = waiting.get(head.version + 1)) {
      waiting.delete(next.stream_version);
      this.chain(next, head.hash);
    }
    if (waiting.size === 0) this.early.delete(stream);
  }

  private gap(e: AuditedEvent, last: number): void {
    this.add({ position: e.position, kind: 'version_gap', detail: `stream ${e.stream_id}: version ${e.stream_version} follows ${last} (events missing or reordered)` });
  }

  /** A seal's range is hashed from the digest the seal says it follows (a broken link is reported apart). */
  private openRange(s: AuditedSeal) {
    return { count: 0, first: null, digest: createHash('sha256').update(Buffer.from(s.prev_digest, 'hex')) };
  }

  /** Compares what was found in the current seal's range with what it sealed. */
  private closeSeal(): void {
    const s = this.seals[this.sealAt];
    const range = this.range ?? this.openRange(s);
    const digest = range.digest.digest('hex');
    if (range.count !== s.event_count || digest !== s.digest) {
      this.add({
        position: range.first ?? s.first_position,
        kind: 'seal_mismatch',
        detail: `seal ${s.seal_no} (positions ${s.first_position}..${s.last_position}): ${s.event_count} events sealed, ${range.count} found, digest ${digest === s.digest ? 'matches' : 'differs'}`,
      });
    }
    this.sealAt++;
    this.range = null;
  }
}

/**
 * Reads the store for an audit in one snapshot (repeatable read): its event and seal counts,
 * then every seal in number order, then every event in the global order, a page at a time.
 */
export async function readForAudit(
  db: Database,
  on: { counts?(events: number, seals: number): void | Promise<void>; seal(s: AuditedSeal): void | Promise<void>; event(e: AuditedEvent): void | Promise<void> },
): Promise<void> {
  await db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      const counts = (await sql<{ events: string; seals: string }>`SELECT (SELECT count(*) FROM es_events)::text AS events, (SELECT count(*) FROM es_seals)::text AS seals`.execute(trx)).rows[0];
      await on.counts?.(Number(counts.events), Number(counts.seals));
      // Ordered by the columns, qualified: a bare name is the text output column, and seal 100 (or
      // transaction 1000) would come between 10 and 11.
      const seals = await sql<AuditedSeal>`SELECT seal_no::text, first_position::text, last_transaction_id::text, last_position::text, event_count,
          encode(prev_digest, 'hex') AS prev_digest, encode(digest, 'hex') AS digest FROM es_seals ORDER BY es_seals.seal_no`.execute(trx);
      for (const s of seals.rows) await on.seal(s);
      let after = { transaction_id: '0', position: '0' };
      for (;;) {
        const page = await sql<AuditedEvent>`
          SELECT position::text, transaction_id::text, stream_id, stream_version, event_id::text, type, schema_version, data::text, metadata::text,
                 (extract(epoch FROM occurred_at) * 1000000)::bigint::text AS occurred_at_us, encode(hash, 'hex') AS hash
            FROM es_events WHERE (transaction_id, position) > (${after.transaction_id}::xid8, ${after.position}::bigint)
           ORDER BY es_events.transaction_id, es_events.position LIMIT ${PAGE}`.execute(trx);
        for (const e of page.rows) await on.event(e);
        if (page.rows.length < PAGE) return;
        after = page.rows[page.rows.length - 1];
      }
    });
}

/** Verifies the store in the database: hash chains, stream versions and sealed ranges. */
export async function verifyStore(db: Database): Promise<VerifyReport> {
  const checker = new StoreChecker();
  await readForAudit(db, { seal: (s) => checker.seal(s), event: (e) => checker.event(e) });
  return checker.report();
}
