/**
 * Frames handled one at a time, in arrival order, by both sides' sessions (server/session.ts, the page's
 * shared/client-session.ts): sequence numbers and receipts depend on it.
 *
 * A frame is handled at once, in the caller's own event, when nothing before it is still pending: over a
 * synchronous channel (node:crypto, or plain mode) it is checked, opened and handed on before `inOrder` returns,
 * and no promise and no closure is made for it. A frame whose handling returns a promise makes the frames behind
 * it wait for that promise in turn.
 *
 * A base class rather than an object a session holds: its two fields then live in the session's own object, as
 * they did before there was a runner, and an idle session (most of them: docs/benchmarks.md, the memory row) holds
 * no extra object for it (a separate one measured 48 bytes of heap per idle server session).
 */
import { SETTLED, type MaybePromise } from './maybe-promise.ts';

export class InOrder {
  /** The last frame's handling that had to wait; the next frame waits for it. SETTLED when nothing is pending. */
  #last: Promise<void> = SETTLED;
  #pending = 0;

  /** Frames whose handling has begun (or that wait for their turn) and has not finished. */
  protected get framesPending(): number {
    return this.#pending;
  }

  /**
   * Handles `frame` with `handle` now when nothing is pending, else once the frame before it has settled. Returns
   * undefined when it was handled now and nothing had to wait; otherwise the promise of its handling. `handle` and
   * `fail` are called with this session as `this`, so a session passes its own private methods (`this.#handle` is
   * one function for every instance: passing it allocates nothing).
   *
   * How a failure travels:
   * - with `fail`: a failure (thrown now or rejected later) goes to `fail` and nowhere else; the frames behind a
   *   failed one are still handed to `handle` in their turn (the session has ended by then and ignores them), and
   *   the promise returned always resolves.
   * - without: a failure now is thrown to the caller; a later one rejects the returned promise, and every frame
   *   already waiting behind it rejects with it, never handled.
   */
  protected inOrder<T>(
    handle: (this: this, frame: T) => MaybePromise<void>,
    frame: T,
    fail?: (this: this, error: unknown) => void,
  ): Promise<void> | undefined {
    if (this.#pending === 0) {
      let handled: MaybePromise<void>;
      if (fail === undefined) {
        handled = handle.call(this, frame);
      } else {
        try {
          handled = handle.call(this, frame);
        } catch (error) {
          fail.call(this, error);
          return undefined;
        }
      }
      return handled instanceof Promise ? this.#wait(handled, fail) : undefined;
    }
    return this.#wait(
      this.#last.then(() => handle.call(this, frame)),
      fail,
    );
  }

  /** Holds the frames behind `handling` until it settles. */
  #wait(handling: Promise<void>, fail: ((this: this, error: unknown) => void) | undefined): Promise<void> {
    this.#pending++;
    const settled = fail === undefined ? handling : handling.catch((error: unknown) => fail.call(this, error));
    this.#last = settled.finally(() => {
      // Nothing left pending: the settled promise is not held for the rest of an idle session's life.
      if (--this.#pending === 0) this.#last = SETTLED;
    });
    return this.#last;
  }
}
