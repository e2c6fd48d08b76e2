import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore } from '@volt/event-store';
import { createOrganization, recordKeyUsage } from '@volt/identity-infra';
import { Authenticator } from '../../apps/gateway/src/auth/authenticator';
import { startStack, type TestStack } from '../support/stack';
import { eventually } from '../support/pods';

let stack: TestStack;

beforeAll(async () => {
  stack = await startStack({ gateways: 2 });
});
afterAll(() => stack?.stop());

const create = (body: unknown, key?: string) => stack.call('POST', '/api/volt/api-keys', { body, key });

describe('API keys (seed 000 and seed 001)', () => {
  it('returns the full key once, then only a preview; accepts it on either header', async () => {
    const created = await create({ name: 'CI/CD Pipeline' });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^ak_/),
      name: 'CI/CD Pipeline',
      key: expect.stringMatching(/^volt_sk_live_[A-Za-z0-9]{43}$/),
      scopes: ['pods', 'templates', 'ssh-keys', 'docker-credentials', 'machines', 'fine-tuning', 'billing', 'api-keys'],
      role: 'admin',
      created_at: expect.any(String),
      message: 'Store this key securely. It will not be shown again.',
    });
    const secret: string = created.body.key;
    const list = await stack.call('GET', '/api/volt/api-keys');
    const listed = list.body.api_keys.find((k: { id: string }) => k.id === created.body.id);
    expect(listed).toEqual({ id: created.body.id, name: 'CI/CD Pipeline', key_preview: `volt_...${secret.slice(-4)}`, scopes: created.body.scopes, role: 'admin', last_used: null, created_at: created.body.created_at });
    expect(JSON.stringify(list.body)).not.toContain(secret);
    expect((await stack.call('GET', '/api/volt/ssh-keys', { key: null, headers: { authorization: `Bearer ${secret}` } })).status).toBe(200);
    expect((await stack.call('GET', '/api/volt/ssh-keys', { key: secret })).status).toBe(200);
  });

  it('accepts a key made a moment ago elsewhere (volt-admin, another instance), even by a gateway that had been idle', async () => {
    // The gateways' read-model loops have backed off to their longest rest by now.
    await new Promise((r) => setTimeout(r, 1_500));
    // What `volt-admin org create` does: the organization and its owner key, appended straight to the store.
    const org = await createOrganization(new EventStore(stack.db.db), { name: 'Made Elsewhere' });
    expect((await stack.call('GET', '/api/volt/ssh-keys', { key: org.apiKey, via: 1 })).status).toBe(200);
    expect((await stack.call('GET', '/api/volt/ssh-keys', { key: org.apiKey, via: 0 })).status).toBe(200);
  });

  it('catches up one at a time for a flood of unknown keys, not once each', async () => {
    let catchUps = 0;
    let running = 0;
    let mostAtOnce = 0;
    const auth = new Authenticator(stack.db.db, async () => {
      catchUps++;
      mostAtOnce = Math.max(mostAtOnce, ++running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
    });
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => auth.authenticate(`volt_sk_live_unknown${i}xxxxxxxxxxxxxxxxxxxxxxxxxxxx`)));
    expect(answers.every((a) => a === null)).toBe(true);
    // Misses that came while one catch-up ran shared the next: one at a time, far fewer than 50.
    expect(mostAtOnce).toBe(1);
    expect(catchUps).toBeGreaterThanOrEqual(1);
    expect(catchUps).toBeLessThan(25);
  });

  it('keeps last_used without a write per request: visible at once on the instance that saw it, and in the table after a flush', async () => {
    const created = await create({ name: 'usage' });
    const before = Date.now();
    await stack.call('GET', '/api/volt/ssh-keys', { key: created.body.key, via: 1 });
    const usedRows = await stack.db.db.selectFrom('gw_api_key_usage').selectAll().where('key_id', '=', created.body.id).execute();
    expect(usedRows).toEqual([]);
    const onSame = (await stack.call('GET', '/api/volt/api-keys', { via: 1 })).body.api_keys.find((k: { id: string }) => k.id === created.body.id);
    expect(Date.parse(onSame.last_used)).toBeGreaterThanOrEqual(before - 5);
    // What the periodic flush does: one statement for every key seen since the last one.
    await recordKeyUsage(stack.db.db, stack.gateways[1].app.get(Authenticator).drainUsage());
    const onOther = (await stack.call('GET', '/api/volt/api-keys', { via: 0 })).body.api_keys.find((k: { id: string }) => k.id === created.body.id);
    expect(onOther.last_used).toBe(onSame.last_used);
  });

  it('refuses a revoked key on every gateway instance within one second, with the seed’s 401', async () => {
    const created = await create({ name: 'to revoke' });
    const secret: string = created.body.key;
    // Both instances have it cached.
    expect((await stack.call('GET', '/api/volt/ssh-keys', { key: secret, via: 0 })).status).toBe(200);
    expect((await stack.call('GET', '/api/volt/ssh-keys', { key: secret, via: 1 })).status).toBe(200);
    const revoked = await stack.call('DELETE', '/api/volt/api-keys', { body: { key_id: created.body.id }, via: 0 });
    expect(revoked.body).toEqual({ id: created.body.id, deleted: true, message: 'API key revoked. Any requests using this key will now return 401.' });
    const started = Date.now();
    let refusedAfter = Infinity;
    while (Date.now() - started < 3000) {
      const r = await stack.call('GET', '/api/volt/ssh-keys', { key: secret, via: 1 });
      if (r.status === 401) {
        refusedAfter = Date.now() - started;
        expect(r.body).toEqual({ error: true, status: 401, message: 'Invalid API key. Generate a new key at Dashboard > API Keys.', code: 'INVALID_API_KEY' });
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(refusedAfter).toBeLessThan(1000);
    expect((await stack.call('GET', '/api/volt/ssh-keys', { key: secret, via: 0 })).status).toBe(401);
    expect((await stack.call('DELETE', '/api/volt/api-keys', { body: { key_id: created.body.id } })).status).toBe(404);
  });

  it('serves seed 001’s /v1/orgs/{org_id}/api-keys by id or slug', async () => {
    const org = (await stack.call('GET', `/v1/orgs/${stack.orgId}`)).body;
    expect(org).toMatchObject({ id: stack.orgId, slug: 'e2e-org', name: 'E2E Org', limits: { requests_per_hour: 1000, pod_creates_per_15_min: 10 } });
    expect(org.members).toEqual([expect.objectContaining({ role: 'owner' })]);
    const created = await stack.call('POST', `/v1/orgs/${org.slug}/api-keys`, { body: { name: 'v1 key', scopes: ['pods'], role: 'member' } });
    expect(created.status).toBe(201);
    expect((await stack.call('GET', `/v1/orgs/${stack.orgId}/api-keys`)).body.api_keys.map((k: { id: string }) => k.id)).toContain(created.body.id);
    expect((await stack.call('DELETE', `/v1/orgs/${stack.orgId}/api-keys/${created.body.id}`)).body).toMatchObject({ id: created.body.id, deleted: true });
    expect((await stack.call('GET', '/api/volt/ssh-keys', { key: created.body.key })).status).toBe(401);
  });

  it('gives each key a role: viewers read, members write, only admins manage keys, no key mints a stronger one', async () => {
    const viewer = (await create({ name: 'viewer', role: 'viewer' })).body.key;
    const member = (await create({ name: 'member', role: 'member' })).body.key;
    expect((await stack.call('GET', '/api/volt/templates', { key: viewer })).status).toBe(200);
    const write = await stack.call('POST', '/api/volt/templates', { key: viewer, body: { name: 'x', image: 'ubuntu:22.04' } });
    expect(write.status).toBe(403);
    expect(write.body.code).toBe('FORBIDDEN');
    expect((await stack.call('POST', '/api/volt/templates', { key: member, body: { name: 'x', image: 'ubuntu:22.04' } })).status).toBe(201);
    expect((await stack.call('GET', '/api/volt/api-keys', { key: member })).status).toBe(403);
    expect((await stack.call('GET', '/v1/audit', { key: member })).status).toBe(403);
    const admin = (await create({ name: 'admin', role: 'admin' })).body.key;
    const escalate = await create({ name: 'owner?', role: 'owner' }, admin);
    expect(escalate.status).toBe(403);
    expect(escalate.body).toMatchObject({ code: 'FORBIDDEN', message: 'An admin key cannot create an owner key.' });
    // Nor a scope it lacks: an admin limited to pods and key management cannot mint a billing key,
    // and a key it makes without naming scopes gets its own, not every scope.
    const narrow = (await create({ name: 'narrow admin', role: 'admin', scopes: ['pods', 'api-keys'] })).body.key;
    const widen = await create({ name: 'billing?', role: 'member', scopes: ['billing'] }, narrow);
    expect(widen.status).toBe(403);
    expect(widen.body).toMatchObject({ code: 'FORBIDDEN', message: 'This key cannot grant scopes it does not have: billing.' });
    const inherited = await create({ name: 'inherits', role: 'member' }, narrow);
    expect(inherited.status).toBe(201);
    expect(inherited.body.scopes).toEqual(['pods', 'api-keys']);
    expect((await stack.call('GET', '/api/volt/balance', { key: inherited.body.key })).body.code).toBe('INSUFFICIENT_SCOPE');
  });

  it('keeps an organization’s last owner key until another owner key exists', async () => {
    const org = await stack.createOrg('Last Owner');
    const [own] = (await stack.call('GET', '/api/volt/api-keys', { key: org.apiKey })).body.api_keys;
    expect(own.role).toBe('owner');
    const refused = await stack.call('DELETE', '/api/volt/api-keys', { key: org.apiKey, body: { key_id: own.id } });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('last owner key') });
    const next = await stack.call('POST', '/api/volt/api-keys', { key: org.apiKey, body: { name: 'new owner', role: 'owner' } });
    expect(next.status).toBe(201);
    expect((await stack.call('DELETE', '/api/volt/api-keys', { key: next.body.key, body: { key_id: own.id } })).status).toBe(200);
    await eventually('the old key to be refused', async () => (await stack.call('GET', '/api/volt/api-keys', { key: org.apiKey })).status === 401);
    expect((await stack.call('GET', '/api/volt/api-keys', { key: next.body.key })).status).toBe(200);
  });

  it('manages members (seed 004) and keeps at least one owner', async () => {
    const added = await stack.call('POST', `/v1/orgs/${stack.orgId}/members`, { body: { email: 'dev@example.com', role: 'member' } });
    expect(added.status).toBe(201);
    expect((await stack.call('POST', `/v1/orgs/${stack.orgId}/members`, { body: { email: 'DEV@example.com' } })).status).toBe(409);
    expect((await stack.call('PUT', `/v1/orgs/${stack.orgId}/members/${added.body.id}`, { body: { role: 'viewer' } })).body).toMatchObject({ role: 'viewer' });
    const owner = (await stack.call('GET', `/v1/orgs/${stack.orgId}/members`)).body.members.find((m: { role: string }) => m.role === 'owner');
    const demote = await stack.call('PUT', `/v1/orgs/${stack.orgId}/members/${owner.id}`, { body: { role: 'admin' } });
    expect(demote.status).toBe(409);
    expect((await stack.call('DELETE', `/v1/orgs/${stack.orgId}/members/${added.body.id}`)).status).toBe(200);
  });

  it('refuses bad bodies with the field named, and never applies extra fields', async () => {
    const bad = await create({ name: '', scopes: ['pods', 'pods', 'root'] });
    expect(bad.status).toBe(400);
    expect(bad.body.details.map((d: { field: string }) => d.field)).toEqual(expect.arrayContaining(['name', 'scopes.2']));
    const extra = await create({ name: 'x', org_id: 'org_other', key_hash: 'a'.repeat(64) });
    expect(extra.status).toBe(400);
    expect(extra.body.details).toEqual([expect.objectContaining({ rule: 'unrecognized_keys' })]);
  });
});

