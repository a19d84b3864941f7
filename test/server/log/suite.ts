/**
 * One suite for every chat log store (noble's `test(variant)` pattern): memory.test.ts and sqlite.test.ts run
 * it, and a Redis store will. Each test gets a fresh history through the variant, always behind the real
 * sealing layer (server/log/sealed.ts), with an injected clock, so retention by age is tested without sleeps.
 *
 * The property test drives a store with random interleavings of appends, batched appends, reads, recoveries,
 * clock steps, trims and reopens, and compares every answer with a model written independently of the stores:
 * a list of every entry ever appended, the ones retention still keeps, and the epoch.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Appended, ChatLog, LogEntry, NewEntry, Recovery, Retention } from '../../../server/log/log.ts';

export interface Harness {
  readonly log: ChatLog;
  /** Closes the log and opens the same history again; a store that lives in memory comes back empty. */
  reopen(): Promise<ChatLog>;
  dispose(): Promise<void>;
}

export interface Variant {
  name: string;
  /** Whether the history outlives a reopen (same epoch, same lines). */
  persistent: boolean;
  create(options: { retention: Retention; now: () => number }): Promise<Harness>;
  /** Property-test runs: fewer for stores that fsync. */
  runs: number;
}

/** A harness over `open`, which opens the variant's history (again): reopen closes the log and calls it anew. */
export async function reopening(
  open: () => Promise<ChatLog>,
  cleanup: () => Promise<void> = async () => {},
): Promise<Harness> {
  let log = await open();
  return {
    get log() {
      return log;
    },
    async reopen() {
      await log.close();
      return (log = await open());
    },
    async dispose() {
      await log.close();
      await cleanup();
    },
  };
}

const ROOMY: Retention = { maxLines: 10_000, maxAgeMs: 3_600_000 };

export class Clock {
  t = 1_700_000_000_000;
  readonly now = (): number => this.t;
}

async function withLog<T>(
  variant: Variant,
  retention: Retention,
  run: (h: Harness, clock: Clock) => Promise<T>,
): Promise<T> {
  const clock = new Clock();
  const harness = await variant.create({ retention, now: clock.now });
  try {
    return await run(harness, clock);
  } finally {
    await harness.dispose();
  }
}

const line = (text: string, identity = 'tab-a', lineId = 0): NewEntry => ({
  kind: 'line',
  from: 'alice',
  text,
  origin: { identity, lineId },
});

/** A recovery in a few words, for one deepEqual per answer. */
function summary(recovery: Recovery): Record<string, unknown> {
  const n = recovery.entries.map((e) => e.n);
  if (recovery.recovered) return { recovered: true, n, more: recovery.more };
  return { recovered: false, reason: recovery.reason, gone: recovery.gone, n, more: recovery.more };
}

/** The fields of an entry as it was appended, for comparing with what the log gives back. */
function stripped(entry: LogEntry): NewEntry {
  const { n: _n, at: _at, ...rest } = entry;
  return rest;
}

// ---- the model ---------------------------------------------------------------------------------------------

class Model {
  epochs = 1;
  last = 0;
  lastAt = 0;
  /** Every entry ever appended in this epoch, by number (index n - 1). */
  all: LogEntry[] = [];
  first = 1;

  readonly retention: Retention;

  constructor(retention: Retention) {
    this.retention = retention;
  }

  /** Retention at `now`: the newest maxLines, none older than maxAgeMs. */
  trim(now: number): void {
    const byCount = this.last - this.retention.maxLines + 1;
    while (
      this.first <= this.last &&
      (this.first < byCount || this.all[this.first - 1]!.at < now - this.retention.maxAgeMs)
    ) {
      this.first++;
    }
  }

  held(): LogEntry[] {
    return this.all.slice(this.first - 1);
  }

  append(entry: NewEntry, now: number): Appended {
    this.trim(now);
    const key = entry.origin && JSON.stringify([entry.origin.identity, entry.origin.lineId]);
    const twin =
      key === undefined
        ? undefined
        : this.held().find((e) => e.origin && JSON.stringify([e.origin.identity, e.origin.lineId]) === key);
    if (twin) return { n: twin.n, at: twin.at, duplicate: true };
    this.lastAt = Math.max(now, this.lastAt);
    this.all.push({ ...entry, n: ++this.last, at: this.lastAt });
    this.trim(now);
    return { n: this.last, at: this.lastAt, duplicate: false };
  }

