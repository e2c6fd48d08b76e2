import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { EventStore } from '@volt/event-store';
import { AuditLog, decideForOrganization } from '@volt/identity-infra';
import { startService } from '@volt/platform';
import { podsService } from '../../apps/pods/src/pods.service';
import { generateSshKey } from '../support/ssh';
import { eventually } from '../support/pods';
import { startStack, type TestStack } from '../support/stack';

const LIMIT = 20;
let stack: TestStack;

beforeAll(async () => {
  stack = await startStack({ gateways: 2, env: { VOLT_RATE_LIMIT_PER_HOUR: String(LIMIT) } });
});
afterAll(() => stack?.stop());

describe('rate limits (seed 000: per key per hour; seed 002: X-RateLimit-* headers)', () => {
  it('shares one key’s limit across two gateway instances, with headers on every response and the seed’s 429', async () => {
    const { apiKey } = await stack.createOrg('Rate A');
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 4; i++) {
      // Alternate instances; every third is a 404, which counts like any request.
      const path = i % 3 === 2 ? '/api/volt/templates/tpl_missing' : '/api/volt/ssh-keys';
      const r = await stack.call('GET', path, { key: apiKey, via: i % 2 });
      statuses.push(r.status);
      expect(r.headers.get('x-ratelimit-limit')).toBe(String(LIMIT));
      expect(Number(r.headers.get('x-ratelimit-remaining'))).toBe(Math.max(0, LIMIT - i - 1));
      expect(Date.parse(r.headers.get('x-ratelimit-reset')!)).toBeGreaterThan(Date.now());
      if (r.status === 429) {
        expect(r.body).toEqual({ error: true, status: 429, message: `Rate limit exceeded (${LIMIT} requests per hour). Retry after the Retry-After period.`, code: 'RATE_LIMIT_EXCEEDED' });
        const retryAfter = Number(r.headers.get('retry-after'));
        expect(retryAfter).toBeGreaterThan(0);
        expect(retryAfter).toBeLessThanOrEqual(3600);
      }
    }
    expect(statuses.filter((s) => s !== 429)).toHaveLength(LIMIT);
    expect(statuses.slice(LIMIT)).toEqual([429, 429, 429, 429]);
    // Another key (another organization) is not affected.
    const other = await stack.createOrg('Rate B');
    expect((await stack.call('GET', '/api/volt/ssh-keys', { key: other.apiKey })).status).toBe(200);
  });

  it('counts requests without a valid key by client address, with the same headers on the 401', async () => {
    const r = await stack.call('GET', '/api/volt/ssh-keys', { key: 'volt_sk_live_not-a-key' });
    expect(r.status).toBe(401);
    expect(r.headers.get('x-ratelimit-limit')).toBe(String(LIMIT));
    expect(r.headers.get('x-ratelimit-remaining')).not.toBeNull();
  });

  it('applies an organization’s own limit on every instance as soon as it is set', async () => {
    const org = await stack.createOrg('Rate C');
    expect((await stack.call('GET', '/api/volt/ssh-keys', { key: org.apiKey, via: 1 })).headers.get('x-ratelimit-limit')).toBe(String(LIMIT));
    const id = randomUUID();
    const set = await decideForOrganization(new EventStore(stack.db.db), { commandId: id, orgId: org.orgId, actor: { type: 'system', id: 'test' }, correlationId: id }, {
      type: 'SetOrganizationLimits',
      data: { requestsPerHour: 500, podCreatesPer15Min: 3, requestedAt: new Date().toISOString() },
    });
    expect(set.ok).toBe(true);
    // As volt-admin does after a write from outside the services: announce it, so that the relays
    // and read models look now rather than at their next poll.
    stack.gateway.runtime.appended();
    for (const g of stack.gateways) await g.runtime.projections.catchUp();
    // The cached key drops its old limits when the relay publishes the event (a cached key lives 5
    // minutes otherwise): a bound on that happening at all, not on its speed (under a full CI run
    // it has once taken over 10 s).
    const deadline = Date.now() + 30_000;
    let limit: string | null = null;
    while (Date.now() < deadline && limit !== '500') {
      limit = (await stack.call('GET', '/api/volt/ssh-keys', { key: org.apiKey, via: 1 })).headers.get('x-ratelimit-limit');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(limit).toBe('500');
    expect((await stack.call('GET', `/v1/orgs/${org.orgId}`, { key: org.apiKey })).body.limits).toEqual({ requests_per_hour: 500, pod_creates_per_15_min: 3 });

    // Seed 002's pod-creation limit, per organization, shared by both gateways; other routes are unaffected.
    // Creates that create nothing do not count: one refused for its body, one for its machine.
    const refused = [
      await stack.call('POST', '/api/volt/pods', { key: org.apiKey, via: 0, body: { machine_id: 'mach_a100_01' } }),
      await stack.call('POST', '/api/volt/pods', { key: org.apiKey, via: 1, body: { machine_id: 'mach_unknown_99', template_id: 'tpl_pytorch21' } }),
    ];
    expect(refused.map((r) => r.status)).toEqual([400, 404]);
    // Nor does a repeat answered from the first attempt's record.
    const once = { key: org.apiKey, body: { machine_id: 'mach_a100_01', template_id: 'tpl_pytorch21' }, headers: { 'Idempotency-Key': `create-${id}` } };
    const first = await stack.call('POST', '/api/volt/pods', { ...once, via: 0 });
    const again = await stack.call('POST', '/api/volt/pods', { ...once, via: 0 });
    expect([first.status, again.status, again.headers.get('idempotent-replayed'), again.body.id]).toEqual([201, 201, 'true', first.body.id]);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await stack.call('POST', '/api/volt/pods', { key: org.apiKey, via: i % 2, body: { machine_id: 'mach_a100_01', template_id: 'tpl_pytorch21' } });
      statuses.push(r.status);
      if (r.status === 429) {
        expect(r.body).toMatchObject({ error: true, status: 429, code: 'RATE_LIMIT_EXCEEDED', message: 'Pod creation limit reached (3 per 15 minutes for this organization).' });
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
        // Its headers are the pod-create limit's, which refused it, not the hourly one's.
        const resetIn = (Date.parse(r.headers.get('x-ratelimit-reset')!) - Date.now()) / 1000;
        expect([r.headers.get('x-ratelimit-limit'), r.headers.get('x-ratelimit-remaining')]).toEqual(['3', '0']);
        expect(resetIn).toBeLessThanOrEqual(900);
        expect(Math.abs(resetIn - Number(r.headers.get('retry-after')))).toBeLessThan(2);
      }
    }
    expect(statuses).toEqual([201, 201, 429, 429]);
    expect((await stack.call('GET', '/api/volt/pods', { key: org.apiKey })).body.total).toBe(3);
    expect((await stack.call('GET', '/api/volt/machines', { key: org.apiKey })).status).toBe(200);
  });
});

