import { SetMetadata } from '@nestjs/common';
import type { z } from 'zod';

export const API_DOC = 'volt:api-doc';

/** How a route is described in /openapi.json: the same zod schemas the route parses and returns. */
export interface ApiDocSpec {
  summary: string;
  body?: z.ZodType;
  query?: z.ZodType;
  response: z.ZodType;
}

export const ApiDoc = (spec: ApiDocSpec) => SetMetadata(API_DOC, spec);