  readAfter(n: number, limit: number, now: number): LogEntry[] {
    this.trim(now);
    return this.held()
      .filter((e) => e.n > n)
      .slice(0, limit);
  }

  reopen(persistent: boolean, now: number): void {
    if (persistent) {
      this.trim(now);
      this.lastAt = this.held().at(-1)?.at ?? 0;
      return;
    }
    this.epochs++;
    this.last = 0;
    this.lastAt = 0;
    this.all = [];
    this.first = 1;
  }
}

// ---- commands ---------------------------------------------------------------------------------------------

type Call =
  | { kind: 'append'; entry: NewEntry }
  | { kind: 'appendMany'; entries: NewEntry[] }
  | { kind: 'read'; after: number; limit: number };

type Command =
  /** Calls made in one turn of the event loop, then all awaited. */
  | { op: 'burst'; calls: Call[] }
  | { op: 'read'; after: number; limit: number }
  | { op: 'recover'; sameEpoch: boolean; n: number; limit: number }
  | { op: 'tick'; ms: number }
  | { op: 'trim' }
  | { op: 'reopen' };

/** fast-check's records have no prototype; entries as a relay builds them do. */
const plain = (entry: NewEntry): NewEntry => JSON.parse(JSON.stringify(entry)) as NewEntry;

const arbEntry: fc.Arbitrary<NewEntry> = fc
  .oneof(
    fc.record({
      kind: fc.constantFrom('line' as const, 'console' as const),
      from: fc.constantFrom('alice', 'bob', 'console'),
      text: fc.string({ maxLength: 40 }),
      // A small pool of origins, so resent lines (the same origin again) are common.
      origin: fc.record({ identity: fc.constantFrom('tab-a', 'tab-b', 'console-1'), lineId: fc.nat({ max: 6 }) }),
    }),
    fc.record({
      kind: fc.constant('direct' as const),
      from: fc.constant('console'),
      text: fc.string({ maxLength: 20 }),
      to: fc.constantFrom('tab-a', 'tab-b'),
      origin: fc.record({ identity: fc.constant('console-1'), lineId: fc.nat({ max: 6 }) }),
    }),
    fc.record({
      kind: fc.constantFrom('join' as const, 'leave' as const),
      from: fc.constantFrom('alice', 'bob'),
      text: fc.constantFrom('', 'closed the tab'),
    }),
  )
  .map(plain);

const arbCall: fc.Arbitrary<Call> = fc.oneof(
  { weight: 4, arbitrary: arbEntry.map((entry) => ({ kind: 'append' as const, entry })) },
  {
    weight: 2,
    arbitrary: fc
      .array(arbEntry, { minLength: 1, maxLength: 5 })
      .map((entries) => ({ kind: 'appendMany' as const, entries })),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      after: fc.nat({ max: 40 }),
      limit: fc.integer({ min: 1, max: 6 }),
    }),
  },
);

function arbCommand(persistent: boolean): fc.Arbitrary<Command> {
  return fc.oneof(
    {
      weight: 18,
      arbitrary: fc.array(arbCall, { minLength: 1, maxLength: 6 }).map((calls) => ({ op: 'burst' as const, calls })),
    },
    {
      weight: 6,
      arbitrary: fc.record({
        op: fc.constant('read' as const),
        after: fc.nat({ max: 40 }),
        limit: fc.integer({ min: 1, max: 8 }),
      }),
    },
    {
      weight: 6,
      arbitrary: fc.record({
        op: fc.constant('recover' as const),
        sameEpoch: fc.boolean(),
        n: fc.nat({ max: 40 }),
        limit: fc.integer({ min: 1, max: 8 }),
      }),
    },
    { weight: 6, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.nat({ max: 1_500 }) }) },
    { weight: 3, arbitrary: fc.constant({ op: 'trim' as const }) },
    // A reopen of a memory store is a restart: rarer, or it would keep wiping the history the test builds.
    { weight: persistent ? 3 : 1, arbitrary: fc.constant({ op: 'reopen' as const }) },
  );
}

