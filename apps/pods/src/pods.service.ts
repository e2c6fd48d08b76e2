import { serviceModule, type ServiceDefinition } from '@volt/platform';
import { podsProjections, seedSystemTemplates } from '@volt/pods-infra';
import { allMigrations } from '@volt/schema';
import { PodsCommandsController } from './pods.commands.controller';

export const podsService: ServiceDefinition = {
  service: 'pods',
  defaultPort: 8081,
  migrations: allMigrations,
  projections: podsProjections,
  transport: true,
  relay: true,
  module: (runtime) => serviceModule(runtime, { controllers: [PodsCommandsController] }),
  async onStart(runtime) {
    await seedSystemTemplates(runtime.store);
    await runtime.projections.catchUp();
  },
};
