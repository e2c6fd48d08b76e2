import { opsOnlyService } from '@volt/platform';
import { allMigrations } from '@volt/schema';

export const attestationService = opsOnlyService('attestation', 8085, allMigrations);
