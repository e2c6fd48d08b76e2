import { z } from 'zod';

/** W3C trace context, carried with every message so one trace spans HTTP, NATS and SQL. */
export const TraceContextSchema = z
  .object({ traceparent: z.string().optional(), tracestate: z.string().optional() })
  .meta({ id: 'TraceContext' });
export type TraceContext = z.infer<typeof TraceContextSchema>;

/** Who caused a message: an API key, a user, or Volt itself. */
export const ActorSchema = z
  .object({ type: z.enum(['api_key', 'user', 'system']), id: z.string().min(1) })
  .meta({ id: 'Actor' });
export type Actor = z.infer<typeof ActorSchema>;

/** What every message carries besides its payload. */
export const MessageMetadataSchema = z.object({
  tenantId: z.string().min(1).nullable(),
  correlationId: z.string().min(1),
  causationId: z.string().min(1).nullable(),
  actor: ActorSchema,
  trace: TraceContextSchema.optional(),
});
export type MessageMetadata = z.infer<typeof MessageMetadataSchema>;

/**
 * A stored event as readers see it. `position` is the global position; the global
 * order is (transactionId, position), which is what readers resume by.
 */
export const EventEnvelopeSchema = MessageMetadataSchema.extend({
  id: z.uuid(),
  type: z.string().min(1),
  schemaVersion: z.number().int().positive(),
  streamId: z.string().min(1),
  streamVersion: z.number().int().positive(),
  position: z.string().regex(/^\d+$/),
  transactionId: z.string().regex(/^\d+$/),
  occurredAt: z.iso.datetime({ offset: true }),
  data: z.unknown(),
}).meta({ id: 'EventEnvelope' });
export type EventEnvelope<T = unknown> = Omit<z.infer<typeof EventEnvelopeSchema>, 'data'> & { data: T };

/** A command as it travels over JetStream. `id` doubles as the Nats-Msg-Id. */
export const CommandEnvelopeSchema = MessageMetadataSchema.extend({
  id: z.string().min(1).max(128),
  type: z.string().min(1),
  schemaVersion: z.number().int().positive(),
  issuedAt: z.iso.datetime({ offset: true }),
  data: z.unknown(),
}).meta({ id: 'CommandEnvelope' });
export type CommandEnvelope<T = unknown> = Omit<z.infer<typeof CommandEnvelopeSchema>, 'data'> & { data: T };

/** A global-order checkpoint: readers resume strictly after it. */
export interface GlobalCheckpoint {
  transactionId: string;
  position: string;
}
export const START_OF_STORE: GlobalCheckpoint = { transactionId: '0', position: '0' };
