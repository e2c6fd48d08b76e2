import { z } from 'zod';
import { MAX_PAGE_SIZE } from '@volt/contracts';

/** GET /v1/audit: newest first; `cursor` is the `next_cursor` of the previous page. */
export const AuditQuerySchema = z.strictObject({
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  actor: z.string().max(100).optional(),
  route: z.string().max(200).optional(),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .default(50)
    .transform((n) => Math.min(n, MAX_PAGE_SIZE)),
  cursor: z.string().regex(/^[0-9]{1,19}$/).optional(),
});
export type AuditQuery = z.infer<typeof AuditQuerySchema>;

export const AuditEntrySchema = z
  .object({
    id: z.string(),
    org_id: z.string(),
    actor: z.object({ type: z.string(), id: z.string() }),
    method: z.string(),
    route: z.string(),
    resource_id: z.string().nullable(),
    status: z.number().int(),
    request_id: z.string(),
    trace_id: z.string().nullable(),
    client_ip: z.string().nullable(),
    occurred_at: z.string(),
  })
  .meta({ id: 'AuditEntry' });
export type AuditEntry = z.infer<typeof AuditEntrySchema>;
export const AuditPageSchema = z
  .object({ entries: z.array(AuditEntrySchema), next_cursor: z.string().nullable() })
  .meta({ id: 'AuditPage' });
