import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTelemetry, stopTelemetry } from '@volt/telemetry';
import { generateSshKey } from '../support/ssh';
import type { TestStack } from '../support/stack';

const exporter = new InMemorySpanExporter();
let stack: TestStack;

beforeAll(async () => {
  // Telemetry first, then everything else, as the apps' --require bootstrap does.
  startTelemetry('trace-test', exporter);
  const { startStack } = await import('../support/stack.js');
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
  await stopTelemetry();
});

it('follows one request from HTTP through the command over NATS, the handler and its SQL, to the published event', async () => {
  const subscription = stack.messaging.nc.subscribe(`${stack.messaging.prefix}.volt.evt.pods.SshKeyAdded`, { max: 1, timeout: 10_000 });
  exporter.reset();
  const created = await stack.call('POST', '/api/volt/ssh-keys', { body: { name: 'traced', public_key: generateSshKey().line } });
  expect(created.status).toBe(201);
  const { value: event } = await subscription[Symbol.asyncIterator]().next();

  const spans = exporter.getFinishedSpans();
  const server = spans.find((s) => s.attributes['http.route'] === '/api/volt/ssh-keys' || /POST/.test(s.name) && /ssh-keys/.test(String(s.attributes['url.path'] ?? s.attributes['http.target'] ?? s.name)));
  expect(server, spans.map((s) => s.name).join(', ')).toBeDefined();
  const traceId = server!.spanContext().traceId;
  const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
  const names = inTrace.map((s) => s.name);
  expect(names).toContain('volt.cmd.pods.AddSshKey send');
  expect(names).toContain('volt.cmd.pods.AddSshKey process');
  // SQL issued by the handler (the append and the stream read) belongs to the same trace.
  expect(inTrace.some((s) => s.attributes['db.system'] === 'postgresql' || s.attributes['db.system.name'] === 'postgresql'), names.join(', ')).toBe(true);
  // The published event carries the trace onward in its headers.
  expect(event.headers?.get('traceparent')).toContain(traceId);
  // And the request's audit record names the same trace.
  const audit = await stack.call('GET', `/v1/audit?route=${encodeURIComponent('/api/volt/ssh-keys')}&limit=1`);
  expect(audit.body.entries[0]).toMatchObject({ method: 'POST', resource_id: created.body.id, trace_id: traceId });
  // That read is recorded too, in the next batch (a COPY, made under the pg instrumentation), with its own trace.
  await new Promise((r) => setTimeout(r, 500));
  const reads = await stack.call('GET', `/v1/audit?route=${encodeURIComponent('/v1/audit')}&limit=1`);
  expect(reads.body.entries[0]).toMatchObject({ method: 'GET', status: 200, trace_id: expect.stringMatching(/^[0-9a-f]{32}$/) });
  expect(reads.body.entries[0].trace_id).not.toBe(traceId);
});

it('follows a balance read into the ledger service it asks to catch up', async () => {
  exporter.reset();
  expect((await stack.call('GET', '/api/volt/balance')).status).toBe(200);
  const spans = exporter.getFinishedSpans();
  const request = spans.find((s) => s.name === 'volt.catchup.ledger request');
  expect(request, spans.map((s) => s.name).join(', ')).toBeDefined();
  const inTrace = spans.filter((s) => s.spanContext().traceId === request!.spanContext().traceId);
  const names = inTrace.map((s) => s.name);
  expect(names).toContain('volt.catchup.ledger process');
  // The same trace holds the HTTP request the read came from.
  expect(inTrace.some((s) => /balance/.test(String(s.attributes['http.route'] ?? s.attributes['url.path'] ?? s.name))), names.join(', ')).toBe(true);
});
