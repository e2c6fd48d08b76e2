import type { FastifyInstance } from 'fastify';
import { errorBody, survive } from './faults';
import type { Instance, Phase, World } from './world';

const STATUS: Record<Phase, string> = {
  provisioning: 'provisioning',
  running: 'active',
  stopping: 'powering_off',
  stopped: 'off',
  starting: 'powering_on',
  terminating: 'terminating',
  reclaimed: 'preempted',
};

function server(i: Instance) {
  const up = i.phase !== 'provisioning';
  return { uid: i.id, label: i.tag, resource: i.offerId, image: i.image, ssh_keys: i.sshKeys, status: STATUS[i.phase], ipv4: up ? i.ip : null, ssh_port: up ? i.sshPort : null, created: Math.floor(i.createdAt / 1000) };
}

/** The Targon-style API: confidential (TDX) servers by resource name, `{ data }` envelopes, `{ error: { code } }` errors. */
export function targonRoutes(app: FastifyInstance, world: World): void {
  const notFound = { status: 404, body: errorBody('targon', 404, 'server not found', 'not_found') };
  const find = (uid: string) => {
    const i = world.current(uid);
    return i && i.provider === 'targon' ? i : undefined;
  };

  app.get('/targon/api/resources', async (request, reply) => {
    if (!(await survive(world, 'targon', 'offers', request, reply))) return;
    const data = world.targon
      .filter((r) => !world.withdrawn.has(r.name))
      .map((r) => ({
        name: r.name,
        gpu_type: r.gpu,
        gpus: r.gpus,
        vram_gb: r.vramGb,
        vcpus: r.vcpus,
        memory_gb: r.memoryGb,
        disk_gb: r.diskGb,
        hourly_cost: world.price(r.name, r.basePrice),
        region: r.region,
        available: Math.max(0, r.capacity - world.used('targon', r.name)),
        tee: 'intel_tdx',
      }));
    return { data };
  });

  app.get('/targon/api/servers', async (request, reply) => {
    if (!(await survive(world, 'targon', 'list', request, reply))) return;
    return { data: world.list('targon').map(server) };
  });

  app.get<{ Params: { uid: string } }>('/targon/api/servers/:uid', async (request, reply) => {
    if (!(await survive(world, 'targon', 'describe', request, reply))) return;
    const i = find(request.params.uid);
    return i ? { data: server(i) } : reply.code(notFound.status).send(notFound.body);
  });

  app.post<{ Body: { resource?: string; image?: string; label?: string; ssh_keys?: string[] } }>('/targon/api/servers', async (request, reply) => {
    if (!(await survive(world, 'targon', 'create', request, reply))) return;
    const b = request.body ?? {};
    if (!b.resource || !b.image) return reply.code(400).send(errorBody('targon', 400, 'resource and image are required', 'invalid_request'));
    let status = 201;
    let created: Instance | undefined = b.label ? world.findByTag('targon', b.label) : undefined;
    if (created) status = 200;
    else {
      const resource = world.targon.find((r) => r.name === b.resource);
      if (!resource || world.withdrawn.has(resource.name) || world.used('targon', resource.name) >= resource.capacity) {
        return reply.code(409).send(errorBody('targon', 409, `no capacity for ${b.resource}`, 'capacity_unavailable'));
      }
      created = world.launch('targon', { tag: b.label ?? null, offerId: resource.name, gpus: resource.gpus, volumeGb: resource.diskGb, image: b.image, sshKeys: b.ssh_keys ?? [] });
    }
    if (status === 201 && world.faults.targon.createThen500 > 0 && Math.random() < world.faults.targon.createThen500) {
      return reply.code(500).send(errorBody('targon', 500, 'internal error', 'internal'));
    }
    return reply.code(status).send({ data: server(created) });
  });

  app.post<{ Params: { uid: string }; Body: { state?: string } }>('/targon/api/servers/:uid/power', async (request, reply) => {
    const on = request.body?.state === 'on';
    if (!(await survive(world, 'targon', on ? 'start' : 'stop', request, reply))) return;
    const i = find(request.params.uid);
    if (!i) return reply.code(notFound.status).send(notFound.body);
    if (on && (i.phase === 'running' || i.phase === 'starting')) return { data: server(i) };
    if (!on && (i.phase === 'stopped' || i.phase === 'stopping')) return { data: server(i) };
    if (i.phase !== (on ? 'stopped' : 'running')) return reply.code(409).send(errorBody('targon', 409, `server is ${STATUS[i.phase]}`, 'invalid_state'));
    world.setPhase(i, on ? 'starting' : 'stopping');
    return { data: server(i) };
  });

  // Changes a server's settings; only its SSH keys can change after create.
  app.patch<{ Params: { uid: string }; Body: { ssh_keys?: unknown } | undefined }>('/targon/api/servers/:uid', async (request, reply) => {
    if (!(await survive(world, 'targon', 'keys', request, reply))) return;
    const keys = request.body?.ssh_keys;
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) return reply.code(400).send(errorBody('targon', 400, 'ssh_keys must be a list of public keys', 'invalid_request'));
    const i = find(request.params.uid);
    if (!i) return reply.code(notFound.status).send(notFound.body);
    if (i.phase === 'terminating' || i.phase === 'reclaimed') return reply.code(409).send(errorBody('targon', 409, `server is ${STATUS[i.phase]}`, 'invalid_state'));
    world.setKeys(i, keys);
    return { data: server(i) };
  });

  app.delete<{ Params: { uid: string } }>('/targon/api/servers/:uid', async (request, reply) => {
    if (!(await survive(world, 'targon', 'destroy', request, reply))) return;
    const i = find(request.params.uid);
    if (!i) return reply.code(notFound.status).send(notFound.body);
    const noop = world.faults.targon.destroyNoop > 0 && Math.random() < world.faults.targon.destroyNoop;
    if (!noop && i.phase !== 'terminating') world.setPhase(i, 'terminating');
    return { data: server(i) };
  });

  app.get<{ Params: { uid: string }; Querystring: { nonce?: string } }>('/targon/api/servers/:uid/attestation', async (request, reply) => {
    if (!(await survive(world, 'targon', 'attest', request, reply))) return;
    const i = find(request.params.uid);
    if (!i) return reply.code(notFound.status).send(notFound.body);
    const nonce = request.query.nonce ?? '';
    if (!/^[0-9a-f]{32,128}$/.test(nonce)) return reply.code(400).send(errorBody('targon', 400, 'nonce must be 32 to 128 hex characters', 'invalid_nonce'));
    if (i.phase !== 'running') return reply.code(409).send(errorBody('targon', 409, 'attestation is available once the server is active', 'invalid_state'));
    return { data: world.attest(i, nonce) };
  });

  app.get('/targon/api/attestation-key', async () => ({ data: { algorithm: 'ed25519', public_key: world.publicKeyPem } }));
}
