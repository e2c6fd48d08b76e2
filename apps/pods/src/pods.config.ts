import { z } from 'zod';
import { parseConfig } from '@volt/platform';
import type { CrashPoint, ProvidersConfig, ReconcilerOptions } from '@volt/pods-infra';
import { KeyringSettingSchema, type Keyring } from '@volt/secrets';

const ms = (fallback: number) => z.coerce.number().int().min(0).default(fallback);

const PodsConfigSchema = z.object({
  VOLT_SECRETS_KEY: KeyringSettingSchema,
  VOLT_PROVIDER_LIUM_URL: z.string().url().default('http://127.0.0.1:8090/lium'),
  VOLT_PROVIDER_TARGON_URL: z.string().url().default('http://127.0.0.1:8090/targon'),
  VOLT_PROVIDER_TIMEOUT_MS: ms(2_000),
  VOLT_PROVIDER_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  VOLT_PROVIDER_BACKOFF_MS: ms(200),
  VOLT_PROVIDER_BREAKER_THRESHOLD: z.coerce.number().int().min(1).default(5),
  VOLT_PROVIDER_BREAKER_COOLDOWN_MS: ms(10_000),
  VOLT_CATALOGUE_REFRESH_MS: ms(5_000),
  VOLT_RECONCILE_INTERVAL_MS: ms(1_000),
  VOLT_PROVISION_TIMEOUT_MS: ms(600_000),
  VOLT_CREATE_GRACE_MS: ms(5_000),
  VOLT_ORPHAN_GRACE_MS: ms(30_000),
  VOLT_SSH_VERIFY_TIMEOUT_MS: ms(3_000),
  VOLT_SSH_CHECK_INTERVAL_MS: ms(30_000),
  VOLT_RETRY_BACKOFF_MS: ms(1_000),
  /** Testing only: the point of a create at which the process kills itself (see the crash tests). */
  VOLT_FAULT_CRASH_AT: z.enum(['before-request-append', 'before-provider-call', 'after-provider-call']).optional(),
});

export interface PodsConfig {
  keyring: Keyring;
  providers: ProvidersConfig;
  reconciler: ReconcilerOptions;
  catalogueRefreshMs: number;
  reconcileIntervalMs: number;
  crashAt?: CrashPoint;
}

export function parsePodsConfig(env: NodeJS.ProcessEnv): PodsConfig {
  const c = parseConfig(PodsConfigSchema, env);
  return {
    keyring: c.VOLT_SECRETS_KEY,
    providers: {
      liumUrl: c.VOLT_PROVIDER_LIUM_URL,
      targonUrl: c.VOLT_PROVIDER_TARGON_URL,
      http: {
        timeoutMs: c.VOLT_PROVIDER_TIMEOUT_MS,
        retries: c.VOLT_PROVIDER_RETRIES,
        backoffMs: c.VOLT_PROVIDER_BACKOFF_MS,
        breakerThreshold: c.VOLT_PROVIDER_BREAKER_THRESHOLD,
        breakerCooldownMs: c.VOLT_PROVIDER_BREAKER_COOLDOWN_MS,
      },
    },
    reconciler: {
      provisionTimeoutMs: c.VOLT_PROVISION_TIMEOUT_MS,
      createGraceMs: c.VOLT_CREATE_GRACE_MS,
      orphanGraceMs: c.VOLT_ORPHAN_GRACE_MS,
      sshVerifyTimeoutMs: c.VOLT_SSH_VERIFY_TIMEOUT_MS,
      sshCheckIntervalMs: c.VOLT_SSH_CHECK_INTERVAL_MS,
      retryBackoffMs: c.VOLT_RETRY_BACKOFF_MS,
    },
    catalogueRefreshMs: c.VOLT_CATALOGUE_REFRESH_MS,
    reconcileIntervalMs: c.VOLT_RECONCILE_INTERVAL_MS,
    crashAt: c.VOLT_FAULT_CRASH_AT,
  };
}
