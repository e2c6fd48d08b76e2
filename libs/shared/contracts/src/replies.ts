import { z } from 'zod';
import { DomainErrorSchema } from './errors';

/** What a command handler answers over NATS. */
export const CommandReplySchema = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    result: z.unknown(),
    checkpoint: z.object({ transactionId: z.string(), position: z.string() }).nullable().optional(),
  }),
  z.object({ ok: z.literal(false), error: DomainErrorSchema }),
]);
export type CommandReply<T = unknown> =
  | { ok: true; result: T; checkpoint?: { transactionId: string; position: string } | null }
  | { ok: false; error: z.infer<typeof DomainErrorSchema> };
