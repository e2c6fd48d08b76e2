import 'reflect-metadata';
import { runService } from '@volt/platform';
import { gatewayService } from './gateway.service';

runService(gatewayService());
