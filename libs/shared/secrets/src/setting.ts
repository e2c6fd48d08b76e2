import { z } from 'zod';
import { Keyring } from './keyring';

/** VOLT_SECRETS_KEY as services read it: a keyring that parses, or a configuration error naming why. */
export const KeyringSettingSchema = z.string().transform((value, ctx) => {
  try {
    return Keyring.parse(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});
