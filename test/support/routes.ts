import type { Scope } from '@volt/identity-contracts';
import { generateSshKey } from './ssh';
import type { TestStack } from './stack';

/** One organization's resources, created through the API. */
export interface OrgFixture {
  orgId: string;
  apiKey: string;
  sshKeyId: string;
  templateId: string;
  credentialId: string;
  apiKeyId: string;
  memberId: string;
  podId: string;
}

export async function createFixture(stack: TestStack, org: { orgId: string; apiKey: string }): Promise<OrgFixture> {
  const call = (method: string, path: string, body?: unknown) => stack.call(method, path, { key: org.apiKey, body });
  const ok = <T>(r: { status: number; body: T }) => {
    if (r.status >= 300) throw new Error(`fixture call failed: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const ssh = ok(await call('POST', '/api/volt/ssh-keys', { name: 'laptop', public_key: generateSshKey().line })) as { id: string };
  const cred = ok(await call('POST', '/api/volt/docker-credentials', { name: 'ghcr', registry: 'ghcr.io', username: 'acme', password: 'fixture-password' })) as { id: string };
  const tpl = ok(await call('POST', '/api/volt/templates', { name: 'mine', image: 'ghcr.io/acme/app:v1', docker_credential_id: cred.id })) as { id: string };
  const key = ok(await call('POST', '/api/volt/api-keys', { name: 'ci' })) as { id: string };
  const member = ok(await call('POST', `/v1/orgs/${org.orgId}/members`, { email: `dev-${org.orgId}@example.com`, role: 'member' })) as { id: string };
  const pod = ok(await call('POST', '/api/volt/pods', { machine_id: 'mach_h100_01', template_id: 'tpl_pytorch21', ssh_key_ids: [ssh.id] })) as { id: string };
  return { ...org, sshKeyId: ssh.id, templateId: tpl.id, credentialId: cred.id, apiKeyId: key.id, memberId: member.id, podId: pod.id };
}

export interface RouteCase {
  method: string;
  /** With placeholders :org, :ssh, :tpl, :cred, :key, :member, :pod. */
  path: string;
  scope: Scope;
  /** A valid body (with placeholders filled the same way). */
  body?: unknown;
  /** Takes the id of a resource, so another organization's id must be a 404. */
  takesId: boolean;
}

/** Every /api/volt and /v1 route the gateway serves. */
export const ROUTES: RouteCase[] = [
  { method: 'GET', path: '/api/volt/ssh-keys', scope: 'ssh-keys', takesId: false },
  { method: 'POST', path: '/api/volt/ssh-keys', scope: 'ssh-keys', takesId: false, body: { name: 'k', public_key: 'ssh-ed25519 AAAA' } },
  { method: 'DELETE', path: '/api/volt/ssh-keys/:ssh', scope: 'ssh-keys', takesId: true },
  { method: 'GET', path: '/api/volt/templates', scope: 'templates', takesId: false },
  { method: 'POST', path: '/api/volt/templates', scope: 'templates', takesId: false, body: { name: 't', image: 'ubuntu:22.04' } },
  { method: 'GET', path: '/api/volt/templates/:tpl', scope: 'templates', takesId: true },
  { method: 'PUT', path: '/api/volt/templates/:tpl', scope: 'templates', takesId: true, body: { name: 'renamed' } },
  { method: 'DELETE', path: '/api/volt/templates/:tpl', scope: 'templates', takesId: true },
  { method: 'GET', path: '/api/volt/docker-credentials', scope: 'docker-credentials', takesId: false },
  { method: 'POST', path: '/api/volt/docker-credentials', scope: 'docker-credentials', takesId: false, body: { name: 'c', registry: 'ghcr.io', username: 'u', password: 'p' } },
  { method: 'GET', path: '/api/volt/docker-credentials/:cred', scope: 'docker-credentials', takesId: true },
  { method: 'DELETE', path: '/api/volt/docker-credentials/:cred', scope: 'docker-credentials', takesId: true },
  { method: 'GET', path: '/api/volt/api-keys', scope: 'api-keys', takesId: false },
  { method: 'POST', path: '/api/volt/api-keys', scope: 'api-keys', takesId: false, body: { name: 'k' } },
  { method: 'DELETE', path: '/api/volt/api-keys', scope: 'api-keys', takesId: true, body: { key_id: ':key' } },
  { method: 'GET', path: '/v1/orgs/:org', scope: 'api-keys', takesId: true },
  { method: 'GET', path: '/v1/orgs/:org/api-keys', scope: 'api-keys', takesId: true },
  { method: 'POST', path: '/v1/orgs/:org/api-keys', scope: 'api-keys', takesId: true, body: { name: 'k' } },
  { method: 'DELETE', path: '/v1/orgs/:org/api-keys/:key', scope: 'api-keys', takesId: true },
  { method: 'GET', path: '/v1/orgs/:org/members', scope: 'api-keys', takesId: true },
  { method: 'POST', path: '/v1/orgs/:org/members', scope: 'api-keys', takesId: true, body: { email: 'x@example.com' } },
  { method: 'PUT', path: '/v1/orgs/:org/members/:member', scope: 'api-keys', takesId: true, body: { role: 'viewer' } },
  { method: 'DELETE', path: '/v1/orgs/:org/members/:member', scope: 'api-keys', takesId: true },
  { method: 'GET', path: '/v1/audit', scope: 'api-keys', takesId: false },
  { method: 'GET', path: '/api/volt/pods', scope: 'pods', takesId: false },
  { method: 'POST', path: '/api/volt/pods', scope: 'pods', takesId: false, body: { machine_id: 'mach_h100_01', template_id: 'tpl_pytorch21' } },
  { method: 'GET', path: '/api/volt/pods/:pod', scope: 'pods', takesId: true },
  { method: 'PUT', path: '/api/volt/pods/:pod', scope: 'pods', takesId: true, body: { name: 'renamed' } },
  { method: 'POST', path: '/api/volt/pods/:pod/stop', scope: 'pods', takesId: true },
  { method: 'POST', path: '/api/volt/pods/:pod/start', scope: 'pods', takesId: true },
  { method: 'GET', path: '/api/volt/pods/:pod/can-terminate', scope: 'pods', takesId: true },
  { method: 'DELETE', path: '/api/volt/pods/:pod', scope: 'pods', takesId: true },
  { method: 'GET', path: '/api/volt/machines', scope: 'machines', takesId: false },
  { method: 'GET', path: '/api/volt/providers', scope: 'machines', takesId: false },
  { method: 'GET', path: '/api/volt/balance', scope: 'billing', takesId: false },
  { method: 'GET', path: '/api/volt/billing/transactions', scope: 'billing', takesId: false },
  { method: 'GET', path: '/api/volt/costs', scope: 'billing', takesId: false },
  { method: 'GET', path: '/api/volt/costs/monthly', scope: 'billing', takesId: false },
  { method: 'GET', path: '/v1/usage', scope: 'billing', takesId: false },
];

export interface Ids {
  org: string;
  ssh: string;
  tpl: string;
  cred: string;
  key: string;
  member: string;
  pod: string;
}

export const idsOf = (f: OrgFixture): Ids => ({ org: f.orgId, ssh: f.sshKeyId, tpl: f.templateId, cred: f.credentialId, key: f.apiKeyId, member: f.memberId, pod: f.podId });

/** Ids of the right shape that belong to nobody. */
export const randomIds = (): Ids => {
  const r = () => Math.random().toString(36).slice(2, 12).replace(/[^a-z0-9]/g, 'x');
  return { org: `org_${r()}`, ssh: `key_${r()}`, tpl: `tpl_${r()}`, cred: `cred_${r()}`, key: `ak_${r()}`, member: `mem_${r()}`, pod: `pod_${r()}` };
};

export function fill<T>(value: T, ids: Ids): T {
  const text = JSON.stringify(value ?? null).replace(/:(org|ssh|tpl|cred|key|member|pod)\b/g, (_m, name: keyof Ids) => ids[name]);
  return JSON.parse(text) as T;
}
