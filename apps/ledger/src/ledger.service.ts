import { opsOnlyService } from '@volt/platform';
import { allMigrations } from '@volt/schema';

export const ledgerService = opsOnlyService('ledger', 8083, allMigrations);
