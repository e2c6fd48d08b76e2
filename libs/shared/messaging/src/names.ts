/**
 * Subject and stream names, with an optional prefix so that tests (and several
 * deployments sharing one NATS) never see each other's messages.
 */
export interface MessagingNames {
  prefix: string;
  commandStream: string;
  eventStream: string;
  /** Where messages that failed every delivery are set aside for an operator (see dead-letters.ts). */
  deadLetterStream: string;
  commandSubject(context: string, type: string): string;
  commandFilter(context: string): string;
  eventSubject(context: string, type: string): string;
  replySubject(instance: string, commandId: string): string;
  replyFilter(instance: string): string;
  /** Where a service's instances answer requests to catch their read models up (core NATS, no stream). */
  catchUpSubject(service: string): string;
  /** Where every process says it appended something (core NATS, no stream; see AppendSignal). */
  appendedSubject: string;
  /** A dead letter's subject: `volt.dead.cmd.pods.CreatePod` for a `volt.cmd.pods.CreatePod` that failed. */
  deadLetterSubject(pattern: string): string;
  /** The subject of a pattern as handlers know it (`pattern`'s inverse: the prefix added). */
  subject(pattern: string): string;
  /** The subject as handlers know it (`volt.evt.pods.SshKeyAdded`), without the prefix. */
  pattern(subject: string): string;
}

export function messagingNames(prefix = ''): MessagingNames {
  if (prefix && !/^[A-Za-z0-9_-]+$/.test(prefix)) throw new Error(`invalid messaging prefix: ${prefix}`);
  const p = prefix ? `${prefix}.` : '';
  const s = prefix ? `${prefix}_` : '';
  return {
    prefix,
    commandStream: `${s}VOLT_COMMANDS`,
    eventStream: `${s}VOLT_EVENTS`,
    deadLetterStream: `${s}VOLT_DEAD_LETTERS`,
    commandSubject: (context, type) => `${p}volt.cmd.${context}.${type}`,
    commandFilter: (context) => `${p}volt.cmd.${context}.>`,
    eventSubject: (context, type) => `${p}volt.evt.${context}.${type}`,
    replySubject: (instance, commandId) => `${p}volt.reply.${instance}.${commandId}`,
    replyFilter: (instance) => `${p}volt.reply.${instance}.*`,
    catchUpSubject: (service) => `${p}volt.catchup.${service}`,
    appendedSubject: `${p}volt.appended`,
    deadLetterSubject: (pattern) => `${p}volt.dead.${pattern.replace(/^volt\./, '')}`,
    subject: (pattern) => `${p}${pattern}`,
    pattern: (subject) => (p && subject.startsWith(p) ? subject.slice(p.length) : subject),
  };
}

/** Header names on Volt's messages: JetStream's message id, W3C trace context and Volt's own. */
export const Headers = {
  /** JetStream's: a message's id, the key of its stream's duplicate window. */
  messageId: 'Nats-Msg-Id',
  replyTo: 'Volt-Reply-To',
  eventId: 'Volt-Event-Id',
  position: 'Volt-Position',
  transactionId: 'Volt-Transaction-Id',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  /** On a dead letter: the subject, durable consumer and stream sequence it failed on, how often, and why. */
  deadSubject: 'Volt-Dead-Subject',
  deadConsumer: 'Volt-Dead-Consumer',
  deadSequence: 'Volt-Dead-Sequence',
  deadDeliveries: 'Volt-Dead-Deliveries',
  deadError: 'Volt-Dead-Error',
  deadAt: 'Volt-Dead-At',
  deadMessageId: 'Volt-Dead-Message-Id',
  /** On a redriven message: the one durable consumer that should handle it (the others acknowledge it unseen). */
  redriveFor: 'Volt-Redrive-For',
} as const;

/** Stream ids are `<context>:<rest>`; the context names the event's subject. */
export function contextOfStream(streamId: string): string {
  const i = streamId.indexOf(':');
  return i > 0 ? streamId.slice(0, i) : 'unknown';
}
