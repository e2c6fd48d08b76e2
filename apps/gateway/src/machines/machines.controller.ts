import { Controller, Get, Inject, Query } from '@nestjs/common';
import { RUNTIME, type VoltRuntime } from '@volt/platform';
import { MachineListSchema, MachineQuerySchema, ProviderListSchema } from '@volt/pods-contracts';
import { listProviders, queryMachines } from '@volt/pods-infra';
import { Access } from '../http/access';
import { parseWith } from '../http/api-error';
import { ApiDoc } from '../openapi/api-doc';

/** Seed 000's machine catalogue with the filters of seeds 002/003, and the configured providers. */
@Controller('api/volt')
export class MachinesController {
  constructor(@Inject(RUNTIME) private readonly runtime: VoltRuntime) {}

  @Get('machines')
  @ApiDoc({ summary: 'Available GPU machines with live pricing, filtered and sorted', query: MachineQuerySchema, response: MachineListSchema })
  @Access({ scope: 'machines' })
  list(@Query() query: unknown) {
    return queryMachines(this.runtime.db, parseWith(MachineQuerySchema, query, 'query'));
  }

  @Get('providers')
  @ApiDoc({ summary: 'The GPU providers Volt rents from, and whether each answers', response: ProviderListSchema })
  @Access({ scope: 'machines' })
  async providers() {
    const providers = await listProviders(this.runtime.db);
    return { providers, total: providers.length };
  }
}
