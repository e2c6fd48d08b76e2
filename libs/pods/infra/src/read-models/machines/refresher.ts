import type { Database } from '@volt/event-store';
import type { Logger } from '@volt/telemetry';
import type { ProviderAdapter } from '../../providers/port';
import type { Providers } from '../../providers/providers';
import { refreshCatalogue } from './catalogue';

/**
 * Keeps the catalogue fresh: every provider every `intervalMs`, and one provider at once when
 * asked (the reconciler asks when instances went away there, so that GPUs a deleted pod gave
 * back are listed by the time the pod shows deleted, not at the next timed refresh). One refresh
 * runs at a time; the others wait their turn.
 */
export class CatalogueRefresher {
  private timer: NodeJS.Timeout | undefined;
  private last: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly db: Database,
    private readonly providers: Pick<Providers, 'all'>,
    private readonly intervalMs: number,
    private readonly logger?: Logger,
  ) {}

  /** Refreshes `only` those providers (else all) after any refresh under way; rejects if it fails. */
  refresh(only?: ProviderAdapter[]): Promise<void> {
    const run = this.last.then(() => refreshCatalogue(this.db, only ? { all: only } : this.providers));
    this.last = run.catch(() => undefined);
    return run;
  }

  start(): void {
    const tick = () => {
      this.timer = setTimeout(() => {
        this.refresh()
          .catch((error: unknown) => this.logger?.warn({ err: error }, 'catalogue refresh failed'))
          .finally(() => this.stopped || tick());
      }, this.intervalMs);
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.last;
  }
}
