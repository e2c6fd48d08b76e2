import { z } from 'zod';

/**
 * Stable error codes. The domain and the message replies speak in these; only the
 * gateway turns them into HTTP statuses.
 */
export const ErrorCodes = [
  'VALIDATION_ERROR',
  'INVALID_JSON',
  'INVALID_API_KEY',
  'FORBIDDEN',
  'INSUFFICIENT_SCOPE',
  'SYSTEM_TEMPLATE',
  'NOT_FOUND',
  'CONFLICT',
  'IDEMPOTENCY_KEY_IN_USE',
  'IDEMPOTENCY_KEY_REUSED',
  'DUPLICATE_SSH_KEY',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'RATE_LIMIT_EXCEEDED',
  'INSUFFICIENT_BALANCE',
  'PROVIDER_UNAVAILABLE',
  'STALE_INVENTORY',
  'SERVICE_UNAVAILABLE',
  'TIMEOUT',
  'INTERNAL_ERROR',
] as const;
export const ErrorCodeSchema = z.enum(ErrorCodes);
export type ErrorCode = z.infer<typeof ErrorCodeSchema>;

export const ErrorDetailSchema = z.object({
  field: z.string(),
  rule: z.string(),
  message: z.string(),
});
export type ErrorDetail = z.infer<typeof ErrorDetailSchema>;

/** A refusal as a value: what deciders return and what command replies carry. */
export const DomainErrorSchema = z.object({
  code: ErrorCodeSchema,
  message: z.string(),
  details: z.array(ErrorDetailSchema).optional(),
  /** Extra top-level fields of the error body, as a seed shapes them (seed 003's stale_inventory). */
  extra: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});
export type DomainError = z.infer<typeof DomainErrorSchema>;

export function domainError(code: ErrorCode, message: string, details?: ErrorDetail[]): DomainError {
  return details ? { code, message, details } : { code, message };
}

/** Seed 000's error body for everything under /api/volt. */
export const ApiErrorBodySchema = z
  .object({
    error: z.literal(true),
    status: z.number().int(),
    message: z.string(),
    code: ErrorCodeSchema,
    details: z.array(ErrorDetailSchema).optional(),
    error_type: z.string().optional(),
    offer_id: z.string().optional(),
    provider: z.string().optional(),
    retry_suggested: z.boolean().optional(),
    request_id: z.string().optional(),
  })
  .meta({ id: 'ApiError' });
export type ApiErrorBody = z.infer<typeof ApiErrorBodySchema>;
