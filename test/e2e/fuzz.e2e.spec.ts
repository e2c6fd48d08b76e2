import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES, createFixture, fill, idsOf, type OrgFixture } from '../support/routes';
import { startStack, type TestStack } from '../support/stack';

let stack: TestStack;
let org: OrgFixture;

beforeAll(async () => {
  stack = await startStack({ env: { VOLT_RATE_LIMIT_PER_HOUR: '100000' } });
  org = await createFixture(stack, { orgId: stack.orgId, apiKey: stack.apiKey });
});
afterAll(() => stack?.stop());

const writeRoutes = ROUTES.filter((r) => (r.method === 'POST' || r.method === 'PUT') && r.body !== undefined);

/** A value of the wrong type for any field. */
const wrong = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string()), fc.object(), fc.string({ maxLength: 5 }));
const hostile = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.constantFrom('../../etc/passwd', "'; DROP TABLE es_events; --", '\u0000', '${jndi:ldap://x}', '<script>', '%00', '\uFFFF', '\ud800', 'x\udc00y'),
  fc.string({ minLength: 5000, maxLength: 20000 }),
);

function bodies(valid: Record<string, unknown>) {
  const keys = Object.keys(valid);
  return fc.oneof(
    fc.anything({ maxDepth: 6 }),
    // A valid body with each field swapped for a wrong type or a hostile string.
    fc.record(Object.fromEntries(keys.map((k) => [k, fc.oneof(wrong, hostile, fc.constant(valid[k]))]))),
    // Extra fields beside valid ones.
    fc.dictionary(fc.string({ maxLength: 20 }), fc.anything({ maxDepth: 3 })).map((extra) => ({ ...valid, ...extra })),
    // Deep nesting inside a field.
    fc.integer({ min: 50, max: 3000 }).map((depth) => ({ ...valid, [keys[0] ?? 'x']: JSON.parse('['.repeat(depth) + ']'.repeat(depth)) })),
  );
}

describe('property-based fuzzing of every POST and PUT route: no 5xx', () => {
  it.each(writeRoutes.map((r) => [`${r.method} ${r.path}`, r] as const))('%s', async (_name, route) => {
    const path = fill(route.path, idsOf(org));
    const valid = fill(route.body, idsOf(org)) as Record<string, unknown>;
    await fc.assert(
      fc.asyncProperty(bodies(valid), async (body) => {
        const r = await stack.call(route.method, path, { body });
        expect(r.status, JSON.stringify(r.body)).toBeLessThan(500);
        if (r.status < 400) return;
        expect(r.body).toMatchObject({ error: true, status: r.status, code: expect.any(String), message: expect.any(String) });
        // No stack, SQL or internal name in an error, unless the client sent it to us.
        const leak = /at .*\.(js|ts):\d+|SELECT |INSERT |es_events|node_modules/;
        if (!leak.test(JSON.stringify(body))) expect(JSON.stringify(r.body)).not.toMatch(leak);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 40) },
    );
  });

  it('raw bodies: malformed JSON, deep nesting, huge numbers, wrong content types', async () => {
    const raws = [
      '{',
      '{"name": }',
      '[]',
      'null',
      '"just a string"',
      '1e999999',
      '{"name":"x"}garbage',
      '['.repeat(100_000) + ']'.repeat(100_000),
      '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000),
      '{"__proto__":{"isAdmin":true},"name":"x","image":"ubuntu:22.04"}',
      '{"constructor":{"prototype":{"x":1}}}',
    ];
    for (const route of writeRoutes) {
      for (const rawBody of raws) {
        const r = await stack.call(route.method, fill(route.path, idsOf(org)), { rawBody, headers: { 'content-type': 'application/json' } });
        expect({ route: route.path, rawBody: rawBody.slice(0, 30), status: r.status < 500 }).toEqual({ route: route.path, rawBody: rawBody.slice(0, 30), status: true });
        expect(r.body).toMatchObject({ error: true, status: r.status });
      }
    }
  });
});

