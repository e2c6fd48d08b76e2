import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring } from '@volt/secrets';
import { SYSTEM_TEMPLATES } from '@volt/pods-contracts';
import { resolveDeployImage } from '@volt/pods-infra';
import { startStack, type TestStack } from '../support/stack';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.stop());

const sdxl = {
  name: 'Stable Diffusion XL',
  image: 'ghcr.io/my-org/sdxl-server:v2.0',
  category: 'image-generation',
  description: 'SDXL with ComfyUI and all LoRA adapters',
  ports: [8188, 22],
  env_vars: { MODEL_DIR: '/workspace/models', COMFY_ARGS: '--listen 0.0.0.0' },
};

describe('templates (seed 000)', () => {
  it('lists the system templates for every organization, and refuses to change or delete them (403)', async () => {
    const other = await stack.createOrg('Second');
    for (const key of [stack.apiKey, other.apiKey]) {
      const list = await stack.call('GET', '/api/volt/templates', { key });
      expect(list.body.templates.filter((t: { is_system: boolean }) => t.is_system).map((t: { id: string }) => t.id)).toEqual(SYSTEM_TEMPLATES.map((t) => t.templateId).sort());
    }
    expect((await stack.call('GET', '/api/volt/templates/tpl_pytorch21')).body).toEqual({
      id: 'tpl_pytorch21',
      name: 'PyTorch 2.1 CUDA 12.1',
      image: 'pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel',
      category: 'machine-learning',
      is_system: true,
      description: 'Official PyTorch image with CUDA 12.1 and cuDNN 8',
      docker_credential_id: null,
      ports: [22],
      env_vars: {},
      created_at: '2025-12-01T00:00:00.000Z',
    });
    for (const [method, body] of [['PUT', { name: 'mine now' }], ['DELETE', undefined]] as const) {
      const refused = await stack.call(method, '/api/volt/templates/tpl_pytorch21', { body });
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({ error: true, status: 403, code: 'SYSTEM_TEMPLATE' });
    }
    expect((await stack.call('GET', '/api/volt/templates/tpl_pytorch21')).body.name).toBe('PyTorch 2.1 CUDA 12.1');
  });

  it('creates, reads, updates and deletes a custom template field for field', async () => {
    const cred = await stack.call('POST', '/api/volt/docker-credentials', { body: { name: 'GHCR', registry: 'ghcr.io', username: 'my-org', password: 'ghp_secret' } });
    const created = await stack.call('POST', '/api/volt/templates', { body: { ...sdxl, docker_credential_id: cred.body.id } });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: expect.stringMatching(/^tpl_/), ...sdxl, is_system: false, docker_credential_id: cred.body.id, created_at: expect.any(String) });
    const id = created.body.id;
    expect((await stack.call('GET', `/api/volt/templates/${id}`)).body).toEqual(created.body);
    const listed = (await stack.call('GET', '/api/volt/templates')).body.templates.find((t: { id: string }) => t.id === id);
    expect(listed).toEqual({ id, name: sdxl.name, image: sdxl.image, category: sdxl.category, is_system: false, description: sdxl.description, created_at: created.body.created_at });

    const updated = await stack.call('PUT', `/api/volt/templates/${id}`, { body: { name: 'Stable Diffusion XL v2.1', image: 'ghcr.io/my-org/sdxl-server:v2.1', env_vars: { MODEL_DIR: '/m' } } });
    expect(updated.body).toEqual({ id, name: 'Stable Diffusion XL v2.1', image: 'ghcr.io/my-org/sdxl-server:v2.1', category: 'image-generation', is_system: false, message: 'Template updated. Existing pods are not affected.' });
    expect((await stack.call('GET', `/api/volt/templates/${id}`)).body).toMatchObject({ ports: [8188, 22], env_vars: { MODEL_DIR: '/m' }, docker_credential_id: cred.body.id });
    const deleted = await stack.call('DELETE', `/api/volt/templates/${id}`);
    expect(deleted.body).toEqual({ id, deleted: true, message: 'Template deleted. Existing pods using this template are not affected.' });
    expect((await stack.call('GET', `/api/volt/templates/${id}`)).status).toBe(404);
  });

  it('refuses another organization’s Docker credential, naming the field', async () => {
    const other = await stack.createOrg('Third');
    const theirs = await stack.call('POST', '/api/volt/docker-credentials', { key: other.apiKey, body: { name: 'x', registry: 'ghcr.io', username: 'u', password: 'p' } });
    const refused = await stack.call('POST', '/api/volt/templates', { body: { ...sdxl, docker_credential_id: theirs.body.id } });
    expect(refused.status).toBe(400);
    expect(refused.body.details).toEqual([expect.objectContaining({ field: 'docker_credential_id', rule: 'exists' })]);
  });

  it('bounds environment variables at 64 KiB in all, so that a template always fits an event the relay can publish', async () => {
    // A body just under the 1 MiB limit, each value within its 4,096 characters (three bytes each):
    // it used to be stored, and its event, past NATS's max_payload, stopped the relay for everyone.
    const env = (chars: number) => Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`VAR_${i}`, '€'.repeat(chars)]));
    for (const [method, path] of [['POST', '/api/volt/templates'], ['PUT', `/api/volt/templates/${(await stack.call('POST', '/api/volt/templates', { body: sdxl })).body.id}`]] as const) {
      const r = await stack.call(method, path, { body: { ...sdxl, env_vars: env(3400) } });
      expect(r.status).toBe(400);
      expect(r.body.details).toEqual([{ field: 'env_vars', rule: 'max_bytes', message: 'environment variables take at most 64 KiB in all' }]);
    }
    // Up to the limit is fine, and read back whole.
    const fits = await stack.call('POST', '/api/volt/templates', { body: { ...sdxl, env_vars: env(210) } });
    expect(fits.status).toBe(201);
    expect((await stack.call('GET', `/api/volt/templates/${fits.body.id}`)).body.env_vars).toEqual(env(210));
  });

  it('mass assignment: is_system, id, org_id, status, created_at in a body are refused and never applied', async () => {
    for (const extra of [{ is_system: true }, { id: 'tpl_pytorch21' }, { org_id: 'org_x' }, { status: 'x' }, { created_at: '2020-01-01T00:00:00Z' }]) {
      const r = await stack.call('POST', '/api/volt/templates', { body: { ...sdxl, ...extra } });
      expect(r.status).toBe(400);
      expect(r.body.details[0]).toMatchObject({ rule: 'unrecognized_keys' });
    }
    const ssh = await stack.call('POST', '/api/volt/ssh-keys', { body: { name: 'k', public_key: 'ssh-ed25519 AAAA', fingerprint: 'SHA256:fake' } });
    expect(ssh.status).toBe(400);
    const cred = await stack.call('POST', '/api/volt/docker-credentials', { body: { name: 'c', registry: 'ghcr.io', username: 'u', password: 'p', id: 'cred_mine' } });
    expect(cred.status).toBe(400);
    expect((await stack.call('GET', '/api/volt/templates')).body.templates.filter((t: { is_system: boolean }) => t.is_system)).toHaveLength(SYSTEM_TEMPLATES.length);
  });
});

