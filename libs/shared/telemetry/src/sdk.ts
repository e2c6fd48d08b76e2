import { NodeSDK } from '@opentelemetry/sdk-node';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import { BatchSpanProcessor, NoopSpanProcessor, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';

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
  const processors: SpanProcessor[] = [];
  if (exporter) processors.push(new SimpleSpanProcessor({ exporter }));
  else if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT) processors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter() }));
  else if (process.env.VOLT_TRACING === 'always') processors.push(new NoopSpanProcessor());
  else return undefined;
  // Metrics are Prometheus (prom-client); logs are pino. Keep the SDK from posting either.
  process.env.OTEL_METRICS_EXPORTER ??= 'none';
  process.env.OTEL_LOGS_EXPORTER ??= 'none';
  sdk = new NodeSDK({
    serviceName,
    spanProcessors: processors,
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
