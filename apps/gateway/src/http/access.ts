import { applyDecorators } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import type { Role, Scope } from '@volt/identity-contracts';

/** What a route requires of the key calling it; read by the request pipeline. */
export interface RouteAccess {
  /** The key must carry this scope. */
  scope: Scope;
  /** The key's role must be at least this (writes need `member` regardless). */
  role?: Role;
  /** A second limit this route counts against, besides the key's hourly one. */
  limit?: 'pod-create';
}

/**
 * Declares a route's scope and role. Every /api/volt and /v1 route has one: the
 * pipeline refuses a route that forgot it rather than serving it unguarded.
 */
export const Access = (access: RouteAccess) => applyDecorators(RouteConfig({ access }));
