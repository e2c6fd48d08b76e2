import 'reflect-metadata';
import { runService } from '@volt/platform';
import { billingService } from './billing.service';

runService(billingService());
