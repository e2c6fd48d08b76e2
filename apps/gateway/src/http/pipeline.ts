import type { Keyring } from '@volt/secrets';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { roleAtLeast } from '@volt/identity-contracts';
import type { AuditLog, IdempotencyStore, KeyPrincipal, RateDecision, RateLimiter } from '@volt/identity-infra';
import { currentTraceId, type Logger } from '@volt/telemetry';
import type { Authenticator } from '../auth/authenticator';
import { ApiException } from './api-error';
import type { RouteAccess } from './access';
import type { Caller } from './caller';
import { nonJsonBody, sendError, unstorableCharacter } from './error-handling';

export interface PipelineLimits {
  requestsPerHour: number;
  podCreatesPer15Min: number;
}

export interface PipelineDeps {
  auth: Authenticator;
  limiter: RateLimiter;
  idempotency: IdempotencyStore;
  audit: AuditLog;
  limits: PipelineLimits;
  logger: Logger;
  /** Fingerprints requests for their Idempotency-Key (a body may hold a password). */
  keyring: Keyring;
}

type VoltRequest = FastifyRequest & {
  volt?: Caller;
  idempotent?: { tenantId: string; key: string };
  routeUrl?: string;
  /** The pod-create limit's count this request took, given back if it creates no pod. */
  podCreate?: { bucket: string; taken: RateDecision };
};

/** Seconds in the pod-create limit's window (seed 002: 10 deployments per 15 minutes). */
const POD_CREATE_WINDOW_S = 900;

/** Served to anyone: health, readiness, metrics and the API's own description. */
const PUBLIC = /^\/(health|ready|metrics|openapi\.json|docs)(\/|\?|$)/;
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** The key from X-API-Key or Authorization: Bearer. */
export function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header) return header.trim();
  const auth = request.headers.authorization;
  if (auth && /^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '').trim();
  return undefined;
}

// The reset time is the end of the hour's window: the same text for a whole hour of requests.
let reset = { ms: 0, text: '' };

function rateHeaders(reply: FastifyReply, decision: RateDecision): void {
  const ms = decision.resetAt.getTime();
  if (ms !== reset.ms) reset = { ms, text: decision.resetAt.toISOString() };
  reply.header('X-RateLimit-Limit', decision.limit);
  reply.header('X-RateLimit-Remaining', decision.remaining);
  reply.header('X-RateLimit-Reset', reset.text);
}

function refuseRate(reply: FastifyReply, decision: RateDecision, message: string): void {
  reply.header('Retry-After', Math.max(1, Math.ceil((decision.resetAt.getTime() - Date.now()) / 1000)));
  sendError(reply, ApiException.of('RATE_LIMIT_EXCEEDED', message));
}

/**
 * Every request to the API passes here, in this order: authenticate (X-API-Key or
 * Bearer), count it against its key's hourly limit (or its address's, unauthenticated),
 * check the route's scope and role, claim its Idempotency-Key, and on the way out
 * write the audit record and the idempotent response.
 */
