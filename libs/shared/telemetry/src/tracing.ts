import { context, isSpanContextValid, propagation, trace, SpanKind, SpanStatusCode, type Attributes, type Context, type Span } from '@opentelemetry/api';

export { SpanKind };
export const tracer = () => trace.getTracer('volt');

/** Runs `fn` in a new active span; records an exception and error status if it throws. */
export async function withSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; parent?: Context },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = options.parent ?? context.active();
  return tracer().startActiveSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** The active trace context as W3C headers (traceparent, tracestate). */
export function currentTraceHeaders(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

/** The active span's trace id, or null with no active span (read per request: no header text made). */
export function currentTraceId(): string | null {
  const span = trace.getActiveSpan()?.spanContext();
  return span && isSpanContextValid(span) ? span.traceId : null;
}

/** A context whose parent is the trace described by the given W3C headers. */
export function contextFromTraceHeaders(carrier: Record<string, string | undefined>): Context {
  return propagation.extract(context.active(), carrier);
}

/** The active trace context in the shape messages carry it. */
export function currentTraceContext(): { traceparent?: string; tracestate?: string } {
  const headers = currentTraceHeaders();
  return { ...(headers.traceparent ? { traceparent: headers.traceparent } : {}), ...(headers.tracestate ? { tracestate: headers.tracestate } : {}) };
}
