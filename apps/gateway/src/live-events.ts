import type { MessagingNames, NatsConnection } from '@volt/messaging';

export interface LiveEvent {
  type: string;
  tenantId: string | null;
  data: Record<string, unknown>;
}

/**
 * Follows events as the relay publishes them (core NATS: every gateway instance gets
 * each one), for in-memory state that must drop what they change. Anything published
 * while the connection was down is missed, so `onGap` runs on every disconnect and
 * reconnect, and for a message that cannot be read: the caller forgets everything.
 * Returns a function that stops following.
 */
export async function followEvents(
  nc: NatsConnection,
  names: MessagingNames,
  events: Array<[context: string, type: string]>,
  onEvent: (event: LiveEvent) => void,
  onGap: () => void,
): Promise<() => void> {
  const subscriptions = events.map(([context, type]) =>
    nc.subscribe(names.eventSubject(context, type), {
      callback: (error, msg) => {
        if (error) return;
        let event: LiveEvent;
        try {
          event = msg.json<LiveEvent>();
        } catch {
          return onGap();
        }
        onEvent(event);
      },
    }),
  );
  await nc.flush();
  let stopped = false;
  void (async () => {
    for await (const status of nc.status()) {
      if (stopped) return;
      if (status.type === 'reconnect' || status.type === 'disconnect') onGap();
    }
  })();
  return () => {
    stopped = true;
    for (const s of subscriptions) s.unsubscribe();
  };
}