export function registerPipeline(fastify: FastifyInstance, deps: PipelineDeps): void {
  const { auth, limiter, idempotency, audit, limits, keyring } = deps;

  fastify.addHook('onRequest', async (request: VoltRequest, reply) => {
    if (PUBLIC.test(request.url)) return;
    // Fastify builds routeOptions afresh on every read: read it once per request.
    const route = request.routeOptions;
    const access = (route.config as { access?: RouteAccess } | undefined)?.access;
    request.routeUrl = route.url;
    const matched = route.url !== undefined;
    if (matched && !access) {
      sendError(reply, ApiException.of('NOT_FOUND', 'Route not found.'));
      return reply;
    }
    const secret = presentedKey(request);
    let principal: KeyPrincipal | null = null;
    try {
      if (secret) {
        const found = auth.authenticate(secret);
        principal = found instanceof Promise ? await found : found;
      }
    } catch (error) {
      deps.logger.error({ err: error }, 'key lookup failed');
      sendError(reply, ApiException.of('SERVICE_UNAVAILABLE', 'Authentication is temporarily unavailable. Retry in a few seconds.'));
      return reply;
    }
    const counted = limiter.take(principal ? `key:${principal.keyId}` : `ip:${request.ip}`, principal?.requestsPerHour ?? limits.requestsPerHour, 3600);
    const hourly = counted instanceof Promise ? await counted : counted;
    rateHeaders(reply, hourly);
    if (!hourly.allowed) {
      refuseRate(reply, hourly, `Rate limit exceeded (${hourly.limit} requests per hour). Retry after the Retry-After period.`);
      return reply;
    }
    const unsupported = nonJsonBody(request);
    if (unsupported) {
      sendError(reply, unsupported);
      return reply;
    }
    if (!principal) {
      const message = secret ? 'Invalid API key. Generate a new key at Dashboard > API Keys.' : 'Missing API key. Send it in the X-API-Key header.';
      sendError(reply, ApiException.of('INVALID_API_KEY', message));
      return reply;
    }
    request.volt = {
      tenantId: principal.orgId,
      actor: { type: 'api_key', id: principal.keyId },
      role: principal.role,
      scopes: principal.scopes,
      requestId: String(request.id),
    };
    if (!matched || !access) return; // the router answers 404
    if (!principal.scopes.includes(access.scope)) {
      sendError(reply, ApiException.of('INSUFFICIENT_SCOPE', `This API key lacks the "${access.scope}" scope.`));
      return reply;
    }
    const needed = access.role ?? (MUTATING.has(request.method) ? 'member' : 'viewer');
    if (!roleAtLeast(principal.role, needed)) {
      sendError(reply, ApiException.of('FORBIDDEN', `This needs an API key with the ${needed} role or stronger; this key is ${principal.role}.`));
      return reply;
    }
    if (access.limit === 'pod-create') {
      const limit = principal.podCreatesPer15Min ?? limits.podCreatesPer15Min;
      const bucket = `pod-create:${principal.orgId}`;
      const decision = await limiter.take(bucket, limit, POD_CREATE_WINDOW_S);
      if (!decision.allowed) {
        // The headers describe the limit that refused, as Retry-After does, not the hourly one.
        rateHeaders(reply, decision);
        refuseRate(reply, decision, `Pod creation limit reached (${limit} per 15 minutes for this organization).`);
        return reply;
      }
      request.podCreate = { bucket, taken: decision };
    }
  });

  fastify.addHook('preHandler', async (request: VoltRequest, reply) => {
    const unstorable = unstorableCharacter(request);
    if (unstorable) {
      sendError(reply, unstorable);
      return reply;
    }
    const key = request.headers['idempotency-key'];
    if (key === undefined || !request.volt || !MUTATING.has(request.method)) return;
    if (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key)) {
      sendError(reply, ApiException.of('VALIDATION_ERROR', 'Idempotency-Key must be 1-255 printable ASCII characters.'));
      return reply;
    }
    const hash = keyring.digest(`${request.method} ${request.url}\n${JSON.stringify(request.body ?? null)}`);
    const tenantId = request.volt.tenantId;
    const outcome = await idempotency.begin(tenantId, key, hash);
    switch (outcome.kind) {
      case 'started':
        request.idempotent = { tenantId, key };
        // A first attempt keeps the form earlier builds used, so a takeover across an upgrade
        // still finds the dead attempt's command ids.
        request.volt.idempotencyKey = outcome.attempt === 0 ? `${key}:${hash}` : `${key}:${hash}:${outcome.attempt}`;
        return;
      case 'replay':
        reply.code(outcome.status).header('content-type', 'application/json; charset=utf-8').header('Idempotent-Replayed', 'true');
        return reply.send(outcome.body);
      case 'reused':
        sendError(reply, ApiException.of('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used with a different request.'));
        return reply;
      case 'in_flight':
        sendError(reply, ApiException.of('IDEMPOTENCY_KEY_IN_USE', 'A request with this Idempotency-Key is still in progress; retry shortly.'));
        return reply;
    }
  });

  fastify.addHook('onSend', async (request: VoltRequest, reply, payload) => {
    const caller = request.volt;
    if (!caller) return payload;
    // The limit counts deployments: a create refused for what it asked (4xx) or answered from an
    // earlier attempt's record deployed nothing. (A provider's refusal, 5xx, was a deployment tried.)
    if (request.podCreate && ((reply.statusCode >= 400 && reply.statusCode < 500) || reply.getHeader('idempotent-replayed'))) {
      limiter.giveBack(request.podCreate.bucket, request.podCreate.taken, POD_CREATE_WINDOW_S);
    }
    const body = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : '';
    if (request.idempotent) {
      const { tenantId, key } = request.idempotent;
      request.idempotent = undefined;
      // A timeout (504) leaves the key in flight: its command completes on its own, and a retry
      // that ran it again would do it twice. Other failures on our side are run again by a retry.
      const replay = reply.statusCode < 300 ? caller.replayAs : undefined;
      if (replay) await idempotency.complete(tenantId, key, replay.status, JSON.stringify(replay.body));
      else if (reply.statusCode < 500) await idempotency.complete(tenantId, key, reply.statusCode, body);
      else if (reply.statusCode !== 504) await idempotency.abandon(tenantId, key);
    }
    const record = {
      tenantId: caller.tenantId,
      actor: caller.actor,
      method: request.method,
      route: request.routeUrl ?? 'unmatched',
      resourceId: resourceIdOf(request, reply.statusCode, body),
      status: reply.statusCode,
      requestId: caller.requestId,
      traceId: traceIdOf(request),
      clientIp: request.ip ?? null,
      occurredAt: new Date(),
    };
    // A change is on record before the client hears it happened.
    if (MUTATING.has(request.method)) await audit.record(record);
    else audit.recordLater(record);
    return payload;
  });
}

/** The request's trace: the active span's, or (without a tracer) the caller's traceparent. */
function traceIdOf(request: FastifyRequest): string | null {
  const active = currentTraceId();
  if (active) return active;
  const traceparent = request.headers.traceparent;
  const id = typeof traceparent === 'string' ? traceparent.split('-')[1] : undefined;
  return id && /^[0-9a-f]{32}$/.test(id) ? id : null;
}

// Ids come from the client: keep them short and free of NUL, which PostgreSQL text refuses.
const clean = (id: string) => id.replaceAll('\u0000', '').slice(0, 200);

function resourceIdOf(request: FastifyRequest, status: number, body: string): string | null {
  const params = request.params as Record<string, string> | undefined;
  const fromPath = params?.id ?? params?.key_id ?? params?.member_id;
  if (fromPath) return clean(fromPath);
  const fromBody = (request.body as { key_id?: unknown } | undefined)?.key_id;
  if (typeof fromBody === 'string') return clean(fromBody);
  if (status === 201 && body.startsWith('{')) {
    try {
      const id = (JSON.parse(body) as { id?: unknown }).id;
      return typeof id === 'string' ? id : null;
    } catch {
      return null;
    }
  }
  return null;
}