/** A read that raced appends of its own burst: a run of consecutive entries the log did hold, after `after`. */
function checkRacingRead(got: LogEntry[], model: Model, after: number, limit: number): void {
  assert.ok(got.length <= limit, 'no more than the limit');
  got.forEach((entry, i) => {
    assert.ok(entry.n > after, `entry ${entry.n} comes after ${after}`);
    if (i > 0) assert.equal(entry.n, got[i - 1]!.n + 1, 'consecutive numbers');
    assert.deepEqual(entry, model.all[entry.n - 1], `entry ${entry.n} as appended`);
  });
}

async function runCommands(variant: Variant, retention: Retention, commands: Command[]): Promise<void> {
  await withLog(variant, retention, async (harness, clock) => {
    const model = new Model(retention);
    let log = harness.log;
    const epochs = [(await log.position()).epoch];
    for (const command of commands) {
      switch (command.op) {
        case 'burst': {
          // Issued together: the log may batch them as it likes, but numbers follow the order of the calls.
          const pending = command.calls.map((call) =>
            call.kind === 'append'
              ? log.append(call.entry)
              : call.kind === 'appendMany'
                ? log.appendMany(call.entries)
                : log.readAfter(call.after, call.limit),
          );
          const results = await Promise.all(pending);
          command.calls.forEach((call, i) => {
            if (call.kind === 'append') assert.deepEqual(results[i], model.append(call.entry, clock.t), 'append');
            if (call.kind === 'appendMany')
              assert.deepEqual(
                results[i],
                call.entries.map((e) => model.append(e, clock.t)),
                'appendMany',
              );
          });
          command.calls.forEach((call, i) => {
            if (call.kind === 'read') checkRacingRead(results[i] as LogEntry[], model, call.after, call.limit);
          });
          break;
        }
        case 'read':
          assert.deepEqual(
            await log.readAfter(command.after, command.limit),
            model.readAfter(command.after, command.limit, clock.t),
            'readAfter',
          );
          break;
        case 'recover': {
          const epoch = command.sameEpoch ? epochs.at(-1)! : 'an-epoch-that-never-was';
          const got = await log.recover({ epoch, n: command.n }, command.limit);
          model.trim(clock.t);
          const { first, last } = model;
          const same = command.sameEpoch;
          const ahead = same && command.n > last;
          const after = !same ? 0 : ahead ? last : command.n;
          const available = model.readAfter(after, command.limit + 1, clock.t);
          assert.deepEqual(got.entries, available.slice(0, command.limit), 'recovered entries');
          assert.equal(got.more, available.length > command.limit, 'more');
          const recovered = same && !ahead && command.n >= first - 1;
          assert.equal(got.recovered, recovered, 'recovered');
          if (!got.recovered) {
            assert.equal(got.reason, !same ? 'epoch' : ahead ? 'ahead' : 'trimmed');
            assert.equal(got.gone, !same ? first - 1 : ahead ? 0 : first - 1 - command.n, 'lines gone');
          }
          assert.deepEqual(got.position, { epoch: epochs.at(-1), first, last });
          break;
        }
        case 'tick':
          clock.t += command.ms;
          break;
        case 'trim':
          await log.trim();
          break;
        case 'reopen':
          log = await harness.reopen();
          model.reopen(variant.persistent, clock.t);
          epochs.push((await log.position()).epoch);
          if (variant.persistent) assert.equal(epochs.at(-1), epochs.at(-2), 'a reopened history keeps its epoch');
          else assert.notEqual(epochs.at(-1), epochs.at(-2), 'a restarted memory log is a new epoch');
          break;
      }
      model.trim(clock.t);
      assert.deepEqual(
        await log.position(),
        { epoch: epochs.at(-1), first: model.first, last: model.last },
        `position after ${command.op}`,
      );
    }
    assert.deepEqual(await log.readAfter(0, 10_000), model.held(), 'what the log holds at the end');
  });
}

// ---- the suite ------------------------------------------------------------------------------------------------

