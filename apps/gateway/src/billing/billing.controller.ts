import { Body, Controller, Get, HttpCode, Inject, Post, Query } from '@nestjs/common';
import { PageQuerySchema } from '@volt/contracts';
import { BalanceSchema, RedeemVoucherBodySchema, TransactionListSchema, VoucherRedeemedSchema } from '@volt/ledger-contracts';
import { balanceOf, transactionsOf } from '@volt/ledger-infra';
import { RUNTIME, type VoltRuntime } from '@volt/platform';
import { sendCommand } from '../commands';
import { Access } from '../http/access';
import { parseWith } from '../http/api-error';
import { CurrentCaller, type Caller } from '../http/caller';
import { ApiDoc } from '../openapi/api-doc';

/** The organization's prepaid balance, its history, and vouchers (seeds 002 and 004). */
@Controller('api/volt')
export class BillingController {
  constructor(@Inject(RUNTIME) private readonly runtime: VoltRuntime) {}

  @Get('balance')
  @ApiDoc({ summary: 'Balance, amount held for running work, what is available, and any arrears (USD)', response: BalanceSchema })
  @Access({ scope: 'billing' })
  async balance(@CurrentCaller() caller: Caller) {
    // A hold placed for a create that has answered, or a credit made a moment ago, shows.
    await this.runtime.catchUps.of('ledger');
    return balanceOf(this.runtime.db, caller.tenantId);
  }

  @Get('billing/transactions')
  @ApiDoc({ summary: 'Credits, vouchers and charges, newest first', query: PageQuerySchema, response: TransactionListSchema })
  @Access({ scope: 'billing' })
  async transactions(@CurrentCaller() caller: Caller, @Query() query: unknown) {
    const page = parseWith(PageQuerySchema, query, 'query');
    await this.runtime.catchUps.of('ledger');
    return transactionsOf(this.runtime.db, caller.tenantId, page);
  }

  @Post('billing/vouchers/redeem')
  @HttpCode(200)
  @ApiDoc({ summary: 'Redeem a voucher code for credit (once per organization)', body: RedeemVoucherBodySchema, response: VoucherRedeemedSchema })
  @Access({ scope: 'billing' })
  redeem(@CurrentCaller() caller: Caller, @Body() body: unknown) {
    const input = parseWith(RedeemVoucherBodySchema, body, 'body');
    return sendCommand(this.runtime, caller, 'ledger', 'RedeemVoucher', { code: input.code, requestedAt: new Date().toISOString() });
  }
}