describe('request bodies and pages', () => {
  it('answers 413 over 1 MiB and 415 for a non-JSON body, in the seed’s shape with rate headers', async () => {
    const { apiKey } = await stack.createOrg('Bodies');
    const big = await stack.call('POST', '/api/volt/templates', { key: apiKey, rawBody: JSON.stringify({ name: 'x'.repeat(1024 * 1024 + 10) }), headers: { 'content-type': 'application/json' } });
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ error: true, status: 413, code: 'PAYLOAD_TOO_LARGE' });
    const text = await stack.call('POST', '/api/volt/templates', { key: apiKey, rawBody: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(text.status).toBe(415);
    expect(text.body).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
    expect(text.headers.get('x-ratelimit-limit')).toBe(String(LIMIT));
  });

  it('answers a malformed or overlong path in the seed’s shape, not the web framework’s', async () => {
    const { apiKey } = await stack.createOrg('Paths');
    const badEncoding = await stack.call('GET', '/api/volt/pods/%E0%A4%A', { key: apiKey });
    expect(badEncoding.status).toBe(400);
    expect(badEncoding.body).toEqual({ error: true, status: 400, code: 'VALIDATION_ERROR', message: 'The request path is not a valid URL (malformed percent-encoding).' });
    const overlong = await stack.call('POST', `/api/volt/pods/${'a'.repeat(201)}/stop`, { key: apiKey });
    expect(overlong.status).toBe(404);
    expect(overlong.body).toEqual({ error: true, status: 404, code: 'NOT_FOUND', message: 'Not found: a path segment is longer than 200 characters.' });
    // One character shorter reaches the route, which finds no such pod.
    const longest = await stack.call('GET', `/api/volt/pods/${'a'.repeat(200)}`, { key: apiKey });
    expect(longest.body).toMatchObject({ status: 404, code: 'NOT_FOUND', message: 'Pod not found.' });
  });

  it('caps limit at 200 rather than refusing it', async () => {
    const org = await stack.createOrg('Pages');
    // A log longer than one page, written the way the gateway writes read records (the API's own limit is 20 per hour here).
    const audit = new AuditLog(stack.db.db);
    for (let i = 0; i < 230; i++) {
      audit.recordLater({
        tenantId: org.orgId, actor: { type: 'api_key', id: 'ak_x' }, method: 'GET', route: '/api/volt/ssh-keys', resourceId: null,
        status: 200, requestId: `r${i}`, traceId: null, clientIp: null, occurredAt: new Date(),
      });
    }
    await audit.flush();
    const page = await stack.call('GET', '/v1/audit?limit=100000', { key: org.apiKey });
    expect(page.status).toBe(200);
    expect(page.body.entries).toHaveLength(200);
    expect(page.body.next_cursor).not.toBeNull();
    expect((await stack.call('GET', '/v1/audit?limit=0', { key: org.apiKey })).status).toBe(400);
  });
});

