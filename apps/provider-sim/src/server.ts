import Fastify from 'fastify';
import { adminRoutes } from './admin.routes';
import { liumRoutes } from './lium.routes';
import { targonRoutes } from './targon.routes';
import { World, type WorldOptions } from './world';

export interface ProviderSim {
  url: string;
  world: World;
  close(): Promise<void>;
}

/** Both simulated clouds and the admin API on one HTTP server. */
export async function startProviderSim(options: WorldOptions & { port?: number; host?: string }): Promise<ProviderSim> {
  const host = options.host ?? '127.0.0.1';
  // Instances' SSH endpoints listen where the API does, and are reported at that address unless told otherwise.
  const world = new World({ ...options, sshHost: options.sshHost ?? (host === '0.0.0.0' ? '127.0.0.1' : host), sshBind: options.sshBind ?? host });
  const app = Fastify({ logger: false, keepAliveTimeout: 30_000 });
  app.get('/health', async () => ({ status: 'ok' }));
  liumRoutes(app, world);
  targonRoutes(app, world);
  adminRoutes(app, world);
  await app.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    world,
    async close() {
      await app.close();
      world.close();
      world.saveNow();
    },
  };
}
