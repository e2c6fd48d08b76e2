import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSshKey } from '../support/ssh';
import { startStack, type TestStack } from '../support/stack';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.stop());

const errorBody = (status: number, code: string) => expect.objectContaining({ error: true, status, code, message: expect.any(String) });

describe('SSH keys through the gateway (seed 000)', () => {
  it('adds a key, lists it at once, publishes SshKeyAdded, and deletes it', async () => {
    // Any plain subscriber of the subject sees the event.
    const subscription = stack.messaging.nc.subscribe(`${stack.messaging.prefix}.volt.evt.pods.SshKeyAdded`, { max: 1, timeout: 10_000 });
    const key = generateSshKey('ed25519');

    const created = await stack.call('POST', '/api/volt/ssh-keys', { body: { name: 'ci-server', public_key: key.line } });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^key_/),
      name: 'ci-server',
      public_key: key.line.split(' ').slice(0, 2).join(' '),
      fingerprint: key.fingerprint,
      created_at: expect.any(String),
    });
    expect(Object.keys(created.body).sort()).toEqual(['created_at', 'fingerprint', 'id', 'name', 'public_key']);

    // Read-your-writes: the very next GET sees it.
    const listed = await stack.call('GET', '/api/volt/ssh-keys');
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual({ ssh_keys: [created.body], total: 1 });

    const { value: message } = await subscription[Symbol.asyncIterator]().next();
    expect(message?.subject).toBe(`${stack.messaging.prefix}.volt.evt.pods.SshKeyAdded`);
    expect(message?.json()).toMatchObject({ type: 'SshKeyAdded', tenantId: stack.orgId, data: { keyId: created.body.id, fingerprint: key.fingerprint } });

    const deleted = await stack.call('DELETE', `/api/volt/ssh-keys/${created.body.id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ id: created.body.id, deleted: true, message: 'SSH key removed from account.' });
    expect((await stack.call('GET', '/api/volt/ssh-keys')).body).toEqual({ ssh_keys: [], total: 0 });
    expect((await stack.call('DELETE', `/api/volt/ssh-keys/${created.body.id}`)).body).toEqual(errorBody(404, 'NOT_FOUND'));
  });

  it('refuses the same key twice with 409', async () => {
    const key = generateSshKey('rsa');
    expect((await stack.call('POST', '/api/volt/ssh-keys', { body: { name: 'a', public_key: key.line } })).status).toBe(201);
    const again = await stack.call('POST', '/api/volt/ssh-keys', { body: { name: 'b', public_key: key.line } });
    expect(again.status).toBe(409);
    expect(again.body).toEqual(errorBody(409, 'DUPLICATE_SSH_KEY'));
  });

  it.each([
    ['a missing public_key', { name: 'x' }, 'public_key'],
    ['an empty public_key', { name: 'x', public_key: '' }, 'public_key'],
    ['an unsupported key type', { name: 'x', public_key: 'ssh-dss AAAAB3NzaC1kc3MAAACBAP8=' }, 'public_key'],
    ['garbage', { name: 'x', public_key: 'not a key at all' }, 'public_key'],
    ['an over-long name', { name: 'n'.repeat(101), public_key: 'ssh-ed25519 AAAA' }, 'name'],
    ['a wrongly typed name', { name: 42, public_key: 'ssh-ed25519 AAAA' }, 'name'],
    ['an unknown field', { name: 'x', public_key: generateSshKey().line, fingerprint: 'SHA256:mine' }, 'fingerprint'],
  ])('answers 400 naming the field for %s', async (_label, body, field) => {
    const response = await stack.call('POST', '/api/volt/ssh-keys', { body });
    expect(response.status).toBe(400);
    expect(response.body).toEqual(errorBody(400, 'VALIDATION_ERROR'));
    expect(response.body.details.map((d: { field: string }) => d.field)).toContain(field);
    expect(response.body.message).toContain(field);
  });

  it('answers 400 for malformed JSON and for a non-object body, never 500', async () => {
    const broken = await stack.call('POST', '/api/volt/ssh-keys', { rawBody: '{"name": "x",', headers: { 'content-type': 'application/json' } });
    expect(broken.status).toBe(400);
    expect(broken.body).toEqual(errorBody(400, 'INVALID_JSON'));
    for (const raw of ['[]', '"text"', 'null', '42']) {
      const response = await stack.call('POST', '/api/volt/ssh-keys', { rawBody: raw, headers: { 'content-type': 'application/json' } });
      expect(response.status).toBe(400);
      expect(response.body.error).toBe(true);
    }
  });

  it('answers a route it does not have in the seed shape, with the gateway’s own message', async () => {
    const missing = await stack.call('GET', '/api/volt/no-such-thing');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: true, status: 404, message: 'Route not found.', code: 'NOT_FOUND' });
  });

  it('takes a JSON content type with no body as no body, and names a prototype key', async () => {
    const json = { 'content-type': 'application/json' };
    // Clients that send the header on every request: a delete with nothing to say goes through.
    const created = await stack.call('POST', '/api/volt/ssh-keys', { body: { name: 'x', public_key: generateSshKey().line } });
    const deleted = await stack.call('DELETE', `/api/volt/ssh-keys/${created.body.id}`, { headers: json });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ id: created.body.id, deleted: true });
    // A route that needs a body says it is missing.
    const empty = await stack.call('POST', '/api/volt/ssh-keys', { rawBody: '', headers: json });
    expect(empty.status).toBe(400);
    expect(empty.body).toEqual(errorBody(400, 'VALIDATION_ERROR'));
    expect(empty.body.details).toEqual([{ field: 'body', rule: 'required', message: empty.body.message }]);
    expect(empty.body.message).toBe('The request body is empty; send a JSON object.');
    const poisoned = await stack.call('POST', '/api/volt/ssh-keys', { rawBody: '{"__proto__":{"admin":true},"name":"x"}', headers: json });
    expect(poisoned.status).toBe(400);
    expect(poisoned.body).toEqual(errorBody(400, 'INVALID_JSON'));
    expect(poisoned.body.message).toContain('"__proto__"');
  });

  it('answers 413 for a body over 1 MiB and 415 for a body that is not JSON', async () => {
    const big = await stack.call('POST', '/api/volt/ssh-keys', { body: { name: 'x', public_key: 'a'.repeat(1024 * 1024 + 10) } });
    expect(big.status).toBe(413);
    expect(big.body).toEqual(errorBody(413, 'PAYLOAD_TOO_LARGE'));
    const text = await stack.call('POST', '/api/volt/ssh-keys', { rawBody: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(text.status).toBe(415);
    expect(text.body).toEqual(errorBody(415, 'UNSUPPORTED_MEDIA_TYPE'));
  });

  it('answers 401 in the seed shape without a key, or with a wrong one, on either header', async () => {
    const none = await stack.call('GET', '/api/volt/ssh-keys', { key: null });
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ error: true, status: 401, message: 'Missing API key. Send it in the X-API-Key header.', code: 'INVALID_API_KEY' });
    expect((await stack.call('GET', '/api/volt/ssh-keys', { key: 'volt_wrong' })).status).toBe(401);
    const bearer = await stack.call('GET', '/api/volt/ssh-keys', { key: null, headers: { authorization: `Bearer ${stack.apiKey}` } });
    expect(bearer.status).toBe(200);
  });

  it('answers unknown routes with 404 in the same shape', async () => {
    const response = await stack.call('GET', '/api/volt/nothing-here');
    expect(response.status).toBe(404);
    expect(response.body).toEqual(errorBody(404, 'NOT_FOUND'));
  });

  it('rebuilds the SSH-key list from position 0 into exactly the rows built incrementally', async () => {
    for (const type of ['ed25519', 'ecdsa'] as const) {
      expect((await stack.call('POST', '/api/volt/ssh-keys', { body: { name: type, public_key: generateSshKey(type).line } })).status).toBe(201);
    }
    const rows = () => stack.db.db.selectFrom('pods_ssh_keys').selectAll().orderBy('tenant_id').orderBy('key_id').execute();
    const incremental = await rows();
    expect(incremental.length).toBeGreaterThanOrEqual(3);
    await stack.pods.runtime.projections.rebuild('pods.ssh-key-list');
    expect(await rows()).toEqual(incremental);
  });

  it('serves health, readiness and metrics', async () => {
    for (const service of [stack.gateway, stack.pods]) {
      const health = await fetch(`${service.url}/health`).then((r) => r.json());
      expect(health).toMatchObject({ status: 'ok', services: { ready: 'true' } });
      const ready = await fetch(`${service.url}/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ ready: true });
      const metrics = await fetch(`${service.url}/metrics`).then((r) => r.text());
      expect(metrics).toContain('process_cpu_user_seconds_total');
    }
  });
});
