import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Actor } from '@volt/contracts';

/** Who is calling, for which organization: set by the auth guard on every request. */
export interface Caller {
  tenantId: string;
  actor: Actor;
  requestId: string;
}

export const CurrentCaller = createParamDecorator((_data: unknown, ctx: ExecutionContext): Caller => {
  const caller = (ctx.switchToHttp().getRequest() as { volt?: Caller }).volt;
  if (!caller) throw new Error('no caller on the request: is the route guarded?');
  return caller;
});
