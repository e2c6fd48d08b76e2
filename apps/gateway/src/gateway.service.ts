import { serviceModule, type ServiceDefinition, type VoltRuntime } from '@volt/platform';
import { AuditLog, IdempotencyStore, RateLimiter, identityProjections, recordKeyUsage } from '@volt/identity-infra';
import { allMigrations } from '@volt/schema';
import { ApiKeysController } from './api-keys/api-keys.controller';
import { ApiKeysService, IdentityCommands } from './api-keys/api-keys.service';
import { AuditController } from './audit/audit.controller';
import { BillingController } from './billing/billing.controller';
import { UsageController } from './billing/usage.controller';
import { Authenticator } from './auth/authenticator';
import { DockerCredentialsController } from './docker-credentials/docker-credentials.controller';
import { GATEWAY_LIMITS, parseGatewayConfig, SECRETS_KEYRING } from './gateway.config';
import { ApiExceptionFilter } from './http/error-handling';
import { registerJsonBody } from './http/json-body';
import { registerReadRetry } from './http/retry-reads';
import { registerPipeline } from './http/pipeline';
import { registerOpenApi } from './openapi/openapi';
import { ReadCache, serializeReply } from './read-cache';
import { MachinesController } from './machines/machines.controller';
import { OrgsController } from './orgs/orgs.controller';
import { PodsController } from './pods/pods.controller';
import { SshKeysController } from './ssh-keys/ssh-keys.controller';
import { TemplatesController } from './templates/templates.controller';

export const gatewayControllers = [ApiKeysController, OrgsController, AuditController, SshKeysController, TemplatesController, DockerCredentialsController, PodsController, MachinesController, BillingController, UsageController];

/** How often this instance writes the keys' last-used times, and prunes expired limits and idempotency records. */
const USAGE_FLUSH_MS = 5_000;
const PRUNE_MS = 10 * 60_000;

export function gatewayService(env: NodeJS.ProcessEnv = process.env): ServiceDefinition {
  const config = parseGatewayConfig(env);
  let auth: Authenticator | undefined;
  const cache = new ReadCache();
  let audit: AuditLog | undefined;
  const timers: NodeJS.Timeout[] = [];

  const background = (runtime: VoltRuntime, limiter: RateLimiter, idempotency: IdempotencyStore) => {
    const flushUsage = () => recordKeyUsage(runtime.db, auth!.drainUsage()).catch((error) => runtime.logger.warn({ err: error }, 'could not record key usage'));
    timers.push(setInterval(flushUsage, USAGE_FLUSH_MS).unref());
    timers.push(
      setInterval(() => {
        Promise.all([limiter.prune(), idempotency.prune()]).catch((error) => runtime.logger.warn({ err: error }, 'prune failed'));
      }, PRUNE_MS).unref(),
    );
    return flushUsage;
  };
  let flushUsage: (() => Promise<void>) | undefined;

  return {
    service: 'gateway',
    defaultPort: 8080,
    migrations: allMigrations,
    projections: identityProjections,
    relay: true,
    module: (runtime) => {
      auth = new Authenticator(runtime.db, () => runtime.projections.waitForHead(2_000));
      return serviceModule(runtime, {
        controllers: gatewayControllers,
        providers: [
          { provide: GATEWAY_LIMITS, useValue: config.limits },
          { provide: SECRETS_KEYRING, useValue: config.keyring },
          { provide: Authenticator, useValue: auth },
          { provide: ReadCache, useValue: cache },
          IdentityCommands,
          ApiKeysService,
        ],
      });
    },
    async configure(app, runtime) {
      const fastify = app.getHttpAdapter().getInstance();
      fastify.setReplySerializer(serializeReply);
      const limiter = new RateLimiter(runtime.db);
      const idempotency = new IdempotencyStore(runtime.db);
      audit = new AuditLog(runtime.db, (error) => runtime.logger.error({ err: error }, 'audit batch failed'));
      app.useGlobalFilters(new ApiExceptionFilter(runtime.logger));
      registerReadRetry(fastify);
      registerJsonBody(app);
      registerPipeline(fastify, { auth: auth!, limiter, idempotency, audit, limits: config.limits, logger: runtime.logger, keyring: config.keyring });
      await registerOpenApi(app, gatewayControllers);
      flushUsage = background(runtime, limiter, idempotency);
    },
    async onStart(runtime) {
      await auth!.listen(runtime.nc, runtime.names);
      await cache.listen(runtime.nc, runtime.names);
    },
    async onStop() {
      for (const t of timers) clearInterval(t);
      auth?.close();
      cache.close();
      await audit?.flush();
      await flushUsage?.();
    },
  };
}
