import { type DynamicModule, type INestApplication, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Migration } from 'kysely/migration';
import { z } from 'zod';
import type { ApiErrorBody } from '@volt/contracts';
import { JetStreamTransport } from '@volt/messaging';
import type { Projection } from '@volt/projections';
import { httpTracingPlugin, tracingEnabled, type Logger } from '@volt/telemetry';
import { parseConfig, ServiceConfigSchema } from './config';
import { VoltRuntime } from './runtime';
import { ServiceExceptionFilter } from './service-errors';

export const MAX_BODY_BYTES = 1024 * 1024;
/** Longest path segment (every one of ours is an id) the router matches. */
const MAX_PARAM_LENGTH = 200;

/**
 * What Fastify answers itself, before any route or hook, in the API's error body (seed 000's
 * shape) instead of Fastify's own: a path that is not valid percent-encoding, and a path segment
 * longer than any id of ours (so nothing is there to find).
 */
function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const body: ApiErrorBody =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? { error: true, status: 404, message: `Not found: a path segment is longer than ${MAX_PARAM_LENGTH} characters.`, code: 'NOT_FOUND' }
      : { error: true, status: 400, message: 'The request path is not a valid URL (malformed percent-encoding).', code: 'VALIDATION_ERROR' };
  void reply.status(body.status).header('content-type', 'application/json; charset=utf-8').send(body);
}

export interface ServiceDefinition {
  service: string;
  defaultPort: number;
  migrations: Record<string, Migration>[];
  /** The app's root module, given the runtime it wires into its providers. */
  module: (runtime: VoltRuntime) => DynamicModule;
  projections?: Projection[];
  /** Serve @MessagePattern / @EventPattern handlers over JetStream. */
  transport?: boolean;
  relay?: boolean;
  /** Work to finish before the service reports ready (seeding, warming caches); runs after the runtime started. */
  onStart?: (runtime: VoltRuntime, app: NestFastifyApplication) => Promise<void>;
  /** Undo onStart's background work at shutdown. */
  onStop?: (runtime: VoltRuntime) => Promise<void>;
  /** Last touches on the HTTP app (error handlers, hooks) before it listens. */
  configure?: (app: NestFastifyApplication, runtime: VoltRuntime) => void | Promise<void>;
}

export interface RunningService {
  app: INestApplication;
  runtime: VoltRuntime;
  url: string;
  stop(): Promise<void>;
}

class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, context?: string) {
    this.logger.debug({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string) {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string) {
    this.logger.warn({ context }, String(message));
  }
}

/**
 * Boots a Volt service: parses its environment, migrates, connects PostgreSQL and
 * NATS, serves HTTP (ops endpoints included) and, if asked, its JetStream handlers.
 * /ready answers 503 until everything has started.
 */
export async function startService(definition: ServiceDefinition, env: NodeJS.ProcessEnv = process.env): Promise<RunningService> {
  const config = parseConfig(
    ServiceConfigSchema.extend({
      PORT: z.coerce.number().int().min(0).max(65535).default(definition.defaultPort),
      HOST: z.string().default('127.0.0.1'),
    }),
    env,
  );
  const runtime = await VoltRuntime.create({
    service: definition.service,
    config,
    migrations: definition.migrations,
    projections: definition.projections,
    relay: definition.relay,
  });
  // No Nest middleware anywhere (the pipeline is Fastify hooks), so no middie: its onRequest
  // hook cost an eighth of the gateway's CPU per request.
  const adapter = new FastifyAdapter({
    bodyLimit: MAX_BODY_BYTES,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors,
    return503OnClosing: true,
    skipMiddie: true,
  });
  const app = await NestFactory.create<NestFastifyApplication>(definition.module(runtime), adapter, {
    logger: new PinoNestLogger(runtime.logger),
    abortOnError: false,
  });
  if (tracingEnabled()) await app.register(httpTracingPlugin() as never);
  app.useGlobalFilters(new ServiceExceptionFilter(runtime.logger));
  await definition.configure?.(app, runtime);
  await app.listen(config.PORT, config.HOST);
  if (definition.transport) {
    app.connectMicroservice({ strategy: new JetStreamTransport({ nc: runtime.nc, names: runtime.names, service: definition.service, logger: runtime.logger, commandConcurrency: config.VOLT_COMMAND_CONCURRENCY, maxDeliveries: config.VOLT_MAX_DELIVERIES, streams: { replicas: config.VOLT_NATS_REPLICAS } }) });
    await app.startAllMicroservices();
  }
  await runtime.start();
  await definition.onStart?.(runtime, app);
  runtime.ready = true;
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  const url = `http://${config.HOST}:${port}`;
  runtime.logger.info({ url }, `${definition.service} ready`);
  return {
    app,
    runtime,
    url,
    async stop() {
      runtime.ready = false;
      await app.close();
      await definition.onStop?.(runtime);
      await runtime.stop();
    },
  };
}

/** For main.ts: start, and stop cleanly on SIGINT/SIGTERM. */
export function runService(definition: ServiceDefinition): void {
  startService(definition).then(
    (running) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        running.runtime.logger.info({ signal }, 'stopping');
        running.stop().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    },
    (error) => {
      console.error(`${definition.service} failed to start: ${(error as Error).message}`);
      process.exit(1);
    },
  );
}
