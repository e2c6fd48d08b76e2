import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import { currentTraceHeaders } from '@volt/telemetry';
import { Headers } from './names';

/** NATS headers carrying the active trace context (W3C traceparent and tracestate). */
export function headersWithTrace(): MsgHdrs {
  const h = natsHeaders();
  for (const [k, v] of Object.entries(currentTraceHeaders())) h.set(k, v);
  return h;
}

/** The trace context a message's headers carry, for contextFromTraceHeaders. */
export function traceCarrier(headers: MsgHdrs | undefined): Record<string, string | undefined> {
  return { traceparent: headers?.get(Headers.traceparent) || undefined, tracestate: headers?.get(Headers.tracestate) || undefined };
}
