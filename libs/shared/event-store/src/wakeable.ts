/**
 * A sleep that can be cut short: loops that tail the store poll on an interval, and
 * whoever knows there is something new (an append in this process, a stop) wakes them.
 * An idle loop backs off: each look that finds nothing doubles its next rest, from
 * `minMs` up to `maxMs`, so an idle service costs the database a few queries a second
 * per loop rather than fifty; finding something, or being woken, starts again from `minMs`.
 */
export class Wakeable {
  private wakeUp: (() => void) | undefined;
  private idleLooks = 0;

  constructor(
    private readonly minMs = 20,
    private readonly maxMs = 250,
  ) {}

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.wakeUp === done) self.wakeUp = undefined;
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /** Rests between looks: `minMs` after one that found something, longer the longer nothing comes. */
  rest(): Promise<void> {
    const ms = Math.min(this.maxMs, this.minMs * 2 ** this.idleLooks);
    this.idleLooks++;
    return this.sleep(ms);
  }

  /** The last look found something. */
  busy(): void {
    this.idleLooks = 0;
  }

  wake(): void {
    this.idleLooks = 0;
    this.wakeUp?.();
  }
}
