import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ApiException } from './api-error';
import type { Caller } from './caller';

export const BOOTSTRAP_KEY_CONFIG = Symbol('BootstrapKeyConfig');

export interface BootstrapKeyConfig {
  apiKey: string;
  tenantId: string;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** The key from X-API-Key or Authorization: Bearer. */
export function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header) return header.trim();
  const auth = request.headers.authorization;
  if (auth && /^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '').trim();
  return undefined;
}

/**
 * Until organizations and API keys exist, one key from the environment maps to one
 * organization. Compared as digests in constant time.
 */
@Injectable()
export class BootstrapKeyGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(@Inject(BOOTSTRAP_KEY_CONFIG) private readonly config: BootstrapKeyConfig) {
    this.expected = digest(config.apiKey);
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest & { volt?: Caller }>();
    const key = presentedKey(request);
    if (!key || !timingSafeEqual(digest(key), this.expected)) {
      throw ApiException.of('INVALID_API_KEY', 'Invalid API key. Generate a new key at Dashboard > API Keys.');
    }
    request.volt = { tenantId: this.config.tenantId, actor: { type: 'api_key', id: 'bootstrap' }, requestId: String(request.id) };
    return true;
  }
}
