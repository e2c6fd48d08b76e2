import { FastifyOtelInstrumentation } from '@fastify/otel';

/**
 * Server spans for every HTTP request, registered as a Fastify plugin rather than
 * through module-load hooks, so it works however the app was loaded.
 */
export function httpTracingPlugin() {
  return new FastifyOtelInstrumentation({ registerOnInitialization: false }).plugin();
}
