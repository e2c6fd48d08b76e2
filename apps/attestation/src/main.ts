import 'reflect-metadata';
import { runService } from '@volt/platform';
import { attestationService } from './attestation.service';

runService(attestationService);
