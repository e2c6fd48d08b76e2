import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry };

let registry: Registry | undefined;

/** The process's Prometheus registry, with Node's default metrics. */
export function metricsRegistry(): Registry {
  if (!registry) {
    registry = new Registry();
    collectDefaultMetrics({ register: registry });
  }
  return registry;
}

/** Gets a metric by name or creates it, so two modules asking for one share it. */
export function counter(name: string, help: string, labelNames: string[] = []): Counter<string> {
  return (metricsRegistry().getSingleMetric(name) as Counter<string>) ?? new Counter({ name, help, labelNames, registers: [metricsRegistry()] });
}
export function histogram(name: string, help: string, labelNames: string[] = [], buckets?: number[]): Histogram<string> {
  return (
    (metricsRegistry().getSingleMetric(name) as Histogram<string>) ??
    new Histogram({ name, help, labelNames, registers: [metricsRegistry()], ...(buckets ? { buckets } : {}) })
  );
}
export function gauge(name: string, help: string, labelNames: string[] = []): Gauge<string> {
  return (metricsRegistry().getSingleMetric(name) as Gauge<string>) ?? new Gauge({ name, help, labelNames, registers: [metricsRegistry()] });
}
