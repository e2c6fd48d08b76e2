import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Type } from '@nestjs/common';
import { HTTP_CODE_METADATA, METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { RequestMethod } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { z } from 'zod';
import { ApiErrorBodySchema } from '@volt/contracts';
import type { RouteAccess } from '../http/access';
import { API_DOC, type ApiDocSpec } from './api-doc';

type JsonSchema = Record<string, unknown>;

/** Converts a zod schema, moving named parts (`.meta({ id })`) into components. */
function schemaOf(schema: z.ZodType, io: 'input' | 'output', components: Record<string, JsonSchema>): JsonSchema {
  const json = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema & { $defs?: Record<string, JsonSchema> };
  const relink = <T>(value: T): T => JSON.parse(JSON.stringify(value).replaceAll('"#/$defs/', '"#/components/schemas/'));
  const { $schema: _s, $defs, ...rest } = json;
  for (const [id, def] of Object.entries($defs ?? {})) components[id] ??= relink(def);
  return relink(rest);
}

const FASTIFY_ROUTE_CONFIG = '__fastify_route_config__';

const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/ApiError' } } } });
const rateHeaders = {
  'X-RateLimit-Limit': { schema: { type: 'integer' }, description: 'Requests allowed per window for this key' },
  'X-RateLimit-Remaining': { schema: { type: 'integer' }, description: 'Requests left in this window' },
  'X-RateLimit-Reset': { schema: { type: 'string', format: 'date-time' }, description: 'When the window resets' },
};

/** The OpenAPI 3.1 document of the given controllers, from their routes, access rules and zod contracts. */
export function buildOpenApi(controllers: Type[]): JsonSchema {
  const components: Record<string, JsonSchema> = {};
  schemaOf(ApiErrorBodySchema, 'output', components);
  const paths: Record<string, Record<string, unknown>> = {};
  for (const controller of controllers) {
    const base = String(Reflect.getMetadata(PATH_METADATA, controller) ?? '');
    for (const name of Object.getOwnPropertyNames(controller.prototype)) {
      const handler = controller.prototype[name];
      const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
      if (method === undefined || typeof handler !== 'function') continue;
      const doc = Reflect.getMetadata(API_DOC, handler) as ApiDocSpec | undefined;
      const access = (Reflect.getMetadata(FASTIFY_ROUTE_CONFIG, handler) as { access?: RouteAccess } | undefined)?.access;
      if (!doc || !access) throw new Error(`${controller.name}.${name} has no @ApiDoc or @Access`);
      const sub = String(Reflect.getMetadata(PATH_METADATA, handler) ?? '');
      const url = `/${[base, sub].filter((p) => p && p !== '/').join('/')}`.replace(/\/+/g, '/').replace(/:([A-Za-z_]+)/g, '{$1}');
      const verb = RequestMethod[method].toLowerCase();
      const status = String(Reflect.getMetadata(HTTP_CODE_METADATA, handler) ?? (verb === 'post' ? 201 : 200));
      const parameters: unknown[] = [...url.matchAll(/\{([A-Za-z_]+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
      if (doc.query) {
        const query = schemaOf(doc.query, 'input', components) as { properties?: Record<string, JsonSchema>; required?: string[] };
        for (const [param, schema] of Object.entries(query.properties ?? {})) {
          parameters.push({ name: param, in: 'query', required: query.required?.includes(param) ?? false, schema });
        }
      }
      if (['post', 'put', 'delete'].includes(verb)) {
        parameters.push({ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 }, description: 'Replays the first response for 24 hours' });
      }
      paths[url] ??= {};
      paths[url][verb] = {
        summary: doc.summary,
        operationId: `${controller.name.replace(/Controller$/, '')}_${name}`,
        tags: [access.scope],
        description: `Scope: \`${access.scope}\`${access.role ? `; role: ${access.role} or stronger` : ''}.`,
        parameters,
        ...(doc.body ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(doc.body, 'input', components) } } } } : {}),
        responses: {
          [status]: { description: doc.summary, headers: rateHeaders, content: { 'application/json': { schema: schemaOf(doc.response, 'output', components) } } },
          '400': errorResponse('Invalid request; `details` names each offending field'),
          '401': errorResponse('Missing, invalid or revoked API key'),
          '403': errorResponse('The key lacks the scope or role this needs'),
          '404': errorResponse('Not found, or not in your organization'),
          '429': errorResponse('Rate limit exceeded; see Retry-After'),
        },
      };
    }
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Volt API', version: '2.0.0', description: 'The control plane of a GPU cloud. Errors use `{ error, status, message, code }`.' },
    servers: [{ url: '/' }],
    security: [{ apiKey: [] }, { bearer: [] }],
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer volt_sk_live_…' },
      },
    },
  };
}

const SWAGGER_FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'application/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Volt API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"><link rel="icon" href="/docs/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script><script src="/docs/swagger-ui-standalone-preset.js"></script>
<script src="/docs/init.js"></script></body></html>`;
const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: 'StandaloneLayout' });`;

const served = new WeakMap<object, string[]>();

/** Every "METHOD /path" this Fastify instance serves, as its router registered them. */
export function servedRoutes(fastify: object): string[] {
  return served.get(fastify) ?? [];
}

/** Serves /openapi.json and Swagger UI at /docs. */
export async function registerOpenApi(app: NestFastifyApplication, controllers: Type[]): Promise<void> {
  const document = JSON.stringify(buildOpenApi(controllers));
  const fastify = app.getHttpAdapter().getInstance();
  const routes: string[] = [];
  served.set(fastify, routes);
  fastify.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push(`${method} ${route.url}`);
  });
  const dist = path.dirname(require.resolve('swagger-ui-dist/package.json'));
  fastify.get('/openapi.json', (_req, reply) => reply.type('application/json; charset=utf-8').send(document));
  fastify.get('/docs', (_req, reply) => reply.type('text/html; charset=utf-8').send(DOCS_PAGE));
  fastify.get('/docs/init.js', (_req, reply) => reply.type('application/javascript; charset=utf-8').send(DOCS_INIT));
  fastify.get<{ Params: { file: string } }>('/docs/:file', (request, reply) => {
    const type = SWAGGER_FILES[request.params.file];
    if (!type) return reply.code(404).type('application/json; charset=utf-8').send({ error: true, status: 404, message: 'Route not found.', code: 'NOT_FOUND' });
    return reply.type(type).header('cache-control', 'public, max-age=86400').send(readFileSync(path.join(dist, request.params.file)));
  });
}
