import * as http from 'node:http';
import * as https from 'node:https';
import type { ProviderName } from '@volt/pods-contracts';
import type { z } from 'zod';
import { counter } from '@volt/telemetry';
import { ProviderRejectedError, ProviderUnavailableError } from './port';

const apiErrors = counter('gpu_provider_api_errors_total', 'Provider API calls that failed (5xx, timeout, network), per attempt', ['provider', 'operation']);
const unreadable = counter('gpu_provider_unreadable_total', 'Provider answers (or items of a list) Volt could not read, which failed the call or were left out', ['provider', 'operation']);

export interface ProviderHttpOptions {
  baseUrl: string;
  timeoutMs: number;
  /** Attempts after the first, on 5xx, timeouts and network errors. */
  retries: number;
  backoffMs: number;
  /** Consecutive failed calls that open the circuit, and how long it stays open. */
  breakerThreshold: number;
  breakerCooldownMs: number;
}

export interface HttpAnswer<T> {
  status: number;
  body: T;
}

class RetryableError extends Error {}

/**
 * An HTTP client for one provider: a timeout per attempt, retries with exponential
 * backoff and full jitter on 5xx and timeouts, and a circuit breaker so an outage
 * answers fast instead of tying up every caller. 4xx answers are returned, not retried.
 */
export class ProviderHttp {
  private failures = 0;
  private openUntil = 0;
  private readonly base: URL;
  private readonly transport: typeof http | typeof https;
  /** Connections kept open between calls, as many as there are calls in flight. */
  private readonly agent: http.Agent;

  constructor(readonly provider: ProviderName, private readonly options: ProviderHttpOptions) {
    this.base = new URL(options.baseUrl);
    this.transport = this.base.protocol === 'https:' ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true });
  }

  get available(): boolean {
    return Date.now() >= this.openUntil;
  }

  async call<T>(operation: string, method: string, path: string, body?: unknown): Promise<HttpAnswer<T>> {
    if (!this.available) throw new ProviderUnavailableError(this.provider, operation, 'circuit open after repeated failures');
    let lastError = '';
    for (let attempt = 0; attempt <= this.options.retries; attempt++) {
      if (attempt > 0) await sleep(Math.random() * this.options.backoffMs * 2 ** (attempt - 1));
      try {
        const answer = await this.once<T>(method, path, body);
        this.failures = 0;
        return answer;
      } catch (error) {
        if (!(error instanceof RetryableError)) throw error;
        apiErrors.inc({ provider: this.provider, operation });
        lastError = error.message;
      }
    }
    if (++this.failures >= this.options.breakerThreshold) {
      this.openUntil = Date.now() + this.options.breakerCooldownMs;
      // Half-open after the cooldown: one more failure opens it again at once.
      this.failures = this.options.breakerThreshold - 1;
    }
    throw new ProviderUnavailableError(this.provider, operation, lastError);
  }

  /**
   * `body` as `schema` reads it. An answer Volt cannot read (a changed field, a number as text, an
   * HTML page with a 200) fails the call as an outage does, rather than putting undefined and NaN
   * in the catalogue or a pod.
   */
  read<T>(operation: string, schema: z.ZodType<T>, body: unknown): T {
    const parsed = schema.safeParse(body);
    if (parsed.success) return parsed.data;
    unreadable.inc({ provider: this.provider, operation });
    const issue = parsed.error.issues[0];
    throw new ProviderUnavailableError(this.provider, operation, `an answer Volt cannot read (${issue.path.join('.') || 'body'}: ${issue.message})`);
  }

  /** The items of a list that `schema` reads; the others are left out and counted. */
  readEach<T>(operation: string, schema: z.ZodType<T>, items: unknown[]): T[] {
    const read: T[] = [];
    for (const item of items) {
      const parsed = schema.safeParse(item);
      if (parsed.success) read.push(parsed.data);
      else unreadable.inc({ provider: this.provider, operation });
    }
    return read;
  }

  /** As call, but a 4xx is an error too (404 and 409 are for the caller to name first). */
  async ok<T>(operation: string, method: string, path: string, body?: unknown): Promise<T> {
    const answer = await this.call<T>(operation, method, path, body);
    if (answer.status >= 400) throw new ProviderRejectedError(this.provider, operation, answer.status, JSON.stringify(answer.body).slice(0, 200));
    return answer.body;
  }

  /**
   * One attempt. node:http rather than fetch: a third of the client CPU per call (fetch's web
   * streams and per-request objects cost ~150 µs more per call here, measured), and the pods
   * service calls a provider for every create, stop, delete and sweep.
   */
  private async once<T>(method: string, path: string, body?: unknown): Promise<HttpAnswer<T>> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const url = new URL(`${this.base.pathname.replace(/\/$/, '')}${path}`, this.base);
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const request = this.transport.request(
        url,
        {
          method,
          agent: this.agent,
          headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
          response.on('error', reject);
          // Cut off mid-answer (the timeout, the provider going away): no 'end' comes.
          response.on('close', () => response.complete || reject(new Error('the connection closed before the answer ended')));
        },
      );
      // A timer cleared with the request, not AbortSignal.timeout: that one fires (and makes a
      // DOMException) long after every answer, a cost per call that showed in profiles.
      const timer = setTimeout(() => request.destroy(Object.assign(new Error('timed out'), { name: 'TimeoutError' })), this.options.timeoutMs);
      request.on('close', () => clearTimeout(timer));
      request.on('error', reject);
      request.end(payload);
    }).catch((error: Error) => {
      const timedOut = error.name === 'AbortError' || error.name === 'TimeoutError';
      throw new RetryableError(timedOut ? `no answer within ${this.options.timeoutMs} ms` : `network error: ${error.message}`);
    });
    if (answer.status >= 500) throw new RetryableError(`HTTP ${answer.status}`);
    let parsed: unknown = answer.text;
    try {
      parsed = answer.text ? JSON.parse(answer.text) : undefined;
    } catch {
      /* keep the text */
    }
    return { status: answer.status, body: parsed as T };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
