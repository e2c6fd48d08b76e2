import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES } from '@volt/identity-contracts';
import { ROUTES, createFixture, fill, idsOf, randomIds, type OrgFixture } from '../support/routes';
import { podReaches } from '../support/pods';
import { startStack, type TestStack } from '../support/stack';

let stack: TestStack;
let a: OrgFixture;
let b: OrgFixture;

/** Everything organization B can see about itself, to prove nothing of it changed. */
async function snapshot(org: OrgFixture) {
  const get = async (path: string) => (await stack.call('GET', path, { key: org.apiKey })).body;
  return {
    ssh: await get('/api/volt/ssh-keys'),
    templates: await get('/api/volt/templates'),
    credentials: await get('/api/volt/docker-credentials'),
    keys: ((await get('/api/volt/api-keys')) as { api_keys: { id: string }[] }).api_keys.map((k) => k.id),
    org: await get(`/v1/orgs/${org.orgId}`),
    pods: await get('/api/volt/pods'),
  };
}

beforeAll(async () => {
  stack = await startStack();
  a = await createFixture(stack, { orgId: stack.orgId, apiKey: stack.apiKey });
  b = await createFixture(stack, await stack.createOrg('Other Org'));
  // Settled, so B's snapshot changes only if A's calls change it.
  await podReaches(stack, a.podId, 'running', { key: a.apiKey });
  await podReaches(stack, b.podId, 'running', { key: b.apiKey });
});
afterAll(() => stack?.stop());

describe('tenant isolation: organization A’s key on organization B’s ids', () => {
  const withIds = ROUTES.filter((r) => r.takesId);

  it.each(withIds.map((r) => [`${r.method} ${r.path}`, r] as const))('%s: B’s real ids and random ids get the same 404, and B is unchanged', async (_name, route) => {
    const before = await snapshot(b);
    // For /v1/orgs/{org_id}/…/{id}: A's own organization with B's member or key id; elsewhere all of B's ids.
    const onB = route.path.includes(':member') || route.path.includes('/api-keys/:key') ? { ...idsOf(b), org: a.orgId } : idsOf(b);
    const random = { ...randomIds(), ...(onB.org === a.orgId ? { org: a.orgId } : {}) };
    const real = await stack.call(route.method, fill(route.path, onB), { key: a.apiKey, body: fill(route.body, onB) ?? undefined });
    const fake = await stack.call(route.method, fill(route.path, random), { key: a.apiKey, body: fill(route.body, random) ?? undefined });
    expect(real.status).toBe(404);
    expect(real.body).toEqual(fake.body);
    expect(real.body).toMatchObject({ error: true, status: 404, code: 'NOT_FOUND' });
    expect(await snapshot(b)).toEqual(before);
  });

  it('lists show only the caller’s own resources (and the system templates)', async () => {
    const mine = await snapshot(a);
    expect(JSON.stringify(mine)).not.toContain(b.sshKeyId);
    expect(JSON.stringify(mine)).not.toContain(b.templateId);
    expect(JSON.stringify(mine)).not.toContain(b.credentialId);
    expect(JSON.stringify(mine)).not.toContain(b.apiKeyId);
    expect(JSON.stringify(mine)).not.toContain(b.memberId);
    expect(JSON.stringify(mine)).not.toContain(b.podId);
  });
});

describe('scopes: a key lacking a route’s scope gets 403', () => {
  it.each(SCOPES.filter((s) => ROUTES.some((r) => r.scope === s)).map((s) => [s] as const))('every %s route refuses a key without that scope', async (scope) => {
    const created = await stack.call('POST', '/api/volt/api-keys', { key: a.apiKey, body: { name: `no-${scope}`, scopes: SCOPES.filter((s) => s !== scope), role: 'admin' } });
    expect(created.status).toBe(201);
    const before = await snapshot(a);
    for (const route of ROUTES.filter((r) => r.scope === scope)) {
      const response = await stack.call(route.method, fill(route.path, idsOf(a)), { key: created.body.key, body: fill(route.body, idsOf(a)) ?? undefined });
      expect({ route: `${route.method} ${route.path}`, status: response.status, code: response.body.code }).toEqual({
        route: `${route.method} ${route.path}`,
        status: 403,
        code: 'INSUFFICIENT_SCOPE',
      });
      expect(response.body).toEqual({ error: true, status: 403, message: `This API key lacks the "${scope}" scope.`, code: 'INSUFFICIENT_SCOPE' });
    }
    expect((await snapshot(a)).keys).toEqual(before.keys);
    expect(await snapshot(a)).toEqual(before);
  });
});
