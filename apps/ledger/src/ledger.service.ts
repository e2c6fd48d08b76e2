import { serviceModule, type ServiceDefinition } from '@volt/platform';
import { Ledger, ledgerProjections } from '@volt/ledger-infra';
import { allMigrations } from '@volt/schema';
import { LedgerCommandsController } from './ledger.commands.controller';
import { LEDGER } from './tokens';

/** How often holds past their expiry are released. */
const EXPIRE_HOLDS_MS = 30_000;

export function ledgerService(): ServiceDefinition {
  let ledger: Ledger | undefined;
  let timer: NodeJS.Timeout | undefined;
  return {
    service: 'ledger',
    defaultPort: 8083,
    migrations: allMigrations,
    projections: ledgerProjections,
    transport: true,
    relay: true,
    module: (runtime) => {
      ledger = new Ledger(runtime.db);
      return serviceModule(runtime, { controllers: [LedgerCommandsController], providers: [{ provide: LEDGER, useValue: ledger }] });
    },
    async onStart(runtime) {
      const expire = () =>
        ledger!
          .expireHolds()
          .then((n) => n > 0 && runtime.logger.info({ expired: n }, 'released expired holds'))
          .catch((error) => runtime.logger.warn({ err: error }, 'expiring holds failed'));
      await expire();
      timer = setInterval(expire, EXPIRE_HOLDS_MS).unref();
    },
    async onStop() {
      clearInterval(timer);
    },
  };
}
