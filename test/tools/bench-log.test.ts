/**
 * tools/bench/log.ts: a tiny run has a row for each store in each mode, every figure a finite positive number,
 * and the baseline's ratio to itself exactly 1. No speed is asserted: that is the benchmark's job.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BASELINE, benchLog, formatLogRows } from '../../tools/bench/log.ts';

describe('the chat log benchmark', () => {
  it('measures every store one at a time and in bursts, against the memory store of the same run', async () => {
    const rows = await benchLog({ runs: 2, burst: 4, lines: 40 });
    assert.deepEqual(
      rows.map((r) => [r.burst, r.store.split(/[,(]/)[0]!.trim()]),
      [
        [1, 'memory store alone'],
        [1, 'memory'],
        [1, 'memory store'],
        [1, 'SQLite'],
        [1, 'SQLite'],
        [4, 'memory store alone'],
        [4, 'memory'],
        [4, 'memory store'],
        [4, 'SQLite'],
        [4, 'SQLite'],
      ],
    );
    for (const row of rows) {
      for (const figure of [row.appendsPerSecond, row.ratio.median, row.ratio.min, row.ratio.max]) {
        assert.ok(Number.isFinite(figure) && figure > 0, `${row.store}: ${figure}`);
      }
      assert.ok(row.ratio.min <= row.ratio.median && row.ratio.median <= row.ratio.max, row.store);
    }
    for (const base of rows.filter((r) => r.store === BASELINE))
      assert.deepEqual(base.ratio, { median: 1, min: 1, max: 1 });
    assert.match(formatLogRows(rows), /synchronous=FULL \(--history\)\s+bursts of 4/);
  });
});
