import { opsOnlyService } from '@volt/platform';
import { allMigrations } from '@volt/schema';

export const billingService = opsOnlyService('billing', 8082, allMigrations);
