/**
 * `npm run bench -- --only cluster` at --quick sizes, through the real command, so that the cluster bench cannot
 * rot: it starts its own redis-servers and relays (one process without Redis, one with --redis, --workers 2),
 * drives each with checked load rounds and a fan-out, and prints every row with its ratio to the process without
 * Redis. No time is asserted. Without redis-server on this machine it fails (CI installs Debian's), never skips.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BenchResult } from '../../tools/bench/main.ts';
import { runBench } from '../helpers/bench.ts';

const MEASURES = ['lines', 'deliveries', 'cpu', 'cpu.redis', 'rtt', 'fanout'];

describe('npm run bench -- --only cluster', () => {
  it('prints every row of each configuration against one process without Redis (--quick --json)', async () => {
    const { code, stdout, stderr } = await runBench(['--quick', '--only', 'cluster', '--json'], 150_000);
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout) as BenchResult;
    assert.deepEqual(
      result.rows.map((r) => r.id),
      ['redis', 'workers2'].flatMap((config) => MEASURES.map((m) => `cluster.${config}.${m}`)),
    );
    for (const row of result.rows) {
      assert.equal(row.section, 'cluster');
      assert.ok(row.baseline, row.id);
      // CPU times come in clock ticks (10 ms): a quick round's Redis may spend less than one.
      const cpu = row.id.includes('.cpu');
      for (const figure of [row.value, row.baseline.value])
        assert.ok(Number.isFinite(figure) && (cpu ? figure >= 0 : figure > 0), `${row.id}: ${figure}`);
      if (Number.isFinite(row.ratio))
        assert.ok(row.range && row.range.min <= row.ratio! && row.ratio! <= row.range.max, row.id);
      else assert.ok(cpu, `${row.id}: ratio ${row.ratio}`);
    }
    assert.match(stderr, /^cluster: one process, no Redis, one process with --redis, --redis --workers 2; /m);
    assert.match(stderr, /^cluster: done in/m);
  });
});
