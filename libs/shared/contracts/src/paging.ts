import { z } from 'zod';

/** List routes take `limit` (capped, never refused) and `offset`. */
export const MAX_PAGE_SIZE = 200;
export const DEFAULT_PAGE_SIZE = 100;
export const PageQuerySchema = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .default(DEFAULT_PAGE_SIZE)
    .transform((n) => Math.min(n, MAX_PAGE_SIZE)),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});
export type PageQuery = z.infer<typeof PageQuerySchema>;
