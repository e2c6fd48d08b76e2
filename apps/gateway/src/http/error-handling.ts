import { ArgumentsHost, Catch, HttpException, type ExceptionFilter } from '@nestjs/common';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '@volt/telemetry';
import { UNSTORABLE, isDatabaseUnavailable, unstorableIn } from '@volt/event-store';
import { ApiException } from './api-error';
import { askReadRetry } from './retry-reads';

/** What reaches the client for anything thrown: seed 000's body, never a stack or SQL. */
export function toApiException(error: unknown): ApiException {
  if (error instanceof ApiException) return error;
  if (isDatabaseUnavailable(error)) return ApiException.of('SERVICE_UNAVAILABLE', 'A Volt service is temporarily unavailable. Retry in a few seconds.');
  const e = error as Partial<FastifyError>;
  const status = error instanceof HttpException ? error.getStatus() : e.statusCode;
  if (status === 404) return ApiException.of('NOT_FOUND', 'Route not found.');
  if (status === 413 || e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return ApiException.of('PAYLOAD_TOO_LARGE', 'Request body is larger than 1 MiB.');
  if (status === 415 || e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return ApiException.of('UNSUPPORTED_MEDIA_TYPE', 'Send the request body as application/json.');
  if (status === 400 && (error instanceof SyntaxError || /JSON/i.test(e.message ?? ''))) return ApiException.of('INVALID_JSON', 'The request body is not valid JSON.');
  if (status !== undefined && status >= 400 && status < 500) return ApiException.of('VALIDATION_ERROR', 'Bad request.');
  return ApiException.of('INTERNAL_ERROR', 'Unexpected server error. Retry with exponential backoff; contact support if it persists.');
}

export function sendError(reply: FastifyReply, error: ApiException): void {
  // A service out for a moment (NATS, PostgreSQL): when to try again, as for a 429.
  if (error.body.code === 'SERVICE_UNAVAILABLE') reply.header('Retry-After', '2');
  void reply.status(error.status).header('content-type', 'application/json; charset=utf-8').send(error.body);
}

/** Catches everything thrown inside Nest's pipeline, Fastify's body-parsing errors and unknown routes included. */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}
  catch(exception: unknown, host: ArgumentsHost): void {
    if (isDatabaseUnavailable(exception) && askReadRetry(host.switchToHttp().getRequest<FastifyRequest>())) return;
    const api = toApiException(exception);
    // An answer already shaped (a provider out, an offer gone, a service away for a moment) is
    // news for the operator, not a fault of ours: no stack. Anything else that ends in a 5xx is.
    if (exception instanceof ApiException && api.status >= 500) this.logger.warn({ status: api.status, code: api.body.code, message: api.body.message }, 'request answered with an upstream error');
    else if (api.status >= 500) this.logger.error({ err: exception }, 'request failed');
    sendError(host.switchToHttp().getResponse<FastifyReply>(), api);
  }
}

/** JSON routes take JSON only: the refusal for any other body type, before it is parsed. */
export function nonJsonBody(request: FastifyRequest): ApiException | undefined {
  if (request.method === 'GET' || request.method === 'HEAD') return undefined;
  const length = Number(request.headers['content-length'] ?? 0);
  if (length === 0 && request.headers['transfer-encoding'] === undefined) return undefined;
  const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/json' || type.endsWith('+json')) return undefined;
  return ApiException.of('UNSUPPORTED_MEDIA_TYPE', 'Send the request body as application/json.');
}

/**
 * No field of ours needs a string PostgreSQL cannot store as text (unstorableIn): the 400
 * naming the field for one in the path, query or body, before it can reach a statement or an event.
 */
export function unstorableCharacter(request: FastifyRequest): ApiException | undefined {
  // The path and query can only carry a NUL percent-encoded (the HTTP parser refuses a raw one),
  // and never a lone surrogate (decoding UTF-8 replaces what is not a character).
  if (request.body === undefined && !request.url.includes('%00')) return undefined;
  for (const [where, value] of [['path', request.params], ['query', request.query], ['body', request.body]] as const) {
    const found = unstorableIn(value);
    if (found === undefined) continue;
    const field = found.path || where;
    const message = `${field} contains ${UNSTORABLE[found.rule]}`;
    return ApiException.of('VALIDATION_ERROR', `Invalid request ${where}: ${message}`, [{ field, rule: found.rule, message }]);
  }
  return undefined;
}
