import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from '../../server/limits.ts';

/** How many of `count` takes at time `now` (ms) succeed. */
function takes(bucket: TokenBucket, count: number, now: number): number {
  let taken = 0;
  for (let i = 0; i < count; i++) if (bucket.take(now)) taken++;
  return taken;
}

describe('TokenBucket', () => {
  it('starts full: a burst of `burst` is allowed at once, and not one more', () => {
    const bucket = new TokenBucket(20, 40, 0);
    assert.equal(takes(bucket, 41, 0), 40);
    assert.equal(bucket.take(0), false);
  });

  it('refills at `rate` tokens a second', () => {
    const bucket = new TokenBucket(20, 40, 0);
    takes(bucket, 40, 0);
    assert.equal(bucket.take(49), false, 'less than 1/20 s: no token yet');
    assert.equal(bucket.take(50), true, '1/20 s: one token');
    assert.equal(bucket.take(50), false);
    assert.equal(takes(bucket, 100, 1050), 20, 'one second: twenty tokens');
  });

  it('keeps fractions of a token between takes', () => {
    const bucket = new TokenBucket(2, 1, 0);
    assert.equal(bucket.take(0), true);
    assert.equal(bucket.take(250), false, 'half a token');
    assert.equal(bucket.take(500), true, 'the other half arrived: one token');
  });

  it('never saves more than `burst`, however long it idles', () => {
    const bucket = new TokenBucket(20, 40, 0);
    takes(bucket, 40, 0);
    assert.equal(takes(bucket, 1000, 3_600_000), 40);
  });

  it('allows `rate` a second for ever to a sender that keeps to it', () => {
    const bucket = new TokenBucket(5, 1, 0);
    for (let t = 0; t < 60_000; t += 200) assert.equal(bucket.take(t), true, `at ${t} ms`);
  });

  it('neither takes tokens away nor hands them out twice when the clock steps back', () => {
    const bucket = new TokenBucket(1, 10, 10_000);
    assert.equal(takes(bucket, 5, 10_000), 5);
    assert.equal(takes(bucket, 5, 0), 5, 'a step back did not empty the bucket');
    assert.equal(bucket.take(10_000), false, 'stepping forward to where it was refills nothing');
    assert.equal(bucket.take(11_000), true);
  });

  it('uses performance.now() when no time is given', () => {
    const bucket = new TokenBucket(1, 2);
    assert.equal(bucket.take(), true);
    assert.equal(bucket.take(), true);
    assert.equal(bucket.take(), false);
  });
});
