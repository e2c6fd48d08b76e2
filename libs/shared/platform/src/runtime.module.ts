import type { DynamicModule, Provider, Type } from '@nestjs/common';
import { OpsController } from './ops.controller';
import type { ServiceDefinition } from './bootstrap';
import { RUNTIME, type VoltRuntime } from './runtime';

/** A service's root module: its controllers plus the ops endpoints, with the runtime injectable. */
export function serviceModule(runtime: VoltRuntime, parts: { controllers?: Type[]; providers?: Provider[] } = {}): DynamicModule {
  class ServiceModule {}
  return {
    module: ServiceModule,
    global: true,
    controllers: [OpsController, ...(parts.controllers ?? [])],
    providers: [{ provide: RUNTIME, useValue: runtime }, ...(parts.providers ?? [])],
    exports: [RUNTIME],
  };
}

/**
 * A service that so far only boots, joins PostgreSQL and NATS, runs a relay candidate and
 * serves its ops endpoints; its domain arrives with its issue.
 */
export function opsOnlyService(service: string, defaultPort: number, migrations: ServiceDefinition['migrations']): ServiceDefinition {
  return { service, defaultPort, migrations, relay: true, module: (runtime) => serviceModule(runtime) };
}
