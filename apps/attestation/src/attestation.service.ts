import { serviceModule, type ServiceDefinition } from '@volt/platform';
import { allMigrations } from '@volt/schema';

/** The attestation service. It boots, joins PostgreSQL and NATS and serves its ops endpoints; its domain arrives with its issue. */
export const attestationService: ServiceDefinition = {
  service: 'attestation',
  defaultPort: 8085,
  migrations: allMigrations,
  relay: true,
  module: (runtime) => serviceModule(runtime),
};
