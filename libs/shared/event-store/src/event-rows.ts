import { anyUpcasters, upcast, type EventEnvelope, type MessageMetadata } from '@volt/contracts';
import { types as pgTypes } from 'pg';

// Rows come back as arrays (cheaper to build than objects), in the order of EventRow. The
// position, transaction id and time stay the text PostgreSQL sent (see EVENT_TYPES): exact for
// bigint and xid8, and the time as UTC text is cheaper for the server to write than any number
// and cheaper for us to turn into ISO than a Date (a fifth of a 10,000-event read, measured).
// Data and metadata come as JSON text and are parsed in toEnvelopes.
export const EVENT_COLUMNS = `e.position, e.transaction_id, e.stream_id, e.stream_version, e.event_id, e.type,
  e.schema_version, e.data, e.metadata, e.occurred_at AT TIME ZONE 'UTC'`;

const INT8 = 20;
const TIMESTAMP = 1114;
const XID8 = 5069;
const JSON_TEXT = 114;
const JSONB = 3802; // what es_events held before 2026-11-30T0800-event-store-json-payloads
const asText = (text: string) => text;
const TEXT_TYPES = new Set([INT8, XID8, TIMESTAMP, JSON_TEXT, JSONB]);
/** pg's parsers, except that bigint, xid8, timestamp and JSON stay text, whatever anything set globally. */
export const EVENT_TYPES = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') => (TEXT_TYPES.has(oid) ? asText : pgTypes.getTypeParser(oid, format)),
};

/** position, transaction id, stream, version, event id, type, schema version, data and metadata (JSON text), occurred-at (UTC timestamp text). */
export type EventRow = [string, string, string, number, string, string, number, string, string, string];

/**
 * PostgreSQL's ISO text of a UTC timestamp (`2026-11-23 16:01:14.255`, with 0 to 6 fraction
 * digits) as an ISO instant with milliseconds, truncated as Date would. Sliced, not matched:
 * this runs for every event read.
 */
function isoFromUtcTimestamp(text: string): string {
  const n = text.length;
  if (n >= 19 && n <= 26 && text.charCodeAt(10) === 32 && (n === 19 || text.charCodeAt(19) === 46)) {
    const ms = n === 19 ? '000' : n >= 23 ? text.slice(20, 23) : `${text.slice(20)}00`.slice(0, 3);
    return `${text.slice(0, 10)}T${text.slice(11, 19)}.${ms}Z`;
  }
  return new Date(`${text.replace(' ', 'T')}Z`).toISOString();
}

/**
 * The rows' envelopes, in order. Events appended together carry the same metadata, so its text
 * is parsed once for each run of equal texts, and those envelopes share its actor and trace
 * objects (envelopes are facts: nothing changes them). On a 10,000-event stream written in
 * appends of 100 events, a fifth less time per read (measured).
 */
export function toEnvelopes(rows: EventRow[]): EventEnvelope[] {
  const envelopes = new Array<EventEnvelope>(rows.length);
  let metadataText: string | undefined;
  let metadata!: MessageMetadata;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (row[8] !== metadataText) {
      metadataText = row[8];
      metadata = JSON.parse(metadataText) as MessageMetadata;
    }
    envelopes[i] = toEnvelope(row, metadata);
  }
  // Events stored at an older schema version are read as the current one (none are, so far).
  if (anyUpcasters()) {
    for (const e of envelopes) {
      const current = upcast(e.type, e.schemaVersion, e.data);
      e.schemaVersion = current.schemaVersion;
      e.data = current.data;
    }
  }
  return envelopes;
}

function toEnvelope(row: EventRow, m: MessageMetadata): EventEnvelope {
  const envelope: EventEnvelope = {
    id: row[4],
    type: row[5],
    schemaVersion: row[6],
    streamId: row[2],
    streamVersion: row[3],
    position: row[0],
    transactionId: row[1],
    occurredAt: isoFromUtcTimestamp(row[9]),
    tenantId: m.tenantId ?? null,
    correlationId: m.correlationId,
    causationId: m.causationId ?? null,
    actor: m.actor,
    data: JSON.parse(row[7]) as unknown,
  };
  // Set after the fact rather than spread in: no throwaway object per event.
  if (m.trace) envelope.trace = m.trace;
  return envelope;
}
