import { Gauge } from 'prom-client';
import { metricsRegistry } from './metrics';

/**
 * How long the loops that tail the event store (the outbox relay, projection runners) have gone
 * without reaching its end: for each label value, the seconds since a loop of this process last
 * had nothing left to read, taken when Prometheus scrapes. Under load it reads the time between
 * two looks (a fraction of a second); a loop that cannot go on (its database or NATS gone, an
 * event it cannot get past) shows a number that grows, where a value set at each success would
 * stand still at the last one. A loop not following (a relay on standby, a stopped runner) shows
 * nothing; two that follow the same thing show the further behind.
 */
export class BehindGauge {
  /** Per loop, per label value: when it last reached the end. */
  private readonly loops = new Map<object, Map<string, number>>();

  /** `label` names what a loop follows; there is always one, since a gauge without labels cannot show nothing. */
  constructor(name: string, help: string, label: string) {
    const loops = this.loops;
    if (metricsRegistry().getSingleMetric(name)) throw new Error(`metric ${name} is made twice`);
    new Gauge({
      name,
      help,
      labelNames: [label],
      registers: [metricsRegistry()],
      collect() {
        this.reset();
        const now = performance.now();
        const furthest = new Map<string, number>();
        for (const since of loops.values()) {
          for (const [value, at] of since) furthest.set(value, Math.max(furthest.get(value) ?? 0, (now - at) / 1000));
        }
        for (const [value, seconds] of furthest) this.set({ [label]: value }, seconds);
      },
    });
  }

  /** `loop` starts following `value` (if it was not), behind from now until it first reaches the end. */
  follow(loop: object, value: string): void {
    let since = this.loops.get(loop);
    if (!since) this.loops.set(loop, (since = new Map()));
    if (!since.has(value)) since.set(value, performance.now());
  }

  /** `loop` had nothing left to read at `at` (a `performance.now()` taken before the read that found the end). */
  reached(loop: object, value: string, at = performance.now()): void {
    const since = this.loops.get(loop);
    if (since?.has(value)) since.set(value, Math.max(since.get(value)!, at));
  }

  /** `loop` no longer follows anything: it shows nothing. */
  forget(loop: object): void {
    this.loops.delete(loop);
  }
}
