// Figures the benchmarks print: percentiles of latencies, medians of rounds.

/** The p-th percentile of `xs` (nearest rank; `xs` need not be sorted). */
function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

/** The median of `xs`: the middle value, or the mean of the two middle ones. */
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

module.exports = { percentile, median };