describe('Idempotency-Key', () => {
  it('executes 50 concurrent identical requests once; later ones replay the first response', async () => {
    const { apiKey, orgId } = await stack.createOrg('Idem A');
    const headers = { 'idempotency-key': 'create-sdxl-1' };
    const body = { name: 'SDXL', image: 'ghcr.io/acme/sdxl:v2' };
    // Spread over both instances; each instance's limit counts 50 + a few for this key, so use a wide one.
    await decideForOrganization(new EventStore(stack.db.db), { commandId: randomUUID(), orgId, actor: { type: 'system', id: 't' }, correlationId: 'x' }, {
      type: 'SetOrganizationLimits',
      data: { requestsPerHour: 10_000, podCreatesPer15Min: null, requestedAt: new Date().toISOString() },
    });
    for (const g of stack.gateways) await g.runtime.projections.catchUp();
    await new Promise((r) => setTimeout(r, 200));
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => stack.call('POST', '/api/volt/templates', { key: apiKey, body, headers, via: i % 2 })));
    const created = responses.filter((r) => r.status === 201);
    const inFlight = responses.filter((r) => r.status === 409);
    expect(created.length + inFlight.length).toBe(50);
    expect(inFlight.every((r) => r.body.code === 'IDEMPOTENCY_KEY_IN_USE')).toBe(true);
    expect(new Set(created.map((r) => r.body.id)).size).toBe(1);
    const templates = (await stack.call('GET', '/api/volt/templates', { key: apiKey })).body.templates.filter((t: { name: string }) => t.name === 'SDXL');
    expect(templates).toHaveLength(1);

    const replay = await stack.call('POST', '/api/volt/templates', { key: apiKey, body, headers, via: 1 });
    expect(replay.status).toBe(201);
    expect(replay.body).toEqual(created[0].body);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');

    const changed = await stack.call('POST', '/api/volt/templates', { key: apiKey, body: { ...body, name: 'Other' }, headers });
    expect(changed.status).toBe(422);
    expect(changed.body).toEqual({ error: true, status: 422, message: 'This Idempotency-Key was already used with a different request.', code: 'IDEMPOTENCY_KEY_REUSED' });
  });

  it('keeps a request that timed out (504) in flight, since its command completes on its own', async () => {
    const { apiKey, orgId } = await stack.createOrg('Idem Slow');
    const headers = { 'idempotency-key': 'slow-1' };
    const body = { name: 'laptop', public_key: generateSshKey().line };
    await stack.pods.stop();
    try {
      const first = await stack.call('POST', '/api/volt/ssh-keys', { key: apiKey, body, headers });
      expect(first.status).toBe(504);
      expect(first.body.code).toBe('TIMEOUT');
      // Not run a second time (it would add the key twice, or for a pod, make a second one).
      const retry = await stack.call('POST', '/api/volt/ssh-keys', { key: apiKey, body, headers });
      expect(retry).toMatchObject({ status: 409, body: { code: 'IDEMPOTENCY_KEY_IN_USE' } });
    } finally {
      stack.pods = await startService(podsService(stack.env), stack.env);
    }
    // The queued command completes once the pods service is back.
    // (Watched in the read model: this file's rate limit is 20 requests an hour.)
    const keys = async () => Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM pods_ssh_keys WHERE tenant_id = ${orgId}`.execute(stack.db.db)).rows[0].n);
    await eventually('the key added', async () => (await keys()) === 1, 20_000);
    expect((await stack.call('POST', '/api/volt/ssh-keys', { key: apiKey, body, headers })).status).toBe(409);
  }, 40_000);

  it('never stores a new API key\'s secret: a repeat of the create answers 409, saying the secret cannot be shown again', async () => {
    const org = await stack.createOrg('Idem Secret');
    const request = { key: org.apiKey, body: { name: 'ci', scopes: ['pods'], role: 'member' }, headers: { 'idempotency-key': 'new-key-1' } };
    const first = await stack.call('POST', '/api/volt/api-keys', request);
    expect(first.status).toBe(201);
    expect(first.body.key).toMatch(/^volt_sk_live_/);
    const again = await stack.call('POST', '/api/volt/api-keys', request);
    expect(again.status).toBe(409);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual({ error: true, status: 409, code: 'CONFLICT', message: expect.stringContaining('its secret cannot be shown again') });
    const stored = await sql<{ n: number }>`SELECT count(*)::int AS n FROM gw_idempotency WHERE body LIKE ${`%${first.body.key}%`}`.execute(stack.db.db);
    expect(stored.rows[0].n).toBe(0);
    // What identifies the request is keyed (a body may hold a registry password): not its plain hash.
    const plain = createHash('sha256').update(`POST /api/volt/api-keys\n${JSON.stringify(request.body)}`).digest('hex');
    const kept = await sql<{ h: string }>`SELECT request_hash AS h FROM gw_idempotency WHERE tenant_id = ${org.orgId} AND key = 'new-key-1'`.execute(stack.db.db);
    expect(kept.rows[0].h).toMatch(/^[0-9a-f]{64}$/);
    expect(kept.rows[0].h).not.toBe(plain);
    // The key itself was made once, and works.
    const listed = await stack.call('GET', '/api/volt/api-keys', { key: org.apiKey });
    expect(listed.body.api_keys.filter((k: { name: string }) => k.name === 'ci')).toHaveLength(1);
    expect((await stack.call('GET', '/api/volt/pods', { key: first.body.key })).status).toBe(200);
  });

  it('scopes keys to the organization, replays the errors it answered, and refuses a malformed key', async () => {
    const a = await stack.createOrg('Idem B');
    const b = await stack.createOrg('Idem C');
    const headers = { 'idempotency-key': 'same-key' };
    const body = { name: 'x', image: 'ubuntu:22.04' };
    expect((await stack.call('POST', '/api/volt/templates', { key: a.apiKey, body, headers })).status).toBe(201);
    expect((await stack.call('POST', '/api/volt/templates', { key: b.apiKey, body, headers })).status).toBe(201);
    const missing = await stack.call('DELETE', '/api/volt/templates/tpl_gone', { key: a.apiKey, headers: { 'idempotency-key': 'del-1' } });
    expect(missing.status).toBe(404);
    const again = await stack.call('DELETE', '/api/volt/templates/tpl_gone', { key: a.apiKey, headers: { 'idempotency-key': 'del-1' } });
    expect(again.status).toBe(404);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const bad = await stack.call('POST', '/api/volt/templates', { key: a.apiKey, body, headers: { 'idempotency-key': 'x'.repeat(300) } });
    expect(bad.status).toBe(400);
  });
});
