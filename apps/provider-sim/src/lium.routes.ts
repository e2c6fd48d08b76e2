import type { FastifyInstance } from 'fastify';
import { errorBody, survive } from './faults';
import type { Instance, Phase, World } from './world';

const STATE: Record<Phase, string> = {
  provisioning: 'PENDING',
  running: 'RUNNING',
  stopping: 'STOPPING',
  stopped: 'STOPPED',
  starting: 'STARTING',
  terminating: 'TERMINATING',
  reclaimed: 'PREEMPTED',
};

function pod(i: Instance) {
  return {
    id: i.id,
    tag: i.tag,
    executor_id: i.offerId,
    gpu_count: i.gpus,
    volume_gb: i.volumeGb,
    image: i.image,
    ssh_keys: i.sshKeys,
    state: STATE[i.phase],
    public_ip: i.phase === 'provisioning' ? null : i.ip,
    ssh_port: i.phase === 'provisioning' ? null : i.sshPort,
    created_at: new Date(i.createdAt).toISOString(),
  };
}

/** The Lium-style API: executors for rent, pods on them, SCREAMING states, `{ detail }` errors. */
export function liumRoutes(app: FastifyInstance, world: World): void {
  const fail = (status: number, message: string) => ({ status, body: errorBody('lium', status, message) });

  app.get('/lium/v1/executors', async (request, reply) => {
    if (!(await survive(world, 'lium', 'offers', request, reply))) return;
    const executors = world.lium
      .filter((m) => !world.withdrawn.has(m.id))
      .map((m) => ({
        id: m.id,
        machine_name: `${m.gpu} x${m.gpus}`,
        gpu_model: m.gpu,
        gpu_count: m.gpus,
        gpu_memory_gb: m.vramGb,
        cpu_count: m.cpus,
        memory_gb: m.ramGb,
        disk_gb: m.diskGb,
        price_per_gpu_hour: world.price(m.id, m.basePrice),
        free_gpus: Math.max(0, m.gpus - world.used('lium', m.id)),
        region: m.region,
        rental: m.rental,
        min_rental_minutes: m.rental === 'spot' ? 20 : 0,
      }));
    return { executors };
  });

  app.get('/lium/v1/pods', async (request, reply) => {
    if (!(await survive(world, 'lium', 'list', request, reply))) return;
    return { pods: world.list('lium').map(pod) };
  });

  app.get<{ Params: { id: string } }>('/lium/v1/pods/:id', async (request, reply) => {
    if (!(await survive(world, 'lium', 'describe', request, reply))) return;
    const i = world.current(request.params.id);
    if (!i || i.provider !== 'lium') return reply.code(404).send(errorBody('lium', 404, 'pod not found'));
    return pod(i);
  });

  app.post<{ Body: { executor_id?: string; gpu_count?: number; volume_gb?: number; image?: string; ssh_keys?: string[]; tag?: string } }>('/lium/v1/pods', async (request, reply) => {
    if (!(await survive(world, 'lium', 'create', request, reply))) return;
    const b = request.body ?? {};
    if (!b.executor_id || !b.image || !Number.isInteger(b.gpu_count) || (b.gpu_count ?? 0) < 1) return reply.code(422).send(errorBody('lium', 422, 'executor_id, image and gpu_count are required'));
    const outcome = (() => {
      if (b.tag) {
        const existing = world.findByTag('lium', b.tag);
        if (existing) return { status: 200, body: pod(existing) };
      }
      const machine = world.lium.find((m) => m.id === b.executor_id);
      if (!machine || world.withdrawn.has(machine.id)) return fail(404, 'executor not available');
      if (machine.gpus - world.used('lium', machine.id) < b.gpu_count!) return fail(409, 'not enough free GPUs on executor');
      const created = world.launch('lium', { tag: b.tag ?? null, offerId: machine.id, gpus: b.gpu_count!, volumeGb: b.volume_gb ?? 50, image: b.image!, sshKeys: b.ssh_keys ?? [] });
      return { status: 201, body: pod(created) };
    })();
    if (outcome.status === 201 && world.faults.lium.createThen500 > 0 && Math.random() < world.faults.lium.createThen500) {
      return reply.code(500).send(errorBody('lium', 500, 'internal error'));
    }
    return reply.code(outcome.status).send(outcome.body);
  });

  app.post<{ Params: { id: string }; Body: { gpu_count?: number; volume_gb?: number; ssh_keys?: string[] } | undefined }>('/lium/v1/pods/:id/start', async (request, reply) => {
    if (!(await survive(world, 'lium', 'start', request, reply))) return;
    const i = world.current(request.params.id);
    if (!i || i.provider !== 'lium') return reply.code(404).send(errorBody('lium', 404, 'pod not found'));
    if (i.phase === 'running' || i.phase === 'starting') return pod(i);
    if (i.phase !== 'stopped') return reply.code(409).send(errorBody('lium', 409, `pod is ${STATE[i.phase]}`));
    const b = request.body ?? {};
    // As a real cloud's: a volume grows, it never shrinks under the data on it.
    if (b.volume_gb && b.volume_gb < i.volumeGb) return reply.code(409).send(errorBody('lium', 409, `volume is ${i.volumeGb} GB; it can only grow`));
    if (b.gpu_count && b.gpu_count !== i.gpus) {
      const machine = world.lium.find((m) => m.id === i.offerId)!;
      if (machine.gpus - world.used('lium', machine.id) + i.gpus < b.gpu_count) return reply.code(409).send(errorBody('lium', 409, 'not enough free GPUs on executor'));
      i.gpus = b.gpu_count;
    }
    if (b.volume_gb) i.volumeGb = b.volume_gb;
    if (b.ssh_keys) i.sshKeys = b.ssh_keys;
    world.setPhase(i, 'starting');
    return pod(i);
  });

  // Replaces the pod's authorized keys; a running pod's agent installs them at once.
  app.put<{ Params: { id: string }; Body: { ssh_keys?: unknown } | undefined }>('/lium/v1/pods/:id/ssh-keys', async (request, reply) => {
    if (!(await survive(world, 'lium', 'keys', request, reply))) return;
    const keys = request.body?.ssh_keys;
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) return reply.code(422).send(errorBody('lium', 422, 'ssh_keys must be a list of public keys'));
    const i = world.current(request.params.id);
    if (!i || i.provider !== 'lium') return reply.code(404).send(errorBody('lium', 404, 'pod not found'));
    if (i.phase === 'terminating' || i.phase === 'reclaimed') return reply.code(409).send(errorBody('lium', 409, `pod is ${STATE[i.phase]}`));
    world.setKeys(i, keys);
    return pod(i);
  });

  app.post<{ Params: { id: string } }>('/lium/v1/pods/:id/stop', async (request, reply) => {
    if (!(await survive(world, 'lium', 'stop', request, reply))) return;
    const i = world.current(request.params.id);
    if (!i || i.provider !== 'lium') return reply.code(404).send(errorBody('lium', 404, 'pod not found'));
    if (i.phase === 'stopped' || i.phase === 'stopping') return pod(i);
    if (i.phase !== 'running') return reply.code(409).send(errorBody('lium', 409, `pod is ${STATE[i.phase]}`));
    world.setPhase(i, 'stopping');
    return pod(i);
  });

  app.delete<{ Params: { id: string } }>('/lium/v1/pods/:id', async (request, reply) => {
    if (!(await survive(world, 'lium', 'destroy', request, reply))) return;
    const i = world.current(request.params.id);
    if (!i || i.provider !== 'lium') return reply.code(404).send(errorBody('lium', 404, 'pod not found'));
    const noop = world.faults.lium.destroyNoop > 0 && Math.random() < world.faults.lium.destroyNoop;
    if (!noop && i.phase !== 'terminating') world.setPhase(i, 'terminating');
    return reply.code(202).send({ id: i.id, state: 'TERMINATING' });
  });
}
