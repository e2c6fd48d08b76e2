import type { z } from 'zod';
import type { ApiErrorBody, DomainError, ErrorCode, ErrorDetail } from '@volt/contracts';

/** The one place a domain error code becomes an HTTP status. */
export const STATUS_OF: Record<ErrorCode, number> = {
  VALIDATION_ERROR: 400,
  INVALID_JSON: 400,
  INVALID_API_KEY: 401,
  INSUFFICIENT_BALANCE: 402,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  DUPLICATE_SSH_KEY: 409,
  IDEMPOTENCY_KEY_IN_USE: 409,
  IDEMPOTENCY_KEY_REUSED: 422,
  INSUFFICIENT_SCOPE: 403,
  SYSTEM_TEMPLATE: 403,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMIT_EXCEEDED: 429,
  INTERNAL_ERROR: 500,
  PROVIDER_UNAVAILABLE: 502,
  STALE_INVENTORY: 503,
  SERVICE_UNAVAILABLE: 503,
  TIMEOUT: 504,
};

/** An error on its way to the client, already in seed 000's shape. */
export class ApiException extends Error {
  constructor(readonly body: ApiErrorBody) {
    super(body.message);
  }
  get status(): number {
    return this.body.status;
  }
  static of(code: ErrorCode, message: string, details?: ErrorDetail[]): ApiException {
    return new ApiException({ error: true, status: STATUS_OF[code], message, code, ...(details ? { details } : {}) });
  }
  static fromDomain(error: DomainError): ApiException {
    const base = ApiException.of(error.code, error.message, error.details);
    return error.extra ? new ApiException({ ...base.body, ...error.extra } as ApiErrorBody) : base;
  }
}

/** Turns zod issues into the error body's details, each naming its field and rule. */
export function validationError(error: z.ZodError, where: 'body' | 'query' | 'path'): ApiException {
  const details: ErrorDetail[] = error.issues.slice(0, 50).map((issue) => {
    const params = (issue as { params?: { rule?: string } }).params;
    const keys = (issue as { keys?: string[] }).keys;
    const path = issue.path.map(String).join('.');
    const field = keys?.length ? [path, keys[0]].filter(Boolean).join('.') : path || where;
    return { field, rule: params?.rule ?? issue.code, message: issue.message };
  });
  const message = details.length
    ? `Invalid request ${where}: ${details.slice(0, 5).map((d) => `${d.field}: ${d.message}`).join('; ')}`
    : `Invalid request ${where}`;
  return ApiException.of('VALIDATION_ERROR', message, details);
}

export function parseWith<S extends z.ZodType>(schema: S, value: unknown, where: 'body' | 'query' | 'path'): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  if (where === 'body' && value === undefined) {
    const message = 'The request body is empty; send a JSON object.';
    throw ApiException.of('VALIDATION_ERROR', message, [{ field: 'body', rule: 'required', message }]);
  }
  throw validationError(result.error, where);
}
