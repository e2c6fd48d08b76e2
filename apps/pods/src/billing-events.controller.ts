import { Controller, Inject } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import type { EventEnvelope } from '@volt/contracts';
import { BalanceExhausted } from '@volt/billing-contracts';
import { runningPodsOf, type PodLifecycle } from '@volt/pods-infra';
import { RUNTIME, type VoltRuntime } from '@volt/platform';
import { POD_LIFECYCLE } from './tokens';

/** What the pods context does about billing's news: an organization out of money has its running pods stopped, not deleted. */
@Controller()
export class BillingEventsController {
  constructor(
    @Inject(RUNTIME) private readonly runtime: VoltRuntime,
    @Inject(POD_LIFECYCLE) private readonly pods: PodLifecycle,
  ) {}

  @EventPattern('volt.evt.billing.BalanceExhausted')
  async balanceExhausted(@Payload() event: EventEnvelope) {
    const data = BalanceExhausted.schema.parse(event.data);
    const running = await runningPodsOf(this.runtime.db, data.tenantId);
    // The decision ids derive from the event's: a redelivery stops nothing twice.
    for (const row of running) await this.pods.stopFor(row, 'insufficient_balance', `exhausted-${event.id}`);
    if (running.length > 0) this.runtime.logger.warn({ tenantId: data.tenantId, stopped: running.length }, 'balance exhausted: running pods stopped');
  }
}
