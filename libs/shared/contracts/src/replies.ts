import { z } from 'zod';
import { DomainErrorSchema } from './errors';

/** What a command handler answers over NATS. */
export const CommandReplySchema = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    result: z.unknown(),
    checkpoint: z.object({ transactionId: z.string(), position: z.string() }).nullable().optional(),
  }),
  // A refusal can still have recorded something (a pod that failed): its checkpoint lets the caller read it.
  z.object({ ok: z.literal(false), error: DomainErrorSchema, checkpoint: z.object({ transactionId: z.string(), position: z.string() }).nullable().optional() }),
]);
export type CommandReply<T = unknown> =
  | { ok: true; result: T; checkpoint?: { transactionId: string; position: string } | null }
  | { ok: false; error: z.infer<typeof DomainErrorSchema>; checkpoint?: { transactionId: string; position: string } | null };
