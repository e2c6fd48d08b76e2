/** Another writer appended to the stream first: reload, decide again, retry. */
export class ConcurrencyConflictError extends Error {
  override readonly name = 'ConcurrencyConflictError';
  constructor(
    readonly streamId: string,
    readonly expectedVersion: number,
    readonly actualVersion: number,
  ) {
    super(`stream ${streamId}: expected version ${expectedVersion}, found ${actualVersion}`);
  }
}

/** Event ids that already exist elsewhere (another stream, or only some of them). */
export class EventIdReusedError extends Error {
  override readonly name = 'EventIdReusedError';
  constructor(readonly streamId: string) {
    super(`stream ${streamId}: some event ids were already used by other events`);
  }
}

/**
 * An event holding a string PostgreSQL cannot read back as text: a NUL, or half of a UTF-16
 * surrogate pair. Stored as json it would fail every projection that reads the field, so the
 * append is refused instead.
 */
export class UnstorableEventError extends Error {
  override readonly name = 'UnstorableEventError';
  constructor(
    readonly streamId: string,
    readonly eventType: string,
    /** Where, as a path: `data.name`, `metadata.actor.id`. */
    readonly field: string,
    readonly rule: UnstorableRule,
  ) {
    super(`stream ${streamId}: event ${eventType} holds ${UNSTORABLE[rule]} at ${field}`);
  }
}

/** The validation rule a string breaks: no NUL characters; well-formed Unicode (no lone surrogates). */
export type UnstorableRule = 'no_nul' | 'well_formed_unicode';

/** What each rule refuses, for messages: "name contains …". */
export const UNSTORABLE: Record<UnstorableRule, string> = { no_nul: 'a NUL character', well_formed_unicode: 'an unpaired UTF-16 surrogate (not valid Unicode)' };

/**
 * Why a string cannot be stored as text, if it cannot: PostgreSQL's text and jsonb refuse NUL,
 * and JSON with half a surrogate pair (a lone "\ud800") is stored as json but fails wherever
 * PostgreSQL reads it back as text.
 */
export function unstorableText(text: string): UnstorableRule | undefined {
  if (text.includes('\u0000')) return 'no_nul';
  return text.isWellFormed() ? undefined : 'well_formed_unicode';
}

/**
 * The most bytes of JSON an event's data and metadata may take together: half of NATS's default
 * max_payload (1 MiB), which the outbox relay's message (the whole envelope, with headers) must fit.
 */
export const MAX_EVENT_BYTES = 512 * 1024;

/** An event too large for the relay to publish (MAX_EVENT_BYTES): refused before anything is written. */
export class EventTooLargeError extends Error {
  override readonly name = 'EventTooLargeError';
  constructor(
    readonly streamId: string,
    readonly eventType: string,
    readonly bytes: number,
  ) {
    super(`stream ${streamId}: event ${eventType} takes ${bytes} bytes of JSON, more than the ${MAX_EVENT_BYTES} an event may`);
  }
}
