import type { FastifyInstance } from 'fastify';
import { noFaults, type Faults, type ProviderName, type World } from './world';

const PROVIDERS: ProviderName[] = ['lium', 'targon'];
const isProvider = (p: unknown): p is ProviderName => PROVIDERS.includes(p as ProviderName);

/** Test and operator controls: faults, reclaims, planted orphans, withdrawn offers, GPUs others use. */
export function adminRoutes(app: FastifyInstance, world: World): void {
  app.get('/admin/state', async () => ({
    transition_ms: world.transitionMs,
    faults: world.faults,
    withdrawn: [...world.withdrawn],
    instances: PROVIDERS.flatMap((p) => world.list(p)),
  }));

  app.put<{ Params: { provider: string }; Body: Partial<Faults> }>('/admin/faults/:provider', async (request, reply) => {
    const { provider } = request.params;
    if (!isProvider(provider)) return reply.code(404).send({ message: 'unknown provider' });
    world.faults[provider] = { ...noFaults(), ...request.body };
    return world.faults[provider];
  });

  app.put<{ Body: { transition_ms?: number } }>('/admin/config', async (request) => {
    if (typeof request.body?.transition_ms === 'number') world.transitionMs = request.body.transition_ms;
    return { transition_ms: world.transitionMs };
  });

  app.post<{ Params: { id: string } }>('/admin/instances/:id/move', async (request, reply) => {
    const i = world.current(request.params.id);
    if (!i) return reply.code(404).send({ message: 'no such instance' });
    world.move(i);
    return i;
  });

  app.post<{ Params: { id: string } }>('/admin/instances/:id/reclaim', async (request, reply) => {
    const i = world.current(request.params.id);
    if (!i) return reply.code(404).send({ message: 'no such instance' });
    world.setPhase(i, 'reclaimed');
    return i;
  });

  app.post<{ Body: { provider?: string; tag?: string | null; offer_id?: string } }>('/admin/orphans', async (request, reply) => {
    const provider = request.body?.provider ?? 'lium';
    if (!isProvider(provider)) return reply.code(400).send({ message: 'unknown provider' });
    const offerId = request.body?.offer_id ?? (provider === 'lium' ? world.lium[0].id : world.targon[0].name);
    const instance = world.launch(provider, { tag: request.body?.tag ?? null, offerId, gpus: 1, volumeGb: 50, image: 'ubuntu:22.04', sshKeys: [] }, 'running');
    return reply.code(201).send(instance);
  });

  app.post<{ Body: { offer_id: string } }>('/admin/offers/withdraw', async (request) => {
    world.withdrawn.add(request.body.offer_id);
    world.changed();
    return { withdrawn: [...world.withdrawn] };
  });

  app.post<{ Body: { offer_id: string } }>('/admin/offers/restore', async (request) => {
    world.withdrawn.delete(request.body.offer_id);
    world.changed();
    return { withdrawn: [...world.withdrawn] };
  });

  // The provider's other customers take (or give back) GPUs of a Lium machine.
  app.post<{ Body: { offer_id: string; gpus: number } }>('/admin/offers/occupy', async (request) => {
    const { offer_id, gpus } = request.body;
    if (gpus > 0) world.occupied.set(offer_id, gpus);
    else world.occupied.delete(offer_id);
    return { occupied: Object.fromEntries(world.occupied) };
  });

  app.post('/admin/reset', async () => {
    world.reset();
    return { ok: true };
  });
}
