import { serviceModule, type ServiceDefinition } from '@volt/platform';
import { CatalogueRefresher, PodLifecycle, Providers, Reconciler, podsProjections, seedSystemTemplates } from '@volt/pods-infra';
import { allMigrations } from '@volt/schema';
import { BillingEventsController } from './billing-events.controller';
import { PodsCommandsController } from './pods.commands.controller';
import { ledgerHolds } from './ledger-holds';
import { parsePodsConfig } from './pods.config';
import { POD_LIFECYCLE } from './tokens';

export function podsService(env: NodeJS.ProcessEnv = process.env): ServiceDefinition {
  const config = parsePodsConfig(env);
  const providers = new Providers(config.providers);
  let lifecycle: PodLifecycle | undefined;
  let reconciler: Reconciler | undefined;
  let catalogue: CatalogueRefresher | undefined;

  return {
    service: 'pods',
    defaultPort: 8081,
    migrations: allMigrations,
    projections: podsProjections,
    transport: true,
    relay: true,
    module: (runtime) => {
      lifecycle = new PodLifecycle({ db: runtime.db, store: runtime.store, providers, holds: ledgerHolds(runtime), keyring: config.keyring, logger: runtime.logger, crashAt: config.crashAt });
      reconciler = new Reconciler(runtime.db, runtime.store, providers, lifecycle, config.reconciler, runtime.logger);
      return serviceModule(runtime, { controllers: [PodsCommandsController, BillingEventsController], providers: [{ provide: POD_LIFECYCLE, useValue: lifecycle }] });
    },
    // Ready only after the catalogue is loaded and the first sweep has compared Volt with every provider.
    async onStart(runtime) {
      await seedSystemTemplates(runtime.store);
      await runtime.projections.catchUp();
      catalogue = new CatalogueRefresher(runtime.db, providers, config.catalogueRefreshMs, runtime.logger);
      await catalogue.refresh();
      // GPUs given back at a provider are listed again at once, not at the next timed refresh.
      reconciler!.whenCapacityFreed((provider) => catalogue!.refresh([provider]));
      await reconciler!.sweep();
      reconciler!.start(config.reconcileIntervalMs);
      catalogue.start();
    },
    async onStop() {
      await reconciler?.stop();
      await catalogue?.stop();
    },
  };
}
