import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DEFAULTS } from '../../server/options.ts';
import { percentile, runAttackLoad, runLoad } from '../../tools/load.ts';
import { ROOT } from '../helpers/process.ts';
import { startTestServer } from '../helpers/server.ts';

describe('npm run load', () => {
  it('delivers every line of 6 tabs x 8 lines to every other tab exactly once, in order', async () => {
    const result = await runLoad({ clients: 6, lines: 8 });
    assert.deepEqual(result.problems, []);
    assert.equal(result.expected, 6 * 8 * 5);
    assert.equal(result.deliveries, result.expected);
    assert.ok(result.p50Ms <= result.p99Ms);
  });

  it('has its tabs leave as pages do: the server hears each say goodbye and close with 1000, none cut', async () => {
    const server = await startTestServer({ rate: 1_000_000, burst: 1_000_000 });
    try {
      const result = await runLoad({ url: server.wsUrl, clients: 3, lines: 2 });
      assert.deepEqual(result.problems, []);
      // runLoad returns once each tab's close handshake is done: the server has heard them all by then.
      const left = server.events.filter((e) => e.kind === 'left');
      assert.deepEqual(left.map((e) => [e.name, e.code, e.text]).sort(), [
        ['load-0', 1000, 'left'],
        ['load-1', 1000, 'left'],
        ['load-2', 1000, 'left'],
      ]);
      assert.equal(server.relay.size, 0, 'no tab left behind');
    } finally {
      await server.stop();
    }
  });

  it('does the same in plain mode', async () => {
    const result = await runLoad({ clients: 3, lines: 5, plain: true });
    assert.deepEqual(result.problems, []);
    assert.equal(result.deliveries, 3 * 5 * 2);
  });

  it('answers --help and refuses nonsense sizes from the command line', () => {
    const help = spawnSync('npx', ['tsx', 'tools/load.ts', '--help'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--clients N/);
    const bad = spawnSync('npx', ['tsx', 'tools/load.ts', '--clients', '1'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--clients must be 2 or more/);
  });

  it('--attack hello: tabs from 127.0.0.1 join and chat while 127.0.0.2 floods, and the flood is refused past its limit', async () => {
    const result = await runAttackLoad({
      clients: 3,
      lines: 3,
      from: '127.0.0.1',
      attack: 'hello',
      attackers: 100,
      attackFrom: '127.0.0.2',
      warmupSeconds: 0.5,
    });
    assert.deepEqual(result.problems, []);
    for (const round of [result.alone, result.underAttack]) {
      assert.equal(round.joined, 3);
      assert.equal(round.deliveries, 3 * 3 * 2);
    }
    const { attacker } = result;
    assert.equal(attacker.from, '127.0.0.2');
    assert.ok(attacker.welcomed >= 1, 'the attacker got some seats');
    assert.ok(attacker.peakJoined <= DEFAULTS.maxPerAddress, `it held ${attacker.peakJoined} at once`);
    const refused = (attacker.closes['1013'] ?? 0) + (attacker.closes['http 429'] ?? 0);
    assert.ok(refused >= 1, `refused with 1013 or HTTP 429: ${JSON.stringify(attacker.closes)}`);
    assert.ok(result.server && result.server.admission.admitted >= 3);
  });

  it('refuses an unknown --attack mode from the command line', () => {
    const bad = spawnSync('npx', ['tsx', 'tools/load.ts', '--attack', 'nuke'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--attack takes hold, hello, join/);
  });

  it('computes percentiles by rank', () => {
    assert.equal(percentile([1, 2, 3, 4], 50), 3);
    assert.equal(percentile([1, 2, 3, 4], 99), 4);
    assert.ok(Number.isNaN(percentile([], 50)));
  });
});
