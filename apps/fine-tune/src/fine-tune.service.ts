import { serviceModule, type ServiceDefinition } from '@volt/platform';
import { allMigrations } from '@volt/schema';

/** The fine-tune service. It boots, joins PostgreSQL and NATS and serves its ops endpoints; its domain arrives with its issue. */
export const fineTuneService: ServiceDefinition = {
  service: 'fine-tune',
  defaultPort: 8084,
  migrations: allMigrations,
  relay: true,
  module: (runtime) => serviceModule(runtime),
};
