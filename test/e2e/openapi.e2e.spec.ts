import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servedRoutes } from '../../apps/gateway/src/openapi/openapi';
import { startStack, type TestStack } from '../support/stack';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.stop());

/** Served routes outside the API proper: operations and the API's own documentation. */
const OPS = /^\/(health|ready|metrics|openapi\.json|docs)(\/|$)/;

describe('OpenAPI', () => {
  it('describes every route the gateway serves, and the document validates as OpenAPI 3.1', async () => {
    const response = await fetch(`${stack.gateway.url}/openapi.json`);
    expect(response.status).toBe(200);
    const spec: any = await response.json(); // a JSON document, checked against OpenAPI 3.1 below
    await SwaggerParser.validate(structuredClone(spec));

    const documented = Object.entries(spec.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    const served = servedRoutes(stack.gateway.app.getHttpAdapter().getInstance())
      .filter((r) => !/^(HEAD|OPTIONS) /.test(r) && !OPS.test(r.split(' ')[1]))
      .map((r) => r.replace(/:([A-Za-z_]+)/g, '{$1}'))
      .sort();
    expect(served.length).toBeGreaterThanOrEqual(24);
    expect(served).toEqual(documented);
  });

  it('takes its request and response schemas from the zod contracts', async () => {
    const spec: any = await (await fetch(`${stack.gateway.url}/openapi.json`)).json();
    const create = spec.paths['/api/volt/api-keys'].post;
    expect(create.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/CreateApiKeyRequest' });
    expect(spec.components.schemas.CreateApiKeyRequest.additionalProperties).toBe(false);
    expect(create.responses['201'].headers).toHaveProperty('X-RateLimit-Remaining');
    expect(spec.components.schemas.ApiError.required).toEqual(['error', 'status', 'message', 'code']);
  });

  it('serves Swagger UI at /docs without a key', async () => {
    const page = await fetch(`${stack.gateway.url}/docs`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('swagger-ui-bundle.js');
    expect((await fetch(`${stack.gateway.url}/docs/swagger-ui-bundle.js`)).status).toBe(200);
    expect((await fetch(`${stack.gateway.url}/docs/package.json`)).status).toBe(404);
  });
});
