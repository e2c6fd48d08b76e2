import type { NodeSDK } from '@opentelemetry/sdk-node';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';

let sdk: NodeSDK | undefined;

/**
 * Starts OpenTelemetry for this process. It must run before fastify and pg are
 * loaded (apps load it with --require), or their spans silently vanish. Traces go
 * over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, or to the exporter given (tests
 * pass an in-memory one). With neither there is nowhere to send a span, and making
 * them costs a third of the gateway's throughput, so tracing stays off (logs and
 * messages still carry request and correlation ids); VOLT_TRACING=always forces it on.
 */
export function startTelemetry(serviceName: string, exporter?: SpanExporter): NodeSDK | undefined {
  if (sdk) return sdk;
  const otlp = !exporter && Boolean(process.env.OTEL_EXPORTER_OTLP_ENDPOINT);
  if (!exporter && !otlp && process.env.VOLT_TRACING !== 'always') return undefined;
  // The SDK and its exporters are a quarter of a second of module loading (gRPC, YAML
  // config, metrics): required here, so only a process that records traces pays it.
  const { BatchSpanProcessor, NoopSpanProcessor, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace') as typeof import('@opentelemetry/sdk-trace');
  const { OTLPTraceExporter } = otlp ? (require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http')) : { OTLPTraceExporter: undefined };
  const { NodeSDK } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
  const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof import('@opentelemetry/instrumentation-pg');
  const processor: SpanProcessor = exporter
    ? new SimpleSpanProcessor({ exporter })
    : OTLPTraceExporter
      ? new BatchSpanProcessor({ exporter: new OTLPTraceExporter() })
      : new NoopSpanProcessor();
  // Metrics are Prometheus (prom-client); logs are pino. Keep the SDK from posting either.
  process.env.OTEL_METRICS_EXPORTER ??= 'none';
  process.env.OTEL_LOGS_EXPORTER ??= 'none';
  sdk = new NodeSDK({
    serviceName,
    spanProcessors: [processor],
    instrumentations: [new HttpInstrumentation(), new PgInstrumentation({ enhancedDatabaseReporting: false })],
  });
  sdk.start();
  return sdk;
}

/** Whether this process records traces (the HTTP server adds its tracing plugin only then). */
export const tracingEnabled = (): boolean => sdk !== undefined;

export async function stopTelemetry(): Promise<void> {
  await sdk?.shutdown();
  sdk = undefined;
}
