import { serviceModule, type ServiceDefinition } from '@volt/platform';
import { allMigrations } from '@volt/schema';

/** The billing service. It boots, joins PostgreSQL and NATS and serves its ops endpoints; its domain arrives with its issue. */
export const billingService: ServiceDefinition = {
  service: 'billing',
  defaultPort: 8082,
  migrations: allMigrations,
  relay: true,
  module: (runtime) => serviceModule(runtime),
};
