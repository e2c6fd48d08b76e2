import type { FastifyInstance, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { counter } from '@volt/telemetry';

const retried = counter('volt_gateway_read_retries_total', 'GET handlers run again because their database session ended under them');

/** A GET's handler, to run once more, while its first run is under way. */
const RERUN = Symbol('volt.readRerun');
type Marked = FastifyRequest & { [RERUN]?: () => unknown };
const PAUSE_MS = 20;

/**
 * A GET changes nothing, so one whose database session ended under it (a PostgreSQL restart or
 * failover, a killed backend) runs once more on a fresh connection rather than answer 503: a
 * moment's cut costs the caller a few milliseconds, not a retry of their own. Writes are not
 * repeated here; commands carry their own ids and are redelivered by JetStream.
 *
 * In two halves, since Nest answers a handler's error itself: this wraps every GET route's
 * handler so that its first run leaves a way to run it again; the exception filter, for an error
 * that says the database went away, calls `askReadRetry`, which does so (and the filter answers
 * nothing then; the second run answers, with its result or its own error). A Nest interceptor
 * would do it in one place, but any interceptor wraps every request of the app in RxJS
 * observables: a fifth of the gateway's throughput (`bench:gateway`, 2026-11-30).
 */
export function registerReadRetry(fastify: FastifyInstance): void {
  fastify.addHook('onRoute', (route) => {
    if (![route.method].flat().includes('GET')) return;
    const handler = route.handler as RouteHandlerMethod;
    route.handler = function (this: FastifyInstance, request, reply) {
      const marked = request as Marked;
      marked[RERUN] = () => handler.call(this, request, reply);
      // Nest's handler settles once the reply is sent (it returns the reply, a thenable, after an
      // error): from then on an error is not the first run's.
      return Promise.resolve(handler.call(this, request, reply)).finally(() => (marked[RERUN] = undefined));
    };
  });
}

/**
 * The filter's half, for an error that says the database went away: when it ended the first run
 * of a GET's handler, schedules the second and answers true (the filter is not to answer now).
 */
export function askReadRetry(request: FastifyRequest): boolean {
  const marked = request as Marked;
  const rerun = marked[RERUN];
  if (!rerun) return false;
  marked[RERUN] = undefined;
  retried.inc();
  setTimeout(rerun, PAUSE_MS);
  return true;
}
