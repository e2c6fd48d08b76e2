import { Controller, Get, Inject, Query } from '@nestjs/common';
import { CostQuerySchema, CostSummarySchema, UsageListSchema, UsageQuerySchema } from '@volt/billing-contracts';
import { costSummary, podCost, usageOf } from '@volt/billing-infra';
import { RUNTIME, type VoltRuntime } from '@volt/platform';
import { Access } from '../http/access';
import { ApiException, parseWith } from '../http/api-error';
import { CurrentCaller, type Caller } from '../http/caller';
import { ApiDoc } from '../openapi/api-doc';

const DAY_MS = 86_400_000;
const dayStart = (d: string) => new Date(`${d}T00:00:00.000Z`);
const monthStart = (now: Date) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));

/** The days from `start` through `end` (each YYYY-MM-DD, in UTC), by their query names: refused when they run backwards. */
function range(dates: Record<string, string | undefined>, [startName, endName]: [string, string], defaultFrom: Date): { from: Date; to: Date } {
  const start = dates[startName];
  const end = dates[endName];
  const from = start ? dayStart(start) : defaultFrom;
  const to = end ? new Date(dayStart(end).getTime() + DAY_MS) : new Date();
  if (to <= from) {
    throw ApiException.of('VALIDATION_ERROR', `${endName} must not be before ${startName}.`, [{ field: end ? endName : startName, rule: 'after_start', message: end ? `before ${startName}` : 'in the future' }]);
  }
  return { from, to };
}

/** Usage and costs from billing's meters (seed 003's cost summaries; /v1/usage). */
@Controller()
export class UsageController {
  constructor(@Inject(RUNTIME) private readonly runtime: VoltRuntime) {}

  /** A pod that stopped or started a moment ago shows in its meters (billing keeps them). */
  private metersCaughtUp() {
    return this.runtime.catchUps.of('billing');
  }

  @Get('api/volt/costs')
  @ApiDoc({ summary: 'Cost summary by provider and GPU type (or one pod with session_id), optionally per day or month', query: CostQuerySchema, response: CostSummarySchema })
  @Access({ scope: 'billing' })
  async costs(@CurrentCaller() caller: Caller, @Query() query: unknown) {
    const q = parseWith(CostQuerySchema, query, 'query');
    if (q.session_id) {
      await this.metersCaughtUp();
      return podCost(this.runtime.db, caller.tenantId, q.session_id);
    }
    const { from, to } = range(q, ['start_date', 'end_date'], monthStart(new Date()));
    await this.metersCaughtUp();
    return costSummary(this.runtime.db, caller.tenantId, from, to, q.period);
  }

  @Get('api/volt/costs/monthly')
  @ApiDoc({ summary: 'This month’s cost summary so far', response: CostSummarySchema })
  @Access({ scope: 'billing' })
  async monthly(@CurrentCaller() caller: Caller) {
    await this.metersCaughtUp();
    return costSummary(this.runtime.db, caller.tenantId, monthStart(new Date()), new Date());
  }

  @Get('v1/usage')
  @ApiDoc({ summary: 'GPU-seconds, storage seconds and cost per day and pod', query: UsageQuerySchema, response: UsageListSchema })
  @Access({ scope: 'billing' })
  async usage(@CurrentCaller() caller: Caller, @Query() query: unknown) {
    const q = parseWith(UsageQuerySchema, query, 'query');
    const { from, to } = range(q, ['from', 'to'], new Date(Date.now() - 30 * DAY_MS));
    await this.metersCaughtUp();
    return usageOf(this.runtime.db, caller.tenantId, from, to);
  }
}