describe('Docker credentials (seed 000)', () => {
  it('stores a credential, never returns the password, and deletes it', async () => {
    const body = { name: 'AWS ECR Production', registry: '123456789.dkr.ecr.us-east-1.amazonaws.com', username: 'AWS', password: 'eyJwYXlsb2FkIjoiNGZ...' };
    const created = await stack.call('POST', '/api/volt/docker-credentials', { body });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: expect.stringMatching(/^cred_/), name: body.name, registry: body.registry, username: 'AWS', created_at: expect.any(String) });
    expect((await stack.call('GET', `/api/volt/docker-credentials/${created.body.id}`)).body).toEqual(created.body);
    const list = await stack.call('GET', '/api/volt/docker-credentials');
    expect(list.body.credentials).toContainEqual(created.body);
    expect(list.body.total).toBe(list.body.credentials.length);
    const sealed = await stack.db.db.selectFrom('pods_docker_secrets').selectAll().where('credential_id', '=', created.body.id).executeTakeFirstOrThrow();
    expect(sealed.key_id).toBe('test1');
    expect(JSON.stringify(sealed)).not.toContain(body.password);
    expect((await stack.call('DELETE', `/api/volt/docker-credentials/${created.body.id}`)).body).toEqual({ id: created.body.id, deleted: true, message: 'Docker credential removed.' });
    expect((await stack.call('GET', `/api/volt/docker-credentials/${created.body.id}`)).status).toBe(404);
    expect(await stack.db.db.selectFrom('pods_docker_secrets').selectAll().where('credential_id', '=', created.body.id).execute()).toEqual([]);
  });

  it('lets a credential in use be deleted; the template’s next deploy then fails with a clear error', async () => {
    const keyring = Keyring.parse(stack.env.VOLT_SECRETS_KEY);
    const cred = await stack.call('POST', '/api/volt/docker-credentials', { body: { name: 'ghcr', registry: 'ghcr.io', username: 'bot', password: 'pull-secret' } });
    const tpl = await stack.call('POST', '/api/volt/templates', { body: { ...sdxl, docker_credential_id: cred.body.id } });
    const before = await resolveDeployImage(stack.db.db, keyring, stack.orgId, tpl.body.id);
    expect(before).toEqual({ ok: true, value: { image: sdxl.image, ports: sdxl.ports, envVars: sdxl.env_vars, registryAuth: { registry: 'ghcr.io', username: 'bot', password: 'pull-secret' } } });
    expect((await stack.call('DELETE', `/api/volt/docker-credentials/${cred.body.id}`)).status).toBe(200);
    const after = await resolveDeployImage(stack.db.db, keyring, stack.orgId, tpl.body.id);
    expect(after.ok).toBe(false);
    expect(!after.ok && after.error.message).toMatch(new RegExp(`Docker credential ${cred.body.id}, which was deleted`));
    expect((await stack.call('GET', `/api/volt/templates/${tpl.body.id}`)).body.docker_credential_id).toBe(cred.body.id);
  });
});
