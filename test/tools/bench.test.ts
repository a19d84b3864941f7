/**
 * `npm run bench`: its command line, and the sections that need no browser (codec and log) run through the real
 * command at --quick sizes: every row there, every figure a finite positive number, every ratio inside its range.
 * No time is asserted: the figures depend on the machine and on what else runs on it. The whole table, Chromium's
 * rows included, is test/e2e/bench.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { BenchResult } from '../../tools/bench/main.ts';
import { benchRecord } from '../../tools/bench/record.ts';
import { CODEC_ROWS, LOG_ROWS, positive, RECORD_ONE_KEY_ROW, RECORD_ROWS, runBench } from '../helpers/bench.ts';
import { ROOT } from '../helpers/process.ts';

describe('npm run bench', () => {
  it('runs the codec, log and record sections (--quick --only codec --only log --only record --json), each ratio inside its range', async () => {
    const { code, stdout, stderr } = await runBench(
      ['--quick', '--only', 'codec', '--only', 'log', '--only', 'record', '--json'],
      90_000,
    );
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout) as BenchResult;
    assert.deepEqual(
      result.rows.map((r) => r.id).sort(),
      [...CODEC_ROWS, ...LOG_ROWS, ...RECORD_ROWS, RECORD_ONE_KEY_ROW].sort(),
    );
    assert.equal(result.rows.find((r) => r.id === RECORD_ONE_KEY_ROW)!.target, undefined, 'beside its row, no target');
    for (const id of RECORD_ROWS) {
      const row = result.rows.find((r) => r.id === id)!;
      assert.ok(
        row.target && row.target.bound === 1.3 && typeof row.target.met === 'boolean',
        `${id} carries issue 14's target`,
      );
    }
    for (const row of result.rows) {
      assert.ok(positive(row.value) && positive(row.baseline?.value) && positive(row.ratio), row.id);
      assert.ok(
        row.range && row.range.min <= row.ratio! && row.ratio! <= row.range.max,
        `${row.id}: ${row.ratio} in ${JSON.stringify(row.range)}`,
      );
    }
    // The log's baseline is the memory log as the server opens it: against itself, exactly 1 in every run.
    for (const id of ['log.memory.single', 'log.memory.burst']) {
      assert.deepEqual(result.rows.find((r) => r.id === id)!.range, { min: 1, max: 1 });
    }
    assert.match(stderr, /^log: done in/m);
  });

  it('times a seal and an open against their primitives (tools/bench/record.ts)', async () => {
    // Every timed open checks what it opens, so a broken channel throws here instead of timing nothing.
    const rows = await benchRecord({ runs: 2, batch: 20, fanout: 5, warmupMs: 5 });
    assert.deepEqual(
      rows.map((r) => r.id),
      ['seal', 'seal.fanout', 'open'],
    );
    for (const row of rows) {
      assert.ok(
        positive(row.us) && positive(row.primitivesUs) && positive(row.ratio),
        `${row.id}: ${JSON.stringify(row)}`,
      );
      assert.ok(row.range.min <= row.ratio && row.ratio <= row.range.max, row.id);
      assert.equal(row.runs, 2);
    }
    // The fan-out's floor is under each recipient's keys; the floor under one key set is reported beside it.
    const fanout = rows.find((r) => r.id === 'seal.fanout')!;
    assert.ok(fanout.oneKey && positive(fanout.oneKey.primitivesUs) && positive(fanout.oneKey.ratio));
    assert.ok(fanout.oneKey.range.min <= fanout.oneKey.ratio && fanout.oneKey.ratio <= fanout.oneKey.range.max);
    assert.equal(rows.find((r) => r.id === 'seal')!.oneKey, undefined);
  });

  it('answers --help and refuses unknown options and sections', () => {
    const help = spawnSync('npx', ['tsx', 'tools/bench/main.ts', '--help'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--only NAME/);
    assert.match(help.stdout, /--quick/);
    const section = spawnSync('npx', ['tsx', 'tools/bench/main.ts', '--only', 'nonsense'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(section.status, 2);
    assert.match(section.stderr, /--only takes one of handshake/);
    const option = spawnSync('npx', ['tsx', 'tools/bench/main.ts', '--fast'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(option.status, 2);
    assert.match(option.stderr, /unknown option '--fast'/i);
  });
});
