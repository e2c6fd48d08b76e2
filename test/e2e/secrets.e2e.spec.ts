import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { appsFixture } from '../support/process';
import { EventStore } from '@volt/event-store';
import { createOrganization } from '@volt/identity-infra';
import { Keyring } from '@volt/secrets';
import { readWholeStream } from '@volt/testing';

const CANARY_PASSWORD = `canary-pw-${Math.random().toString(36).slice(2)}-registry`;

const apps = appsFixture();
const wire: string[] = [];
const logs = () => apps.logs();
const start = async (app: string, env: Record<string, string>) => (await apps.start(app, env)).url;

let gateway: string;
let ownerKey: string;

beforeAll(async () => {
  const { db, messaging } = apps;
  // Everything published under this test's prefix: commands, replies and events.
  messaging.nc.subscribe(`${messaging.prefix}.>`, { callback: (_e, msg) => void wire.push(`${msg.subject} ${new TextDecoder().decode(msg.data)}`) });
  ownerKey = (await createOrganization(new EventStore(db.db), { name: 'Canary' })).apiKey;
  const env = apps.env({ LOG_LEVEL: 'trace', VOLT_SECRETS_KEY: Keyring.generate() });
  await start('pods', env);
  gateway = await start('gateway', env);
}, 60_000);


describe('secrets: a registry password and an API key, once stored, appear nowhere', () => {
  it('not in pg_dump, the JetStream streams, anything on the wire, the logs, or any response after creation', async () => {
    const responses: string[] = [];
    const call = async (method: string, url: string, key: string, body?: unknown) => {
      const r = await fetch(`${gateway}${url}`, { method, headers: { 'x-api-key': key, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
      const text = await r.text();
      return { status: r.status, text };
    };
    const keyResponse = await call('POST', '/api/volt/api-keys', ownerKey, { name: 'canary key' });
    expect(keyResponse.status).toBe(201);
    const canaryKey: string = JSON.parse(keyResponse.text).key;
    const keyId: string = JSON.parse(keyResponse.text).id;

    // Store the password, fail validation with it, and use the new key: successes and errors.
    const stored = await call('POST', '/api/volt/docker-credentials', canaryKey, { name: 'ghcr', registry: 'ghcr.io', username: 'bot', password: CANARY_PASSWORD });
    expect(stored.status).toBe(201);
    responses.push(stored.text);
    responses.push((await call('POST', '/api/volt/docker-credentials', canaryKey, { name: 'bad', registry: 'not a registry!', username: 'bot', password: CANARY_PASSWORD })).text);
    responses.push((await call('POST', '/api/volt/docker-credentials', canaryKey, { name: 'x', registry: 'ghcr.io', username: 'u', password: CANARY_PASSWORD, extra: CANARY_PASSWORD })).text);
    responses.push((await call('GET', '/api/volt/docker-credentials', canaryKey)).text);
    responses.push((await call('GET', `/api/volt/docker-credentials/${JSON.parse(stored.text).id}`, canaryKey)).text);
    responses.push((await call('GET', '/api/volt/api-keys', canaryKey)).text);
    responses.push((await call('GET', '/api/volt/nothing', canaryKey)).text);
    responses.push((await call('GET', '/v1/audit', canaryKey)).text);
    responses.push((await call('DELETE', '/api/volt/api-keys', ownerKey, { key_id: keyId })).text);
    responses.push((await call('GET', '/api/volt/ssh-keys', canaryKey)).text);
    await new Promise((r) => setTimeout(r, 500)); // let the relay publish and the audit batch land

    const { stdout: dump } = await promisify(execFile)('pg_dump', ['--data-only', apps.db.url], { maxBuffer: 256 * 1024 * 1024 });
    const streams = [
      ...(await readWholeStream(apps.messaging.nc, apps.messaging.names.eventStream)),
      ...(await readWholeStream(apps.messaging.nc, apps.messaging.names.commandStream)),
    ].map((m) => JSON.stringify(m));

    // The checks could fail: the things searched do hold the neighbouring facts.
    expect(dump).toContain('ghcr.io');
    expect(streams.join('\n')).toContain('DockerCredentialAdded');
    expect(wire.join('\n')).toContain('AddDockerCredential');
    expect(logs()).toContain('gateway ready');
    expect(responses.join('\n')).toContain('"username":"bot"');

    for (const secret of [CANARY_PASSWORD, canaryKey, canaryKey.slice('volt_sk_live_'.length)]) {
      expect({ where: 'pg_dump', found: dump.includes(secret) }).toEqual({ where: 'pg_dump', found: false });
      expect({ where: 'jetstream', found: streams.some((s) => s.includes(secret)) }).toEqual({ where: 'jetstream', found: false });
      expect({ where: 'wire', found: wire.some((s) => s.includes(secret)) }).toEqual({ where: 'wire', found: false });
      expect({ where: 'logs', found: logs().includes(secret) }).toEqual({ where: 'logs', found: false });
      expect({ where: 'responses', found: responses.some((s) => s.includes(secret)) }).toEqual({ where: 'responses', found: false });
    }
  });
});
