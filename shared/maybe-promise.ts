/**
 * A value now, or a promise of it. The record code runs the same steps over two kinds of backend: Web Crypto
 * (the page), where every primitive is a promise, and node:crypto (the server), where every primitive returns at
 * once. Chaining the steps with andThen makes no promise where none is needed, so a synchronous backend seals and
 * opens a record without one, and the steps, their order and their checks are written once for both.
 */
export type MaybePromise<T> = T | Promise<T>;

/**
 * One settled promise for every caller that must answer with a promise when the work is already done (a frame sent
 * or handled at once): not one made per frame and recipient.
 */
export const SETTLED: Promise<void> = Promise.resolve();

/** `next(value)` now when `result` is a value, or once it settles when it is a promise (a rejection passes through). */
export function andThen<T, U>(result: MaybePromise<T>, next: (value: T) => MaybePromise<U>): MaybePromise<U> {
  return result instanceof Promise ? result.then(next) : next(result);
}

/**
 * Hands `result` to `next` now when it is a value, or when it settles when it is a promise; a rejection goes to
 * `fail`. Frames sealed in call order are sent in call order either way.
 */
export function whenReady<T>(result: MaybePromise<T>, next: (value: T) => void, fail: (error: unknown) => void): void {
  if (result instanceof Promise) result.then(next, fail);
  else next(result);
}
