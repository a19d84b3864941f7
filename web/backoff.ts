/**
 * When to try again after the socket dropped: 0.5 s, 1 s, 2 s, 4 s, 8 s, then 10 s for as long as it takes,
 * each spread by +-20 % so that many tabs dropped by one server restart do not all knock at the same instant.
 */
export const BACKOFF = {
  firstMs: 500,
  capMs: 10_000,
  /** Fraction of the delay that jitter may add or take away. */
  jitter: 0.2,
} as const;

/** The nominal delay before attempt `attempt` (1 for the first retry), without jitter. */
export function nominalDelay(attempt: number): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be 1 or more, not ${attempt}`);
  // 2 ** 30 already exceeds the cap; stopping the exponent there keeps the number finite for any attempt.
  return Math.min(BACKOFF.capMs, BACKOFF.firstMs * 2 ** Math.min(attempt - 1, 30));
}

/** The delay before attempt `attempt`, jittered with `random()` in [0, 1) and never above the cap. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const nominal = nominalDelay(attempt);
  const spread = nominal * BACKOFF.jitter * (2 * random() - 1);
  return Math.round(Math.min(BACKOFF.capMs, nominal + spread));
}
