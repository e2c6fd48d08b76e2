import { connect, type NatsConnection } from '@nats-io/transport-node';

export type { NatsConnection };

/**
 * A service's connection: it reconnects for ever, 500 ms apart. `options` adjusts it (a one-shot
 * tool's: a short timeout, no reconnects). Without async traces: otherwise every request, and so
 * every JetStream publish, builds two Error objects with stack traces up front in case it times
 * out. In CPU profiles of the pods benchmark, building errors fell from about 1–4% of each
 * service's busy time to 0.5–1% (the rest is one the client makes on every reply, which no option
 * avoids); our spans and logs say where a timed-out call came from.
 */
export function connectNats(url: string, name: string, options: { timeout?: number; reconnect?: boolean } = {}): Promise<NatsConnection> {
  // Several servers of a cluster may be named, comma-separated; the client fails over between them.
  const servers = url.split(',').map((s) => s.trim()).filter(Boolean);
  return connect({ servers, name, maxReconnectAttempts: -1, reconnectTimeWait: 500, noAsyncTraces: true, ...options });
}

/**
 * Whether a connection is up now. The client reconnects by itself and buffers what is published
 * meanwhile, so `isClosed()` stays false through a whole outage; this follows its disconnect and
 * reconnect events instead. Make it right after connecting: it learns only of later events.
 */
export class ConnectionWatch {
  private up = true;
  private readonly waiters = new Set<() => void>();

  constructor(private readonly nc: NatsConnection) {
    void this.follow();
  }

  get connected(): boolean {
    return this.up && !this.nc.isClosed();
  }

  /** True at once when connected; else whether it reconnects within `timeoutMs`. */
  whenConnected(timeoutMs: number): Promise<boolean> {
    if (this.connected) return Promise.resolve(true);
    if (this.nc.isClosed()) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (up: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(up);
      };
      const waiter = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.waiters.add(waiter);
    });
  }

  private async follow(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === 'disconnect') this.up = false;
      if (status.type === 'reconnect') {
        this.up = true;
        for (const waiter of [...this.waiters]) waiter();
      }
    }
    // The iterator ends when the connection closes for good.
    this.up = false;
    for (const waiter of [...this.waiters]) waiter();
  }
}
