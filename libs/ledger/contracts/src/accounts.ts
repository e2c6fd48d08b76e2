/** Account kinds. Only customer balances are held at zero or above; system accounts may go negative. */
export type AccountKind = 'customer' | 'arrears' | 'system';

/** An organization's prepaid balance. */
export const customerAccount = (orgId: string) => `cust:${orgId}`;
/** What an organization owes and could not pay; settled first from its next top-up. */
export const arrearsAccount = (orgId: string) => `arrears:${orgId}`;

/** Volt's own accounts: money enters through deposits and promotions, leaves customers into revenue. */
export const SYSTEM_ACCOUNTS = {
  deposits: 'sys:deposits',
  promotions: 'sys:promotions',
  revenue: 'sys:revenue',
  refunds: 'sys:refunds',
} as const;

export function accountKind(accountId: string): AccountKind {
  if (accountId.startsWith('cust:')) return 'customer';
  if (accountId.startsWith('arrears:')) return 'arrears';
  return 'system';
}

/** The organization an account belongs to, or null for Volt's own. */
export function accountTenant(accountId: string): string | null {
  const i = accountId.indexOf(':');
  return accountId.startsWith('sys:') || i < 0 ? null : accountId.slice(i + 1);
}
