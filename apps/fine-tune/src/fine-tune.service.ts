import { opsOnlyService } from '@volt/platform';
import { allMigrations } from '@volt/schema';

export const fineTuneService = opsOnlyService('fine-tune', 8084, allMigrations);
