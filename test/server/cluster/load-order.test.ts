/** `npm run load`'s check that every tab saw one chat-wide order (tools/load.ts orderProblems). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { orderProblems } from '../../../tools/load.ts';

describe('npm run load: one order', () => {
  it('passes tabs whose orders one chat order holds, each without its own lines', () => {
    assert.deepEqual(
      orderProblems([
        ['1:0', '2:0', '2:1'],
        ['0:0', '2:0', '2:1'],
        ['0:0', '1:0'],
      ]),
      [],
    );
    assert.deepEqual(
      orderProblems([
        ['1:0', '2:0'],
        ['2:0', '0:0'],
        ['1:0', '0:0'],
      ]),
      [],
    );
  });

  it('finds two tabs that saw the same lines in different orders, whoever sent them', () => {
    assert.equal(
      orderProblems([
        ['1:0', '2:0', '2:1'],
        ['0:0', '2:1', '2:0'],
        ['0:0', '1:0'],
      ]).length,
      1,
    );
    // Tabs 2 and 3 disagree about the lines of tabs 0 and 1.
    const problems = orderProblems([['1:0'], ['0:0'], ['0:0', '1:0'], ['1:0', '0:0']]);
    assert.deepEqual(problems, [
      'the tabs saw lines in different orders: no one order holds them all (2 of 2 lines cannot be placed)',
    ]);
  });
});
