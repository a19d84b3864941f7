/**
 * A token bucket: `rate` tokens a second, at most `burst` saved up. Cheap enough to run on every frame.
 */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #last: number;

  constructor(rate: number, burst: number, now: number = performance.now()) {
    this.#rate = rate;
    this.#burst = burst;
    this.#tokens = burst;
    this.#last = now;
  }

  take(now: number = performance.now()): boolean {
    // Only time that moves forward refills. A clock that steps back (a caller's own; performance.now() never
    // does) would otherwise take tokens away, and hand the same seconds out twice once it moved on again.
    if (now > this.#last) {
      this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#rate);
      this.#last = now;
    }
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
