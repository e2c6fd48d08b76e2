import { randomUUID } from 'node:crypto';
import { EventStore, type Database } from '@volt/event-store';
import { organizationStream } from '@volt/identity-contracts';
import { orgIdForSlug } from '@volt/identity-infra';
import { SYSTEM_ACCOUNTS, customerAccount, microsToUsd, usdToMicros } from '@volt/ledger-contracts';
import { Ledger, auditBalance, createVoucher, ledgerBalancesProjection, type Money } from '@volt/ledger-infra';
import { MONEY_HELP } from './help';

export interface MoneyOptions {
  org?: string;
  usd?: string;
  id?: string;
  code?: string;
  maxRedemptions?: string;
  expires?: string;
  asOf?: string;
  json: boolean;
}

const orgIdOf = (ref: string) => (ref.startsWith('org_') ? ref : orgIdForSlug(ref));

function positiveMicros(usd: string | undefined): number {
  if (usd === undefined) throw new Error('--usd is required');
  const micros = usdToMicros(usd);
  if (micros <= 0) throw new Error('--usd must be more than zero');
  return micros;
}

/** USD for a person to read: every digit the ledger holds, and at least cents. */
const usdText = (usd: number) => usd.toFixed(6).replace(/(\.\d\d\d*?)0+$/, '$1');

/**
 * Credits an organization: one transfer from Volt's deposits account, idempotent by id. The
 * organization must exist (its stream, not a read model that may lag): an id or slug mistyped
 * would otherwise credit an account nobody owns.
 */
export async function addCredit(db: Database, orgRef: string, usd: string, id = `credit:${randomUUID()}`): Promise<{ orgId: string; amount: number; duplicate: boolean; balance: number }> {
  const amount = positiveMicros(usd);
  const orgId = orgIdOf(orgRef);
  if ((await new EventStore(db).streamVersion(organizationStream(orgId))) === 0) throw new Error(`no organization ${orgRef}`);
  const ledger = new Ledger(db);
  const outcome = await ledger.transfer({ id, debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(orgId), amount, resource: null, description: 'prepaid credit' }, { actor: { type: 'system', id: 'volt-admin' } });
  if (!outcome.ok) throw new Error(outcome.message);
  const account = await ledger.account(customerAccount(orgId));
  return { orgId, amount: microsToUsd(amount, true), duplicate: outcome.duplicate, balance: microsToUsd(account.balance) };
}

/** `balance`: what the store says an organization had, and whether the rows built from it agree. */
async function balanceVerb(db: Database, orgRef: string | undefined, opts: MoneyOptions, out: (text: string) => void): Promise<number> {
  if (!orgRef) throw new Error('balance needs an organization id or slug');
  const asOf = opts.asOf === undefined ? undefined : new Date(opts.asOf);
  if (asOf && (Number.isNaN(asOf.getTime()) || !/^\d{4}-\d\d-\d\d/.test(opts.asOf!))) throw new Error('--as-of is an ISO time, such as 2026-12-01T12:00:00Z');
  const orgId = orgIdOf(orgRef);
  const [created] = await new EventStore(db).readStream(organizationStream(orgId), { limit: 1 });
  if (!created) throw new Error(`no organization ${orgRef}`);
  const audit = await auditBalance(db, orgId, new Date(created.occurredAt), asOf);
  const usd = (micros: number) => microsToUsd(micros, true);
  const figures = (m: Money) => ({ balance: usd(m.balance), held: usd(m.held), available: usd(m.balance - m.held), arrears: usd(m.arrears) });
  const text = (m: Money) => `balance ${usdText(usd(m.balance))}, held ${usdText(usd(m.held))}, available ${usdText(usd(m.balance - m.held))}, arrears ${usdText(usd(m.arrears))} USD`;
  const { checks } = audit;
  if (opts.json) {
    const json: Record<string, unknown> = { org_id: orgId, as_of: audit.asOf, events: audit.events, ...figures(audit.replayed), currency: 'USD' };
    if (checks) {
      json.ledger_accounts = { agrees: checks.ledgerAccounts.agrees, ...figures(checks.ledgerAccounts.money) };
      json.read_model = { agrees: checks.readModel.agrees, position: checks.readModel.position, ...figures(checks.readModel.money), replayed: figures(checks.readModel.replayed) };
    }
    out(JSON.stringify(json));
  } else {
    out(`${orgId} as of ${audit.asOf}, replayed from ${audit.events} ledger event(s) in the store:`);
    out(`  ${text(audit.replayed)}`);
    if (checks) {
      out(checks.ledgerAccounts.agrees ? '  ledger accounts: agree' : `  ledger accounts DIFFER: ${text(checks.ledgerAccounts.money)}`);
      const at = `read model ${ledgerBalancesProjection.name} (to position ${checks.readModel.position})`;
      out(checks.readModel.agrees ? `  ${at}: agrees` : `  ${at} DIFFERS: ${text(checks.readModel.money)}; the store to that position: ${text(checks.readModel.replayed)}`);
    }
  }
  return checks && !(checks.ledgerAccounts.agrees && checks.readModel.agrees) ? 1 : 0;
}

export async function moneyVerb(db: Database, verb: string, args: string[], opts: MoneyOptions, out: (text: string) => void): Promise<number> {
  const [sub] = args;
  if (verb === 'balance') return balanceVerb(db, sub, opts, out);
  if (verb === 'credit' && sub === 'add') {
    if (!opts.org) throw new Error('credit add needs --org');
    const r = await addCredit(db, opts.org, opts.usd ?? '', opts.id);
    if (opts.json) out(JSON.stringify({ org_id: r.orgId, amount: r.amount, duplicate: r.duplicate, balance: r.balance, currency: 'USD' }));
    else out(`${r.duplicate ? 'already credited' : 'credited'} ${usdText(r.amount)} USD to ${r.orgId}; balance ${r.balance.toFixed(2)} USD`);
    return 0;
  }
  if (verb === 'voucher' && sub === 'create') {
    const max = opts.maxRedemptions === undefined ? 1 : Number(opts.maxRedemptions);
    if (!Number.isInteger(max) || max < 1) throw new Error('--max-redemptions is a whole number of at least 1');
    const expires = opts.expires ? new Date(opts.expires) : null;
    if (expires && Number.isNaN(expires.getTime())) throw new Error('--expires is an ISO time');
    if (opts.code !== undefined && !/^[A-Za-z0-9-]{4,64}$/.test(opts.code)) throw new Error('--code is 4-64 letters, digits and hyphens');
    const code = await createVoucher(db, { code: opts.code?.toUpperCase(), amount: positiveMicros(opts.usd), maxRedemptions: max, expiresAt: expires });
    if (opts.json) out(JSON.stringify({ code, amount: microsToUsd(positiveMicros(opts.usd), true), max_redemptions: max, expires_at: expires?.toISOString() ?? null }));
    else out(`voucher ${code}: ${usdText(microsToUsd(positiveMicros(opts.usd), true))} USD, ${max} redemption(s)`);
    return 0;
  }
  throw new Error(`${verb} needs ${verb === 'credit' ? 'add' : 'create'}\n${MONEY_HELP}`);
}
