import type { ProviderName } from '@volt/pods-contracts';
import { counter } from '@volt/telemetry';
import { ProviderRejectedError, ProviderUnavailableError } from './port';

const apiErrors = counter('gpu_provider_api_errors_total', 'Provider API calls that failed (5xx, timeout, network), per attempt', ['provider', 'operation']);

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

  constructor(readonly provider: ProviderName, private readonly options: ProviderHttpOptions) {}

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

  /** As call, but a 4xx is an error too (404 and 409 are for the caller to name first). */
  async ok<T>(operation: string, method: string, path: string, body?: unknown): Promise<T> {
    const answer = await this.call<T>(operation, method, path, body);
    if (answer.status >= 400) throw new ProviderRejectedError(this.provider, operation, answer.status, JSON.stringify(answer.body).slice(0, 200));
    return answer.body;
  }

  private async once<T>(method: string, path: string, body?: unknown): Promise<HttpAnswer<T>> {
    let response: Response;
    try {
      response = await fetch(`${this.options.baseUrl}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError';
      throw new RetryableError(timedOut ? `no answer within ${this.options.timeoutMs} ms` : `network error: ${(error as Error).message}`);
    }
    const text = await response.text().catch(() => '');
    if (response.status >= 500) throw new RetryableError(`HTTP ${response.status}`);
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* keep the text */
    }
    return { status: response.status, body: parsed as T };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
