import 'reflect-metadata';
import { runService } from '@volt/platform';
import { fineTuneService } from './fine-tune.service';

runService(fineTuneService);
