
/**
 * Server spans for every HTTP request, registered as a Fastify plugin rather than
 * through module-load hooks, so it works however the app was loaded. Loaded on first
 * use: only a gateway that records traces needs it.
 */
export function httpTracingPlugin() {
  const { FastifyOtelInstrumentation } = require('@fastify/otel') as typeof import('@fastify/otel');
  return new FastifyOtelInstrumentation({ registerOnInitialization: false }).plugin();
}
