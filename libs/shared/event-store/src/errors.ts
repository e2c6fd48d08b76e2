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
