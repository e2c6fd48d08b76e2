import type { MessagingNames, NatsConnection } from '@volt/messaging';

/**
 * Tells every Volt process that something was appended, so that their tailing loops (read models,
 * the relay) look now rather than at their next poll, which on an idle stack is up to
 * VOLT_POLL_MAX_MS away. Core NATS, fire and forget: a lost signal costs only that wait. At most
 * one signal per process per `intervalMs`: under load the loops poll every 20 ms anyway, and a
 * loop that found something looks again soon after.
 */
export class AppendSignal {
  private last = -Infinity;

  constructor(
    private readonly nc: NatsConnection,
    private readonly names: MessagingNames,
    private readonly intervalMs = 50,
  ) {}

  announce(): void {
    const now = Date.now();
    if (now - this.last < this.intervalMs) return;
    this.last = now;
    try {
      this.nc.publish(this.names.appendedSubject);
    } catch {
      // A closed or draining connection: the others find the events at their next poll.
    }
  }

  /** Calls `onSignal` whenever any process (this one too) announces an append. */
  listen(onSignal: () => void) {
    return this.nc.subscribe(this.names.appendedSubject, {
      callback: (error) => {
        if (!error) onSignal();
      },
    });
  }
}
