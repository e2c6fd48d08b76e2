import 'reflect-metadata';
import { runService } from '@volt/platform';
import { podsService } from './pods.service';

runService(podsService());
