import { Controller, Get, Inject, Query } from '@nestjs/common';
import { RUNTIME, type VoltRuntime } from '@volt/platform';
import { AuditPageSchema, AuditQuerySchema } from '@volt/identity-contracts';
import { queryAuditLog } from '@volt/identity-infra';
import { Access } from '../http/access';
import { parseWith } from '../http/api-error';
import { CurrentCaller, type Caller } from '../http/caller';
import { ApiDoc } from '../openapi/api-doc';

/** The organization's request audit log, newest first, for its admins. */
@Controller('v1/audit')
export class AuditController {
  constructor(@Inject(RUNTIME) private readonly runtime: VoltRuntime) {}

  @Get()
  @ApiDoc({ summary: 'The request audit log, newest first', query: AuditQuerySchema, response: AuditPageSchema })
  @Access({ scope: 'api-keys', role: 'admin' })
  list(@CurrentCaller() caller: Caller, @Query() query: unknown) {
    return queryAuditLog(this.runtime.db, caller.tenantId, parseWith(AuditQuerySchema, query, 'query'));
  }
}