describe('hot reads served from memory', () => {
  it('show a change at once on the instance that made it, and on another instance within a second', async () => {
    const before = await stack.call('GET', '/api/volt/templates', { via: 1 }); // cached on instance 1
    const created = await stack.call('POST', '/api/volt/templates', { body: { name: 'cache-check', image: 'ubuntu:22.04' }, via: 0 });
    const ids = (r: { body: { templates: { id: string }[] } }) => r.body.templates.map((t) => t.id);
    expect(ids(before)).not.toContain(created.body.id);
    expect(ids(await stack.call('GET', '/api/volt/templates', { via: 0 }))).toContain(created.body.id);
    const started = Date.now();
    let seen = false;
    while (!seen && Date.now() - started < 2000) {
      seen = ids(await stack.call('GET', '/api/volt/templates', { via: 1 })).includes(created.body.id);
      if (!seen) await new Promise((r) => setTimeout(r, 10));
    }
    expect(seen).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
    await stack.call('DELETE', `/api/volt/templates/${created.body.id}`, { via: 1 });
    expect((await stack.call('GET', `/api/volt/templates/${created.body.id}`, { via: 1 })).status).toBe(404);
  });
});

describe('audit log (GET /v1/audit)', () => {
  it('records every state-changing request with actor, route template, resource, status, request and trace ids', async () => {
    const created = await stack.call('POST', '/api/volt/templates', { body: { name: 'audited', image: 'ubuntu:22.04' } });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const refused = await stack.call('DELETE', '/api/volt/templates/tpl_nothere', { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    expect(refused.status).toBe(404);
    const page = await stack.call('GET', `/v1/audit?route=${encodeURIComponent('/api/volt/templates/:id')}&limit=5`);
    expect(page.status).toBe(200);
    expect(page.body.entries[0]).toEqual({
      id: expect.any(String),
      org_id: stack.orgId,
      actor: { type: 'api_key', id: expect.stringMatching(/^ak_/) },
      method: 'DELETE',
      route: '/api/volt/templates/:id',
      resource_id: 'tpl_nothere',
      status: 404,
      request_id: expect.any(String),
      trace_id: traceId,
      client_ip: '127.0.0.1',
      occurred_at: expect.any(String),
    });
    const posts = await stack.call('GET', `/v1/audit?route=${encodeURIComponent('/api/volt/templates')}`);
    expect(posts.body.entries.find((e: { resource_id: string }) => e.resource_id === created.body.id)).toMatchObject({ method: 'POST', status: 201 });
  });

  it('pages newest first with a cursor and filters by actor and time; other organizations see none of it', async () => {
    for (let i = 0; i < 3; i++) await stack.call('POST', '/api/volt/templates', { body: { name: `p${i}`, image: 'ubuntu:22.04' } });
    const first = await stack.call('GET', '/v1/audit?limit=2');
    expect(first.body.entries).toHaveLength(2);
    const second = await stack.call('GET', `/v1/audit?limit=2&cursor=${first.body.next_cursor}`);
    expect(BigInt(second.body.entries[0].id)).toBeLessThan(BigInt(first.body.entries[1].id));
    const actor = first.body.entries[0].actor.id;
    const byActor = await stack.call('GET', `/v1/audit?actor=${actor}&since=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}`);
    expect(byActor.body.entries.every((e: { actor: { id: string } }) => e.actor.id === actor)).toBe(true);
    const future = await stack.call('GET', `/v1/audit?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(future.body.entries).toEqual([]);
    const other = await stack.createOrg('Auditless');
    expect((await stack.call('GET', '/v1/audit', { key: other.apiKey })).body.entries.every((e: { org_id: string }) => e.org_id === other.orgId)).toBe(true);
  });

  it('cannot be edited: the table refuses UPDATE and DELETE', async () => {
    await expect(stack.db.db.deleteFrom('gw_audit_log').execute()).rejects.toThrow(/append-only/);
    await expect(stack.db.db.updateTable('gw_audit_log').set({ status: 200 }).execute()).rejects.toThrow(/append-only/);
  });
});
