/**
 * The in-order frame runner both sessions use (shared/in-order.ts): arrival order, the synchronous path, and the
 * two ways a failure travels (to the owner's `fail`, as the server's session does; or to the caller and the frames
 * behind it, as the page's does).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InOrder } from '../../shared/in-order.ts';

/**
 * A session of the simplest kind: records what it handled, and can be told to wait or to fail on given frames.
 * `run` passes no fail handler (as the page's session), `runOrFail` its own `fail` (as the server's).
 */
class Owner extends InOrder {
  readonly seen: string[] = [];
  readonly failures: unknown[] = [];
  readonly waits = new Map<string, { promise: Promise<void>; resolve(): void; reject(error: Error): void }>();
  readonly throwing = new Set<string>();

  waitOn(item: string): { resolve(): void; reject(error: Error): void } {
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<void>((yes, no) => ((resolve = yes), (reject = no)));
    const wait = { promise, resolve, reject };
    this.waits.set(item, wait);
    return wait;
  }

  handle(this: Owner, item: string): void | Promise<void> {
    this.seen.push(item);
    if (this.throwing.has(item)) throw new Error(`${item} failed`);
    return this.waits.get(item)?.promise;
  }

  fail(this: Owner, error: unknown): void {
    this.failures.push(error);
  }

  get pending(): number {
    return this.framesPending;
  }

  run(item: string): Promise<void> | undefined {
    return this.inOrder(this.handle, item);
  }

  runOrFail(item: string): Promise<void> | undefined {
    return this.inOrder(this.handle, item, this.fail);
  }
}

/** Lets every promise callback queued so far run (and the ones they queue, a few rounds deep). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('InOrder', () => {
  it('handles a frame at once, before inOrder returns and without a promise, when nothing is pending', () => {
    const owner = new Owner();
    for (const item of ['a', 'b', 'c']) {
      assert.equal(owner.run(item), undefined, 'no promise for a frame handled now');
      assert.deepEqual(owner.seen.at(-1), item, 'handled before inOrder returned');
      assert.equal(owner.pending, 0);
    }
    assert.equal(owner.runOrFail('d'), undefined, 'with a fail handler too');
    assert.deepEqual(owner.seen, ['a', 'b', 'c', 'd']);
  });

  it("calls the session's own private methods with the session as `this`", () => {
    class Private extends InOrder {
      #got = '';
      get got(): string {
        return this.#got;
      }
      feed(item: string): void {
        void this.inOrder(this.#handle, item, this.#fail);
      }
      #handle(item: string): void {
        if (item === 'bad') throw new Error('bad');
        this.#got += item;
      }
      #fail(error: unknown): void {
        this.#got += `!${(error as Error).message}`;
      }
    }
    const session = new Private();
    session.feed('x');
    session.feed('bad');
    session.feed('y');
    assert.equal(session.got, 'x!bady');
  });

  it('makes the frames behind one that waits wait in turn, in arrival order, then goes back to handling at once', async () => {
    const owner = new Owner();
    const first = owner.waitOn('a');
    const second = owner.waitOn('c');
    const a = owner.run('a');
    assert.ok(a instanceof Promise, 'a frame that waits gives its promise');
    const b = owner.run('b');
    const c = owner.run('c');
    const d = owner.run('d');
    assert.deepEqual(owner.seen, ['a'], 'nothing behind the waiting frame is handled yet');
    assert.equal(owner.pending, 4);
    await settle();
    assert.deepEqual(owner.seen, ['a'], 'still waiting');
    first.resolve();
    await a;
    await b;
    assert.deepEqual(owner.seen, ['a', 'b', 'c'], 'b handled, and c, which waits in its turn');
    await settle();
    assert.deepEqual(owner.seen, ['a', 'b', 'c'], 'd waits for c');
    second.resolve();
    await Promise.all([c, d]);
    assert.deepEqual(owner.seen, ['a', 'b', 'c', 'd']);
    await settle();
    assert.equal(owner.pending, 0);
    assert.equal(owner.run('e'), undefined, 'nothing pending: at once again');
    assert.deepEqual(owner.seen, ['a', 'b', 'c', 'd', 'e']);
  });

  describe('with a fail handler (the server: a failure ends the session itself)', () => {
    it('hands a failure now to fail, and throws nothing', () => {
      const owner = new Owner();
      owner.throwing.add('bad');
      assert.equal(owner.runOrFail('bad'), undefined);
      assert.deepEqual(
        owner.failures.map((e) => (e as Error).message),
        ['bad failed'],
      );
      assert.equal(owner.pending, 0);
    });

    it('hands a later failure to fail once; the frames behind it are still handled, in order, and all resolve', async () => {
      const owner = new Owner();
      const wait = owner.waitOn('a');
      owner.throwing.add('c');
      const runs = ['a', 'b', 'c', 'd'].map((item) => owner.runOrFail(item));
      const cause = new Error('a broke');
      wait.reject(cause);
      for (const run of runs) await run;
      assert.deepEqual(owner.seen, ['a', 'b', 'c', 'd'], 'the frames behind the failure were handed on');
      assert.deepEqual(owner.failures, [cause, owner.failures[1]]);
      assert.equal((owner.failures[1] as Error).message, 'c failed', 'a failure while waiting goes to fail too');
      await settle();
      assert.equal(owner.pending, 0);
    });
  });

  describe('without one (the page: a failure goes to the caller)', () => {
    it('throws a failure now to the caller', () => {
      const owner = new Owner();
      owner.throwing.add('bad');
      assert.throws(() => owner.run('bad'), /bad failed/);
      assert.equal(owner.pending, 0);
      assert.equal(owner.run('next'), undefined, 'the runner goes on');
    });

    it('rejects with a later failure, and the frames already behind it fail with it, never handled', async () => {
      const owner = new Owner();
      const wait = owner.waitOn('a');
      const [a, b, c] = ['a', 'b', 'c'].map((item) => owner.run(item));
      const cause = new Error('a broke');
      wait.reject(cause);
      for (const run of [a, b, c]) await assert.rejects(run!, (error) => error === cause);
      assert.deepEqual(owner.seen, ['a'], 'b and c were never handled');
      await settle();
      assert.equal(owner.pending, 0);
      assert.equal(owner.run('d'), undefined, 'a frame after it all is handled at once');
      assert.deepEqual(owner.seen, ['a', 'd']);
    });
  });
});
