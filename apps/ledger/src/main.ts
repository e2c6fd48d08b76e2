import 'reflect-metadata';
import { runService } from '@volt/platform';
import { ledgerService } from './ledger.service';

runService(ledgerService());
