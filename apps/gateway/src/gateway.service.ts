import { z } from 'zod';
import { parseConfig, serviceModule, type ServiceDefinition } from '@volt/platform';
import { allMigrations } from '@volt/schema';
import { ApiExceptionFilter, requireJsonBodies } from './http/error-handling';
import { BOOTSTRAP_KEY_CONFIG } from './http/bootstrap-key.guard';
import { SshKeysController } from './ssh-keys/ssh-keys.controller';

const GatewayConfigSchema = z.object({
  VOLT_BOOTSTRAP_API_KEY: z.string().min(16, 'must be at least 16 characters'),
  VOLT_BOOTSTRAP_ORG_ID: z.string().regex(/^[a-z0-9_-]{1,64}$/).default('org_bootstrap'),
});

export function gatewayService(env: NodeJS.ProcessEnv = process.env): ServiceDefinition {
  const config = parseConfig(GatewayConfigSchema, env);
  return {
    service: 'gateway',
    defaultPort: 8080,
    migrations: allMigrations,
    module: (runtime) =>
      serviceModule(runtime, {
        controllers: [SshKeysController],
        providers: [{ provide: BOOTSTRAP_KEY_CONFIG, useValue: { apiKey: config.VOLT_BOOTSTRAP_API_KEY, tenantId: config.VOLT_BOOTSTRAP_ORG_ID } }],
      }),
    configure(app, runtime) {
      app.useGlobalFilters(new ApiExceptionFilter(runtime.logger));
      requireJsonBodies(app.getHttpAdapter().getInstance());
    },
  };
}
