import { serviceModule, type ServiceDefinition } from '@volt/platform';
import { allMigrations } from '@volt/schema';

/** The ledger service. It boots, joins PostgreSQL and NATS and serves its ops endpoints; its domain arrives with its issue. */
export const ledgerService: ServiceDefinition = {
  service: 'ledger',
  defaultPort: 8083,
  migrations: allMigrations,
  relay: true,
  module: (runtime) => serviceModule(runtime),
};
