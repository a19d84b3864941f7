/**
 * The rules every store shares (server/log/log.ts), on their own: where a replay starts and what it can
 * promise, retention's first line, who may see a direct line, and the argument checks.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkRetention,
  firstKept,
  recovery,
  replayFrom,
  visibleTo,
  type LogEntry,
  type Position,
} from '../../../server/log/log.ts';

const position: Position = { epoch: 'E', first: 5, last: 9 };
const entry = (n: number, extra: Partial<LogEntry> = {}): LogEntry => ({
  n,
  at: n,
  kind: 'line',
  from: 'a',
  text: 't',
  ...extra,
});

describe('replayFrom and recovery', () => {
  const cases: Array<
    [string, { epoch: string; n: number }, { after: number; reason?: string }, number[], Record<string, unknown>]
  > = [
    ['a tab with every line held after it', { epoch: 'E', n: 6 }, { after: 6 }, [7, 8, 9], { recovered: true }],
    [
      'a tab right before the oldest held line',
      { epoch: 'E', n: 4 },
      { after: 4 },
      [5, 6, 7, 8, 9],
      { recovered: true },
    ],
    ['a tab that is up to date', { epoch: 'E', n: 9 }, { after: 9 }, [], { recovered: true }],
    [
      'a tab behind what is held',
      { epoch: 'E', n: 1 },
      { after: 1 },
      [5, 6, 7, 8, 9],
      { recovered: false, reason: 'trimmed', gone: 3 },
    ],
    [
      'a tab from before the log started holding',
      { epoch: 'E', n: 0 },
      { after: 0 },
      [5, 6, 7, 8, 9],
      { recovered: false, reason: 'trimmed', gone: 4 },
    ],
    [
      'a tab of another epoch',
      { epoch: 'old', n: 3 },
      { after: 0, reason: 'epoch' },
      [5, 6, 7, 8, 9],
      { recovered: false, reason: 'epoch', gone: 4 },
    ],
    [
      'a tab ahead of the log',
      { epoch: 'E', n: 12 },
      { after: 9, reason: 'ahead' },
      [],
      { recovered: false, reason: 'ahead', gone: 0 },
    ],
  ];
  for (const [what, since, plan, numbers, answer] of cases) {
    it(what, () => {
      assert.deepEqual(replayFrom(position, since), plan);
      const entries = numbers.map((n) => entry(n));
      const {
        entries: given,
        position: at,
        more,
        ...rest
      } = recovery(position, replayFrom(position, since), entries, false);
      assert.deepEqual(rest, answer);
      assert.equal(given, entries);
      assert.equal(at, position);
      assert.equal(more, false);
    });
  }

  it('counts the lines gone from what was actually read, so a trim after the position cannot hide them', () => {
    // The position said line 5 was held; by the time of the read, 5 and 6 had been trimmed.
    const answer = recovery(position, { after: 4 }, [entry(7), entry(8)], false);
    assert.deepEqual(
      { recovered: answer.recovered, gone: answer.recovered ? 0 : answer.gone },
      { recovered: false, gone: 2 },
    );
  });
});

describe('retention', () => {
  const at = (times: number[]) => (cutoff: number) => {
    const i = times.findIndex((t) => t >= cutoff);
    return i === -1 ? times.length + 1 : i + 1;
  };

  it('keeps the newest maxLines, none older than maxAgeMs', () => {
    const times = [0, 10, 20, 30, 40];
    assert.equal(firstKept(5, { maxLines: 3, maxAgeMs: 1000 }, at(times), 40), 3);
    assert.equal(firstKept(5, { maxLines: 10, maxAgeMs: 15 }, at(times), 40), 4);
    assert.equal(firstKept(5, { maxLines: 10, maxAgeMs: 5 }, at(times), 100), 6, 'nothing kept: last + 1');
    assert.equal(firstKept(0, { maxLines: 10, maxAgeMs: 5 }, at([]), 100), 1);
  });

  it('refuses bounds that would keep nothing or are not numbers', () => {
    for (const retention of [
      { maxLines: 0, maxAgeMs: 1 },
      { maxLines: 1, maxAgeMs: 0 },
      { maxLines: 1.5, maxAgeMs: 1 },
      { maxLines: 1, maxAgeMs: Number.NaN },
    ]) {
      assert.throws(() => checkRetention(retention), RangeError, JSON.stringify(retention));
    }
    assert.deepEqual(checkRetention({ maxLines: 1, maxAgeMs: 1 }), { maxLines: 1, maxAgeMs: 1 });
  });
});

describe('visibleTo', () => {
  it('shows lines to everyone, and a direct line only to its recipient and its sender', () => {
    assert.equal(visibleTo(entry(1), 'anyone'), true);
    assert.equal(visibleTo(entry(1, { kind: 'join' }), 'anyone'), true);
    const direct = entry(2, { kind: 'direct', to: 'tab-b', origin: { identity: 'console-1', lineId: 4 } });
    assert.equal(visibleTo(direct, 'tab-b'), true);
    assert.equal(visibleTo(direct, 'console-1'), true);
    assert.equal(visibleTo(direct, 'tab-c'), false);
  });
});
