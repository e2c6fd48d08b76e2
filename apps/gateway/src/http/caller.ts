import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Actor } from '@volt/contracts';
import type { Role, Scope } from '@volt/identity-contracts';
import type { ApiException } from './api-error';

/** Who is calling, for which organization: set by the request pipeline on every authenticated request. */
export interface Caller {
  tenantId: string;
  actor: Actor;
  role: Role;
  scopes: Scope[];
  requestId: string;
  /** The Idempotency-Key, when the client sent one: commands derive their ids from it. */
  idempotencyKey?: string;
  /**
   * Set by a handler whose response shows a secret once (a new API key): what a repeat of the
   * request under the same Idempotency-Key answers instead, so that the secret is never stored.
   */
  replayAs?: ApiException;
}

export const CurrentCaller = createParamDecorator((_data: unknown, ctx: ExecutionContext): Caller => {
  const caller = (ctx.switchToHttp().getRequest() as { volt?: Caller }).volt;
  if (!caller) throw new Error('no caller on the request: is the route guarded?');
  return caller;
});
