import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import { MAX_BODY_BYTES } from '@volt/platform';
import { ApiException } from './api-error';

/**
 * The gateway's JSON body parser. An empty body is no body (many clients send
 * `Content-Type: application/json` on every request, a stop or a delete included);
 * a route that needs one then says what is missing. A body that is JSON but carries
 * a `__proto__` or `constructor.prototype` key is refused saying so, not as "not JSON".
 */
export function registerJsonBody(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();
  const secure = fastify.getDefaultJsonParser('error', 'error');
  app.useBodyParser('application/json', { bodyLimit: MAX_BODY_BYTES }, (request, body, done) => {
    if (body.length === 0) return done(null, undefined);
    // Fastify's own parser (which refuses those keys) takes the buffer as it is; its type says string.
    void secure(request as FastifyRequest, body as unknown as string, (error: Error | null, value?: unknown) => {
      if (!error) return done(null, value);
      done(parsesAsPlainJson(body) ? FORBIDDEN_KEY : NOT_JSON);
    });
  });
}

const NOT_JSON = ApiException.of('INVALID_JSON', 'The request body is not valid JSON.');
const FORBIDDEN_KEY = ApiException.of('INVALID_JSON', 'The request body has a "__proto__" or "constructor.prototype" key, which is not accepted.');

function parsesAsPlainJson(body: Buffer): boolean {
  try {
    JSON.parse(body.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}
