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

/** Turns an event's data at one schema version into the next version's data. */
export type Upcaster = (data: any) => unknown;

/** Event types written at a schema version above 1: that version and how to reach it from each older one. */
const upcastable = new Map<string, { context: string; version: number; upcasters: Readonly<Record<number, Upcaster>> }>();

function define(kind: MessageDefinition['kind']) {
  return <TType extends string, TSchema extends z.ZodType>(
    context: string,
    type: TType,
    schema: TSchema,
    schemaVersion = 1,
    upcasters: Readonly<Record<number, Upcaster>> = {},
  ): MessageDefinition<TType, TSchema> => {
    if (kind === 'event' && schemaVersion > 1) {
      for (let v = 1; v < schemaVersion; v++) if (!upcasters[v]) throw new Error(`${context}.${type} v${schemaVersion} needs an upcaster from v${v}`);
      const known = upcastable.get(type);
      if (known && (known.context !== context || known.version !== schemaVersion)) throw new Error(`${type} is defined twice (${known.context} v${known.version}, ${context} v${schemaVersion})`);
      upcastable.set(type, { context, version: schemaVersion, upcasters });
    }
    return { kind, context, type, schemaVersion, schema };
  };
}

/** An event: a fact, past tense, owned by `context`, published on volt.evt.<context>.<type>. */
export const defineEvent = define('event');
/** A command: an intent for `context`, sent on volt.cmd.<context>.<type>. */
export const defineCommand = define('command');

/** The schema version new events of `type` are written at: its definition's (1 when it has no later one). */
export function currentSchemaVersion(type: string): number {
  return upcastable.get(type)?.version ?? 1;
}

/** Whether any event type has a schema version above 1 (readers skip the lookup while none has). */
export const anyUpcasters = (): boolean => upcastable.size > 0;

/**
 * An event's data stored at `schemaVersion`, brought to its type's current version through each
 * upcaster in turn. A stored event is never rewritten: it is read as the current version.
 */
export function upcast(type: string, schemaVersion: number, data: unknown): { schemaVersion: number; data: unknown } {
  const known = upcastable.get(type);
  if (!known || schemaVersion >= known.version) return { schemaVersion, data };
  let upcasted = data;
  for (let v = schemaVersion; v < known.version; v++) upcasted = known.upcasters[v](upcasted);
  return { schemaVersion: known.version, data: upcasted };
}

/** `{ type, data }` for a definition: the shape deciders produce and consume. */
export type MessageOf<D> = D extends MessageDefinition<infer T, infer S> ? { type: T; data: z.infer<S> } : never;