export function chatLogSuite(variant: Variant): void {
  describe(`chat log on ${variant.name}`, () => {
    it('numbers entries 1, 2, 3 in the order they were appended, and gives them back sealed and opened intact', async () => {
      await withLog(variant, ROOMY, async ({ log }, clock) => {
        assert.deepEqual(await log.position(), { epoch: (await log.position()).epoch, first: 1, last: 0 });
        const entries: NewEntry[] = [
          line('hello', 'tab-a', 1),
          {
            kind: 'console',
            from: 'console',
            text: 'welcome, ünïcødé ✓',
            origin: { identity: 'console-1', lineId: 1 },
          },
          {
            kind: 'direct',
            from: 'console',
            text: 'just you',
            to: 'tab-a',
            origin: { identity: 'console-1', lineId: 2 },
          },
          { kind: 'join', from: 'bob', text: '' },
          { kind: 'leave', from: 'bob', text: 'closed the tab' },
        ];
        const appended = [];
        for (const entry of entries) {
          appended.push(await log.append(entry));
          clock.t += 10;
        }
        assert.deepEqual(
          appended.map((a) => a.n),
          [1, 2, 3, 4, 5],
        );
        assert.deepEqual(
          appended.map((a) => a.duplicate),
          [false, false, false, false, false],
        );
        const back = await log.readAfter(0, 100);
        assert.deepEqual(back.map(stripped), entries);
        assert.deepEqual(
          back.map((e) => e.at),
          appended.map((a) => a.at),
        );
        assert.deepEqual(
          (await log.readAfter(3, 100)).map((e) => e.n),
          [4, 5],
        );
        assert.deepEqual(
          (await log.readAfter(1, 2)).map((e) => e.n),
          [2, 3],
        );
        assert.deepEqual(await log.readAfter(5, 100), []);
        assert.deepEqual(await log.readAfter(99, 100), []);
      });
    });

    it('coalesces appends made in one turn into one batch, numbered in call order', async () => {
      await withLog(variant, ROOMY, async ({ log }) => {
        const results = await Promise.all([
          log.append(line('a', 'tab-a', 1)),
          log.appendMany([line('b', 'tab-b', 1), line('c', 'tab-b', 2)]),
          log.append(line('d', 'tab-a', 2)),
        ]);
        assert.deepEqual(
          results.flat().map((r) => r.n),
          [1, 2, 3, 4],
        );
        assert.deepEqual(await log.appendMany([]), [], 'an empty batch is no transaction');
        assert.deepEqual(
          (await log.readAfter(0, 10)).map((e) => e.text),
          ['a', 'b', 'c', 'd'],
        );
      });
    });

    it('stores a resent line once and answers the resend with the first number, in one batch or later', async () => {
      await withLog(variant, ROOMY, async ({ log }) => {
        const [first, again] = await Promise.all([
          log.append(line('hi', 'tab-a', 7)),
          log.append(line('hi', 'tab-a', 7)),
        ]);
        assert.deepEqual(again, { ...first, duplicate: true });
        assert.equal(first!.duplicate, false);
        await log.append(line('other', 'tab-b', 7)); // the same line id from another tab is another line
        assert.deepEqual(await log.append(line('hi', 'tab-a', 7)), { ...first, duplicate: true });
        assert.deepEqual(
          (await log.readAfter(0, 10)).map((e) => e.text),
          ['hi', 'other'],
        );
        assert.equal((await log.position()).last, 2, 'a duplicate takes no number');
      });
    });

    it('keeps the newest --history-lines entries, and tells a tab behind them how many are gone', async () => {
      await withLog(variant, { maxLines: 3, maxAgeMs: 3_600_000 }, async ({ log }) => {
        for (let i = 1; i <= 5; i++) await log.append(line(`l${i}`, 'tab-a', i));
        const { epoch, first, last } = await log.position();
        assert.deepEqual({ first, last }, { first: 3, last: 5 });
        assert.deepEqual(
          (await log.readAfter(0, 10)).map((e) => e.n),
          [3, 4, 5],
        );
        assert.deepEqual(summary(await log.recover({ epoch, n: 1 })), {
          recovered: false,
          reason: 'trimmed',
          gone: 1,
          n: [3, 4, 5],
          more: false,
        });
        assert.deepEqual(summary(await log.recover({ epoch, n: 2 })), { recovered: true, n: [3, 4, 5], more: false });
      });
    });

    it('drops entries older than --history-minutes, by the injected clock, keeping the numbering and the epoch', async () => {
      await withLog(variant, { maxLines: 100, maxAgeMs: 60_000 }, async ({ log }, clock) => {
        const { epoch } = await log.position();
        await log.append(line('old', 'tab-a', 1));
        clock.t += 30_000;
        await log.append(line('newer', 'tab-a', 2));
        clock.t += 30_001;
        assert.deepEqual(
          (await log.readAfter(0, 10)).map((e) => e.text),
          ['newer'],
        );
        assert.deepEqual(await log.position(), { epoch, first: 2, last: 2 });
        clock.t += 30_000;
        await log.trim();
        assert.deepEqual(await log.position(), { epoch, first: 3, last: 2 }, 'all gone; the count goes on');
        assert.deepEqual(summary(await log.recover({ epoch, n: 0 })), {
          recovered: false,
          reason: 'trimmed',
          gone: 2,
          n: [],
          more: false,
        });
        assert.equal((await log.append(line('next', 'tab-a', 3))).n, 3);
        assert.equal((await log.append(line('old', 'tab-a', 1))).duplicate, false, 'a trimmed line is no longer known');
      });
    });

    it('never stamps an entry earlier than the one before it, even when the clock steps back', async () => {
      await withLog(variant, ROOMY, async ({ log }, clock) => {
        const a = await log.append(line('a', 'tab-a', 1));
        clock.t -= 5_000;
        const b = await log.append(line('b', 'tab-a', 2));
        assert.equal(b.at, a.at);
        clock.t += 10_000;
        assert.equal((await log.append(line('c', 'tab-a', 3))).at, clock.t);
      });
    });

    it('recovers a tab that was away: everything after its place, in pages', async () => {
      await withLog(variant, ROOMY, async ({ log }) => {
        for (let i = 1; i <= 7; i++) await log.append(line(`l${i}`, 'tab-a', i));
        const { epoch } = await log.position();
        assert.deepEqual(summary(await log.recover({ epoch, n: 2 }, 3)), { recovered: true, n: [3, 4, 5], more: true });
        assert.deepEqual(
          (await log.readAfter(5, 3)).map((e) => e.n),
          [6, 7],
          'the rest, read on from the last one given',
        );
        assert.deepEqual(summary(await log.recover({ epoch, n: 7 })), { recovered: true, n: [], more: false });
        assert.deepEqual(summary(await log.recover({ epoch, n: 9 })), {
          recovered: false,
          reason: 'ahead',
          gone: 0,
          n: [],
          more: false,
        });
        assert.deepEqual(
          summary(await log.recover({ epoch: 'not-this-one', n: 3 })),
          { recovered: false, reason: 'epoch', gone: 0, n: [1, 2, 3, 4, 5, 6, 7], more: false },
          'a tab from another epoch gets every line of this one',
        );
      });
    });

    it(
      variant.persistent
        ? 'keeps its epoch, lines and numbering across a reopen'
        : 'starts a new epoch, empty, at each start',
      async () => {
        await withLog(variant, ROOMY, async (harness) => {
          await harness.log.append(line('before', 'tab-a', 1));
          const before = await harness.log.position();
          const log = await harness.reopen();
          const after = await log.position();
          if (variant.persistent) {
            assert.deepEqual(after, before);
            assert.deepEqual(
              (await log.readAfter(0, 10)).map((e) => e.text),
              ['before'],
            );
            assert.equal(
              (await log.append(line('before', 'tab-a', 1))).duplicate,
              true,
              'resends are still recognized',
            );
            assert.equal((await log.append(line('after', 'tab-a', 2))).n, 2);
          } else {
            assert.notEqual(after.epoch, before.epoch);
            assert.deepEqual({ first: after.first, last: after.last }, { first: 1, last: 0 });
            assert.deepEqual(summary(await log.recover({ epoch: before.epoch, n: 1 })), {
              recovered: false,
              reason: 'epoch',
              gone: 0,
              n: [],
              more: false,
            });
          }
        });
      },
    );

    it('refuses entries a relay should never build, and calls after close', async () => {
      await withLog(variant, ROOMY, async ({ log }) => {
        await assert.rejects(log.append({ kind: 'shout' as never, from: 'a', text: 'b' }), RangeError);
        await assert.rejects(
          log.append({ kind: 'direct', from: 'console', text: 'x' }),
          RangeError,
          'a direct line names its recipient',
        );
        await assert.rejects(log.append({ kind: 'line', from: 'a', text: 'b', to: 'tab-a' }), RangeError);
        await assert.rejects(log.append(line('x', '', 1)), RangeError);
        await assert.rejects(log.append(line('x', 'tab-a', -1)), RangeError);
        await assert.rejects(log.readAfter(-1, 1), RangeError);
        await assert.rejects(log.readAfter(0, 0), RangeError);
        await assert.rejects(log.recover({ epoch: 'e', n: 1.5 }), RangeError);
        assert.equal((await log.position()).last, 0, 'nothing was stored');
        // Refused in the same turn as good appends: only the bad one fails, and the batch keeps its order.
        const turn = [
          log.append(line('first', 'tab-a', 1)),
          log.append(line('x', '', 2)),
          log.append(line('second', 'tab-a', 3)),
        ];
        await assert.rejects(turn[1]!, RangeError);
        assert.deepEqual(
          (await Promise.all([turn[0]!, turn[2]!])).map((appended) => appended.n),
          [1, 2],
        );
      });
      const clock = new Clock();
      const harness = await variant.create({ retention: ROOMY, now: clock.now });
      const pending = harness.log.append(line('in time', 'tab-a', 1));
      await harness.dispose();
      assert.equal((await pending).n, 1, 'an append made before the close is written');
      await assert.rejects(harness.log.append(line('late', 'tab-a', 2)), { name: 'HistoryError', code: 'CLOSED' });
    });

    it('answers like the model under random appends, batches, reads, recoveries, clock steps, trims and reopens', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.record({ maxLines: fc.integer({ min: 1, max: 8 }), maxAgeMs: fc.integer({ min: 1, max: 1_000 }) }),
          fc.array(arbCommand(variant.persistent), { minLength: 1, maxLength: 25 }),
          (retention, commands) => runCommands(variant, retention, commands),
        ),
        { numRuns: variant.runs },
      );
    });

    it('delivers every resent line exactly once: one entry per origin, every resend answered with its number', async () => {
      await fc.assert(
        fc.asyncProperty(
          // Batches of lines from a few tabs, each line possibly sent again in the same batch or a later one.
          fc.array(
            fc.array(fc.record({ identity: fc.constantFrom('tab-a', 'tab-b', 'tab-c'), lineId: fc.nat({ max: 9 }) }), {
              minLength: 1,
              maxLength: 8,
            }),
            { minLength: 1, maxLength: 6 },
          ),
          fc.nat({ max: 5 }),
          async (batches, reopenAfter) => {
            await withLog(variant, ROOMY, async (harness) => {
              let log = harness.log;
              const firstNumber = new Map<string, number>();
              for (const [b, batch] of batches.entries()) {
                if (b === reopenAfter && variant.persistent) log = await harness.reopen();
                const results = await Promise.all(
                  batch.map((o) => log.append(line(`${o.identity}#${o.lineId}`, o.identity, o.lineId))),
                );
                batch.forEach((o, i) => {
                  const key = `${o.identity}#${o.lineId}`;
                  const known = firstNumber.get(key);
                  assert.equal(results[i]!.duplicate, known !== undefined, key);
                  if (known === undefined) firstNumber.set(key, results[i]!.n);
                  else assert.equal(results[i]!.n, known, `${key} answers with its first number`);
                });
              }
              const held = await log.readAfter(0, 10_000);
              assert.deepEqual(
                held.map((e) => e.text),
                [...firstNumber.keys()],
                'each line once, in the order first sent',
              );
              assert.deepEqual(
                held.map((e) => e.n),
                [...firstNumber.values()],
              );
            });
          },
        ),
        { numRuns: variant.runs },
      );
    });
  });
}
