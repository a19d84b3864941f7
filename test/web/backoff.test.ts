import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BACKOFF, backoffDelay, nominalDelay } from '../../web/backoff.ts';

test('the nominal schedule doubles from 0.5 s and stays at the 10 s cap', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 50, 5000].map(nominalDelay),
    [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000, 10_000],
  );
});

test('jitter stays within +-20 % of the nominal delay and never passes the cap', () => {
  for (const attempt of [1, 2, 3, 4, 5, 6, 20]) {
    const nominal = nominalDelay(attempt);
    const low = backoffDelay(attempt, () => 0);
    const high = backoffDelay(attempt, () => 0.999999);
    assert.equal(low, Math.round(nominal * (1 - BACKOFF.jitter)), `attempt ${attempt} low`);
    assert.ok(high <= Math.min(BACKOFF.capMs, Math.round(nominal * (1 + BACKOFF.jitter))), `attempt ${attempt} high`);
    assert.ok(high <= BACKOFF.capMs);
  }
});

test('jitter actually spreads the delays (tabs dropped together do not retry together)', () => {
  const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(3)));
  assert.ok(delays.size > 10, `only ${delays.size} distinct delays`);
});

test('attempts are counted from 1', () => {
  assert.throws(() => nominalDelay(0), RangeError);
  assert.throws(() => nominalDelay(1.5), RangeError);
});
