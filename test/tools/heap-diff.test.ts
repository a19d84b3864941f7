/**
 * tools/bench/heap-diff.ts: a real heap snapshot of this process read into groups, and the per-connection growth
 * between two snapshots, where a known number of objects of a class of our own was made in between.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapSnapshot } from 'node:v8';
import { heapGroups, perConnectionGrowth } from '../../tools/bench/heap-diff.ts';

async function snapshot(): Promise<Parameters<typeof heapGroups>[0]> {
  let text = '';
  for await (const chunk of getHeapSnapshot()) text += String(chunk);
  return JSON.parse(text) as Parameters<typeof heapGroups>[0];
}

class HeapDiffProbe {
  readonly n: number;
  constructor(n: number) {
    this.n = n;
  }
}

describe('heap-diff', () => {
  it('counts the objects made between two snapshots, per connection, by constructor name', async () => {
    const before = heapGroups(await snapshot());
    const held = Array.from({ length: 400 }, (_, i) => new HeapDiffProbe(i));
    const after = heapGroups(await snapshot());
    const growth = perConnectionGrowth(before, after, 200);
    const probe = growth.find((g) => g.what === 'HeapDiffProbe');
    assert.ok(probe, 'the probe class is listed');
    assert.equal(probe.count, 2);
    assert.ok(probe.bytes > 0);
    // Largest first.
    for (let i = 1; i < growth.length; i++) assert.ok(growth[i - 1]!.bytes >= growth[i]!.bytes);
    assert.equal(held.length, 400);
  });

  it('lists a kind that only the second snapshot has, and V8 kinds in parentheses', () => {
    const meta = {
      node_fields: ['type', 'name', 'id', 'self_size'],
      node_types: [['hidden', 'array', 'string', 'object', 'closure']] as [string[]],
    };
    const one = { snapshot: { meta }, nodes: [3, 0, 1, 40], strings: ['Thing', 'x'] };
    const two = { snapshot: { meta }, nodes: [3, 0, 1, 40, 3, 0, 2, 40, 4, 1, 3, 32], strings: ['Thing', 'x'] };
    const growth = perConnectionGrowth(heapGroups(one), heapGroups(two), 1);
    assert.deepEqual(growth, [
      { what: 'Thing', count: 1, bytes: 40 },
      { what: '(closure)', count: 1, bytes: 32 },
    ]);
  });
});
