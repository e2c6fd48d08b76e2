import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { CommandEnvelopeSchema, domainError, type CommandReply } from '@volt/contracts';
import { checkpointOf, uuidFromName } from '@volt/event-store';
import { RedeemVoucher } from '@volt/ledger-contracts';
import { redeemVoucher, type Ledger } from '@volt/ledger-infra';
import { RUNTIME, type VoltRuntime } from '@volt/platform';
import { LEDGER } from './tokens';

/** The ledger service's command handlers; each answers once the balance read models show its effect. */
@Controller()
export class LedgerCommandsController {
  constructor(
    @Inject(RUNTIME) private readonly runtime: VoltRuntime,
    @Inject(LEDGER) private readonly ledger: Ledger,
  ) {}

  @MessagePattern('volt.cmd.ledger.RedeemVoucher')
  async redeem(@Payload() message: unknown): Promise<CommandReply> {
    const envelope = CommandEnvelopeSchema.safeParse(message);
    const data = envelope.success ? RedeemVoucher.schema.safeParse(envelope.data.data) : undefined;
    if (!envelope.success || !data?.success || !envelope.data.tenantId) return { ok: false, error: domainError('VALIDATION_ERROR', 'malformed RedeemVoucher command') };
    const outcome = await redeemVoucher(this.runtime.db, this.ledger, envelope.data.tenantId, data.data.code);
    if (!outcome.ok) return { ok: false, error: domainError(outcome.code, outcome.message) };
    await this.visible(outcome.transferId);
    const text = outcome.duplicate ? 'This voucher was already redeemed for your organization.' : `Voucher redeemed: ${outcome.amount.toFixed(2)} USD added to your balance.`;
    return { ok: true, result: { code: data.data.code.trim().toUpperCase(), amount: outcome.amount, currency: 'USD', message: text } };
  }

  /** Read-your-writes: waits until the read models have applied the transfer's event. */
  private async visible(transferId: string): Promise<void> {
    const [event] = await this.runtime.store.readEvents([uuidFromName(`ledger:${transferId}`)]);
    if (event) {
      this.runtime.relay?.nudge();
      await this.runtime.projections.waitFor(checkpointOf(event));
    }
  }
}