describe('query strings and path parameters', () => {
  it('never answers 5xx for hostile values in ids and filters', async () => {
    const values = ['%00', '%FF', "'%20OR%201=1--", 'x'.repeat(5000), '..%2F..%2F', '%E2%80%AE', '%C0%AF'];
    for (const v of values) {
      for (const path of [`/api/volt/templates/${v}`, `/api/volt/docker-credentials/${v}`, `/v1/orgs/${v}`, `/v1/orgs/${v}/api-keys`, `/v1/audit?actor=${v}`, `/v1/audit?route=${v}`, `/api/volt/ssh-keys?limit=${v}`]) {
        const r = await stack.call('GET', path);
        expect({ path: path.slice(0, 60), ok: r.status < 500 }).toEqual({ path: path.slice(0, 60), ok: true });
      }
      expect((await stack.call('DELETE', `/api/volt/ssh-keys/${v}`)).status).toBeLessThan(500);
      expect((await stack.call('DELETE', `/v1/orgs/${org.orgId}/members/${v}`)).status).toBeLessThan(500);
    }
  });

  it('never answers 5xx for numbers and dates at the edges of their types in filters', async () => {
    // Past PostgreSQL's integer, past JavaScript's safe integers, fractions where whole numbers are stored.
    const numbers = ['1.5', '2147483647', '2147483648', '9007199254740993', '99999999999999999999999', '-0', '1e-7', 'Infinity'];
    const dates = ['2026-02-30', '0001-01-01', '9999-12-31', '275760-09-13', '+275760-09-13T00:00:00Z', '2026-12-02T25:00:00Z', '1733097600'];
    const paths = [
      ...['min_vram', 'max_price', 'min_gpu_count', 'gpu_count', 'limit', 'offset'].flatMap((q) => numbers.map((v) => `/api/volt/machines?${q}=${v}`)),
      ...numbers.flatMap((v) => [`/api/volt/pods?limit=${v}`, `/api/volt/pods?offset=${v}`, `/api/volt/billing/transactions?offset=${v}`, `/v1/audit?limit=${v}`]),
      ...dates.flatMap((v) => [`/v1/usage?from=${v}`, `/v1/usage?to=${v}`, `/api/volt/costs?start_date=${v}`, `/api/volt/costs?end_date=${v}`, `/v1/audit?since=${v}`, `/v1/audit?until=${v}`]),
    ];
    for (const path of paths) expect({ path, status: (await stack.call('GET', path)).status < 500 }).toEqual({ path, status: true });
  });
});

describe('characters PostgreSQL cannot read back', () => {
  it('are refused with the field named, and every read model goes on', async () => {
    const texts = [
      ['half \ud800 pair', 'well_formed_unicode'],
      ['x\udc00y', 'well_formed_unicode'],
      ['nul \u0000 here', 'no_nul'],
    ] as const;
    for (const [text, rule] of texts) {
      const writes = [
        ['POST', '/api/volt/pods', { machine_id: 'mach_h100_01', template_id: 'tpl_pytorch21', name: text }],
        ['PUT', `/api/volt/pods/${org.podId}`, { name: text }],
        ['POST', '/api/volt/ssh-keys', { name: text, public_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb1lT2tBqYn5BOZ6sB0uJ7jH3lZx1Tz0m7YwGgq7Zk9 x' }],
        ['POST', '/api/volt/templates', { name: text, image: 'ubuntu:22.04' }],
      ] as const;
      for (const [method, path, body] of writes) {
        const r = await stack.call(method, path, { body });
        expect({ method, path, status: r.status, body: r.body }).toMatchObject({ method, path, status: 400, body: { code: 'VALIDATION_ERROR', details: [{ field: 'name', rule }] } });
      }
    }
    // The pods read model still follows its stream: a rename is answered and shown.
    const renamed = await stack.call('PUT', `/api/volt/pods/${org.podId}`, { body: { name: 'still fine 😀' } });
    expect(renamed.status).toBe(200);
    expect((await stack.call('GET', `/api/volt/pods/${org.podId}`)).body.name).toBe('still fine 😀');
  });
});
