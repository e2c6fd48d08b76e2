import { z } from 'zod';
import { parseConfig } from '@volt/platform';
import { KeyringSettingSchema, type Keyring } from '@volt/secrets';

export const GATEWAY_LIMITS = Symbol('GatewayLimits');
export const SECRETS_KEYRING = Symbol('SecretsKeyring');

export interface GatewayLimits {
  requestsPerHour: number;
  podCreatesPer15Min: number;
}

const GatewayConfigSchema = z.object({
  VOLT_RATE_LIMIT_PER_HOUR: z.coerce.number().int().min(1).default(1000),
  VOLT_POD_CREATE_LIMIT: z.coerce.number().int().min(1).default(10),
  VOLT_SECRETS_KEY: KeyringSettingSchema,
});

export interface GatewayConfig {
  limits: GatewayLimits;
  keyring: Keyring;
}

export function parseGatewayConfig(env: NodeJS.ProcessEnv): GatewayConfig {
  const config = parseConfig(GatewayConfigSchema, env);
  return {
    limits: { requestsPerHour: config.VOLT_RATE_LIMIT_PER_HOUR, podCreatesPer15Min: config.VOLT_POD_CREATE_LIMIT },
    keyring: config.VOLT_SECRETS_KEY,
  };
}
