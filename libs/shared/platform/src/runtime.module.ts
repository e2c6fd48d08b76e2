import type { DynamicModule, Provider, Type } from '@nestjs/common';
import { OpsController } from './ops.controller';
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
