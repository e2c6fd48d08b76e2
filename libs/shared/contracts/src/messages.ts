import { z } from 'zod';

/**
 * One definition per message type: its name, owning context, schema version and
 * payload schema. The same object gives the TypeScript type, the runtime check and
 * the exported JSON Schema.
 */
export interface MessageDefinition<TType extends string = string, TSchema extends z.ZodType = z.ZodType> {
  kind: 'event' | 'command';
  context: string;
  type: TType;
  schemaVersion: number;
  schema: TSchema;
}

function define(kind: MessageDefinition['kind']) {
  return <TType extends string, TSchema extends z.ZodType>(
    context: string,
    type: TType,
    schema: TSchema,
    schemaVersion = 1,
  ): MessageDefinition<TType, TSchema> => ({ kind, context, type, schemaVersion, schema });
}

/** An event: a fact, past tense, owned by `context`, published on volt.evt.<context>.<type>. */
export const defineEvent = define('event');
/** A command: an intent for `context`, sent on volt.cmd.<context>.<type>. */
export const defineCommand = define('command');

/** `{ type, data }` for a definition: the shape deciders produce and consume. */
export type MessageOf<D> = D extends MessageDefinition<infer T, infer S> ? { type: T; data: z.infer<S> } : never;
