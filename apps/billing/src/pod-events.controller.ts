import { Inject } from '@nestjs/common';
import { EventPattern } from '@nestjs/microservices';
import { MessageHandlers } from '@volt/messaging';

export const SETTLE_SOON = Symbol('SettleSoon');

export interface Settler {
  /** Runs a charging cycle shortly. */
  soon(): void;
}

/**
 * A pod that stops or ends is settled now, not at the next cycle: its closed meter is charged to
 * its end by a cycle run a moment after the news (the cycle's windows and ids are the same
 * whenever it runs, so an extra run charges nothing twice).
 */
@MessageHandlers()
export class PodEventsController {
  constructor(@Inject(SETTLE_SOON) private readonly settler: Settler) {}

  @EventPattern(['volt.evt.pods.PodStopRequested', 'volt.evt.pods.PodDeleteRequested', 'volt.evt.pods.PodFailed', 'volt.evt.pods.PodTerminatedByProvider'])
  podEnded(_event: unknown) {
    this.settler.soon();
  }
}
