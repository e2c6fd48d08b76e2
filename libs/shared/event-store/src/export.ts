import type { Database } from './database';
import { readForAudit, StoreChecker, type AuditedEvent, type AuditedSeal, type VerifyReport } from './verify';

/**
 * An export of the event store for auditors: JSON lines, a header, then every seal, then every
 * event in the global order, each with the fields its hash covers as the store hashed them (the
 * payloads as their stored text), so that the export is verified without the database by the
 * same check `verify` runs on it (`verifyExport`), and its last seal's digest can be compared
 * with the one the store holds.
 */
export const EXPORT_FORMAT = 'volt-event-export';

interface ExportHeader {
  format: typeof EXPORT_FORMAT;
  version: 1;
  exported_at: string;
  events: number;
  seals: number;
}

/** Writes the store, read in one snapshot, as lines to `write` (which may wait, e.g. for a stream to drain). */
export async function exportStore(db: Database, write: (line: string) => void | Promise<void>): Promise<{ events: number; seals: number }> {
  let header: ExportHeader | undefined;
  await readForAudit(db, {
    counts: (events, seals) => write(JSON.stringify((header = { format: EXPORT_FORMAT, version: 1, exported_at: new Date().toISOString(), events, seals }))),
    seal: (seal) => write(JSON.stringify({ seal })),
    event: (event) => write(JSON.stringify({ event })),
  });
  return { events: header!.events, seals: header!.seals };
}

const DIGITS = /^\d{1,20}$/;
const EVENT_FIELDS: Record<keyof AuditedEvent, RegExp | 'string' | 'number'> = {
  position: DIGITS,
  transaction_id: DIGITS,
  stream_id: 'string',
  stream_version: 'number',
  event_id: 'string',
  type: 'string',
  schema_version: 'number',
  data: 'string',
  metadata: 'string',
  occurred_at_us: /^-?\d{1,20}$/,
  hash: 'string',
};
const SEAL_FIELDS: Record<keyof AuditedSeal, RegExp | 'string' | 'number'> = {
  seal_no: DIGITS,
  first_position: DIGITS,
  last_transaction_id: DIGITS,
  last_position: DIGITS,
  event_count: 'number',
  prev_digest: 'string',
  digest: 'string',
};

/** The line's record if it has every field the check reads, of the right kind; else why not. */
function shaped<T>(record: unknown, fields: Record<string, RegExp | 'string' | 'number'>, what: string, n: number): T {
  for (const [name, kind] of Object.entries(fields)) {
    const value = (record as Record<string, unknown>)[name];
    const ok = kind === 'number' ? Number.isInteger(value) : typeof value === 'string' && (kind === 'string' || kind.test(value));
    if (!ok) throw new Error(`line ${n}: ${what} with no valid "${name}"`);
  }
  return record as T;
}

/** Verifies an export's lines: the chains and seals as `verifyStore` does, and that nothing was cut off or added. */
export async function verifyExport(lines: AsyncIterable<string> | Iterable<string>): Promise<VerifyReport> {
  const checker = new StoreChecker();
  let header: ExportHeader | undefined;
  let events = 0;
  let seals = 0;
  let n = 0;
  for await (const text of lines) {
    n++;
    if (text.trim() === '') continue;
    let line: { format?: string; version?: number; seal?: unknown; event?: unknown };
    try {
      line = JSON.parse(text);
    } catch {
      throw new Error(`line ${n} is not JSON`);
    }
    if (typeof line !== 'object' || line === null) throw new Error(`line ${n} is not a JSON object`);
    if (!header) {
      if (line.format !== EXPORT_FORMAT || line.version !== 1) throw new Error(`not a Volt event export (line 1 has no "format": "${EXPORT_FORMAT}", "version": 1)`);
      header = line as ExportHeader;
    } else if (line.seal) {
      if (events > 0) throw new Error(`line ${n}: a seal after the events (an export lists its seals first)`);
      seals++;
      checker.seal(shaped<AuditedSeal>(line.seal, SEAL_FIELDS, 'a seal', n));
    } else if (line.event) {
      events++;
      checker.event(shaped<AuditedEvent>(line.event, EVENT_FIELDS, 'an event', n));
    } else throw new Error(`line ${n} is neither a seal nor an event`);
  }
  if (!header) throw new Error('the export is empty');
  const report = checker.report();
  if (events !== header.events || seals !== header.seals) {
    report.problems.push({ position: null, kind: 'export_incomplete', detail: `the export lists ${events} events and ${seals} seals; its header says ${header.events} and ${header.seals}` });
    report.ok = false;
  }
  return report;
}
