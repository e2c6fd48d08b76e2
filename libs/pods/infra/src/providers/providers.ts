import type { ProviderName } from '@volt/pods-contracts';
import { ProviderHttp, type ProviderHttpOptions } from './http-client';
import { LiumAdapter } from './lium.adapter';
import type { ProviderAdapter } from './port';
import { TargonAdapter } from './targon.adapter';

export interface ProvidersConfig {
  liumUrl: string;
  targonUrl: string;
  http: Omit<ProviderHttpOptions, 'baseUrl'>;
}

/** The configured providers, each behind its own HTTP client and circuit breaker. */
export class Providers {
  readonly all: ProviderAdapter[];
  private readonly clients: Map<ProviderName, ProviderHttp>;

  constructor(config: ProvidersConfig) {
    const lium = new ProviderHttp('lium', { ...config.http, baseUrl: config.liumUrl });
    const targon = new ProviderHttp('targon', { ...config.http, baseUrl: config.targonUrl });
    this.clients = new Map([
      ['lium', lium],
      ['targon', targon],
    ]);
    this.all = [new LiumAdapter(lium), new TargonAdapter(targon)];
  }

  get(name: ProviderName): ProviderAdapter {
    return this.all.find((p) => p.name === name)!;
  }

  /** False while the provider's circuit is open. */
  available(name: ProviderName): boolean {
    return this.clients.get(name)!.available;
  }
}
