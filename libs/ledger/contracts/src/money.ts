/**
 * Money in the ledger is an integer number of micro-dollars (1 USD = 1,000,000). Per-second
 * metering needs less than a cent; integers keep every sum exact. The API shows USD decimals.
 */
export const MICROS_PER_USD = 1_000_000;

/** Parses a USD amount ("12.50", 12.5) to micro-dollars exactly, without a float on the way. */
export function usdToMicros(usd: string | number): number {
  const text = typeof usd === 'number' ? usd.toFixed(6) : usd.trim();
  const m = /^(-)?(\d{1,9})(?:\.(\d{1,6}))?$/.exec(text);
  if (!m) throw new Error(`not a USD amount with at most 6 decimals: ${usd}`);
  const micros = Number(m[2]) * MICROS_PER_USD + Number((m[3] ?? '').padEnd(6, '0'));
  return m[1] ? -micros : micros;
}

/** Micro-dollars as USD for the API, rounded to the cent unless `exact`. */
export function microsToUsd(micros: number, exact = false): number {
  return exact ? micros / MICROS_PER_USD : Math.round(micros / 10_000) / 100;
}
