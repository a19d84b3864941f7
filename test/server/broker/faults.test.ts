/**
 * Redis lost under two relays while they publish: killed with SIGKILL and started again. With persistence
 * (appendfsync always) nothing is lost, nothing doubled, and every relay shows the same order; without it the
 * relays learn that the history is gone (a new epoch) and carry on in it, lines kept meanwhile included. And the
 * queue that holds lines while Redis is away is bounded.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Appended, LogEntry } from '../../../server/log/log.ts';
import { BrokerError } from '../../../server/broker/errors.ts';
import { inspector, startRedis, type RedisServer } from '../../helpers/redis.ts';
import { newChat, startRelay, until, type TestRelay } from './relays.ts';

/** Presence is not what these tests look at: a heartbeat that outlives the restart keeps it out of the way. */
const STEADY = { heartbeatMs: 100, ttlMs: 10_000 };

async function withRedis(
  options: Parameters<typeof startRedis>[0],
  run: (redis: RedisServer) => Promise<void>,
): Promise<void> {
  const redis = await startRedis(options);
  try {
    await run(redis);
  } finally {
    await redis.stop();
  }
}

const line = (text: string, identity: string, lineId: number) => ({
  kind: 'line' as const,
  from: identity,
  text,
  origin: { identity, lineId },
});
const shown = (entries: LogEntry[]) => entries.map((e) => `${e.n}:${e.text}`);
const count = (relay: TestRelay, name: string) => relay.events.filter((e) => e.name === name).length;

describe('broker: Redis lost while lines are published', () => {
  it('loses nothing, doubles nothing and keeps one order when Redis (appendfsync always) is killed and restarted', async () => {
    await withRedis({ persistence: 'aof-always' }, async (redis) => {
      const chat = newChat();
      const relays = [
        await startRelay(redis.url, chat, 'a', { timing: STEADY }),
        await startRelay(redis.url, chat, 'b', { timing: STEADY }),
      ];
      try {
        const perRelay = 120;
        const pending: Array<Array<Promise<Appended>>> = [[], []];
        const send = (from: number, to: number) => {
          for (let i = from; i < to; i++)
            relays.forEach((relay, r) =>
              pending[r]!.push(relay.broker.append(line(`${relay.name}${i}`, `tab-${relay.name}`, i))),
            );
        };
        // A third before Redis dies, a third while it is away (queued), a third as it comes back.
        send(0, 40);
        await until(
          relays.map((r) => r.broker),
          'entry',
          () => relays.every((r) => r.received.length >= 40),
          'the first lines',
        );
        await redis.kill();
        await until(
          relays.map((r) => r.broker),
          'down',
          () => relays.every((r) => count(r, 'down') === 1),
          'both relays to say Redis is down',
        );
        send(40, 80);
        assert.ok(
          relays.every((r) => r.broker.queued > 0),
          'lines typed meanwhile wait in the queue',
        );
        await redis.restart();
        send(80, perRelay);
        const results = await Promise.all(pending.map((p) => Promise.all(p)));
        await until(
          relays.map((r) => r.broker),
          'entry',
          () => relays.every((r) => r.received.length === 2 * perRelay),
          'every line on both relays',
          30_000,
        );
        const [a, b] = relays as [TestRelay, TestRelay];
        assert.deepEqual(shown(a.received), shown(b.received), 'the same order on both relays');
        assert.deepEqual(
          a.received.map((e) => e.n),
          Array.from({ length: 2 * perRelay }, (_, i) => i + 1),
          'no gap, no repeat',
        );
        assert.equal(new Set(a.received.map((e) => e.text)).size, 2 * perRelay, 'each line once');
        for (const [r, relay] of relays.entries()) {
          const own = a.received.filter((e) => e.origin?.identity === `tab-${relay.name}`);
          assert.deepEqual(
            own.map((e) => e.text),
            Array.from({ length: perRelay }, (_, i) => `${relay.name}${i}`),
            `${relay.name}'s lines in the order typed`,
          );
          assert.deepEqual(
            own.map((e) => e.n),
            results[r]!.map((x) => x.n),
            'each append answered with its line number',
          );
          assert.equal(count(relay, 'up'), 1);
          assert.equal(count(relay, 'epoch'), 0, 'the history survived: same epoch');
          assert.equal(relay.broker.queued, 0);
        }
        assert.deepEqual(shown(await a.log.readAfter(0, 1_000)), shown(a.received), 'the log holds what was shown');
        // The subscriber came back too: an event after the restart reaches the other relay.
        const heard = new Promise((resolve) => b.broker.on('event', (e) => e.type === 'end' && resolve(e)));
        await a.broker.publish({ type: 'end', by: 'console', reason: 'after the restart' });
        assert.deepEqual(await heard, { type: 'end', by: 'console', reason: 'after the restart' });
      } finally {
        await Promise.all(relays.map((r) => r.close()));
      }
    });
  });

  it('starts the new epoch on every relay when Redis comes back empty, with the lines kept meanwhile, and claims names again', async () => {
    await withRedis({}, async (redis) => {
      const chat = newChat();
      const [a, b] = [
        await startRelay(redis.url, chat, 'a', { timing: STEADY }),
        await startRelay(redis.url, chat, 'b', { timing: STEADY }),
      ] as [TestRelay, TestRelay];
      try {
        assert.deepEqual(await a.broker.join('p-gus', 'gus'), { ok: true });
        for (let i = 0; i < 5; i++) await a.broker.append(line(`old${i}`, 'tab-a', i));
        await until(
          [a.broker, b.broker],
          'entry',
          () => a.received.length === 5 && b.received.length === 5,
          'the first lines',
        );
        const { epoch } = a.broker.delivered;
        await redis.kill();
        await until([a.broker, b.broker], 'down', () => count(a, 'down') === 1 && count(b, 'down') === 1, 'down');
        const meanwhile = [0, 1, 2].map((i) => a.broker.append(line(`new${i}`, 'tab-a', 100 + i)));
        await redis.restart();
        assert.deepEqual(
          (await Promise.all(meanwhile)).map((r) => r.n),
          [1, 2, 3],
          'numbered in the new epoch, in order',
        );
        await until(
          [a.broker, b.broker],
          ['entry', 'epoch', 'rejoined'],
          () => [a, b].every((r) => r.received.length === 8) && count(a, 'rejoined') === 1,
          'the new epoch on both relays',
        );
        for (const relay of [a, b]) {
          const epochs = relay.events
            .filter((e) => e.name === 'epoch')
            .map((e) => e.args[0] as { epoch: string; previous: string });
          assert.equal(epochs.length, 1);
          assert.equal(epochs[0]!.previous, epoch);
          assert.deepEqual(shown(relay.received.slice(5)), ['1:new0', '2:new1', '3:new2']);
          assert.equal(relay.broker.delivered.epoch, epochs[0]!.epoch);
        }
        assert.deepEqual(
          await b.broker.find('gus'),
          { id: 'p-gus', name: 'gus', relay: a.broker.relay.id },
          "a's participant is back under its name",
        );
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  });

  it('starts a new epoch when Redis comes back with fewer lines than it acknowledged (an older snapshot), losing none it has', async () => {
    await withRedis({}, async (redis) => {
      const chat = newChat();
      const [a, b] = [
        await startRelay(redis.url, chat, 'a', { timing: STEADY }),
        await startRelay(redis.url, chat, 'b', { timing: STEADY }),
      ] as [TestRelay, TestRelay];
      const raw = await inspector(redis);
      try {
        for (let i = 0; i < 3; i++) await a.broker.append(line(`saved${i}`, 'tab-a', i));
        // A snapshot (as `save 3600 1` would make), then lines it does not have, then a crash.
        await raw.sendCommand(['SAVE']);
        for (let i = 3; i < 6; i++) await a.broker.append(line(`unsaved${i}`, 'tab-a', i));
        await until(
          [a.broker, b.broker],
          'entry',
          () => a.received.length === 6 && b.received.length === 6,
          'six lines',
        );
        const { epoch } = a.broker.delivered;
        raw.destroy();
        await redis.kill();
        await redis.restart();
        await until(
          [a.broker, b.broker],
          'epoch',
          () => [a, b].every((r) => count(r, 'epoch') === 1),
          'both relays to notice',
          20_000,
        );
        for (const relay of [a, b])
          assert.equal((relay.events.find((e) => e.name === 'epoch')!.args[0] as { previous: string }).previous, epoch);
        const rewound = [a, b].flatMap((r) => r.events.filter((e) => e.name === 'rewound').map((e) => e.args[0]));
        assert.ok(rewound.length >= 1, 'the relay that found it says so');
        for (const report of rewound) assert.deepEqual(report, { had: 6, has: 3 });
        await a.broker.append(line('after', 'tab-a', 99));
        await until(
          [a.broker, b.broker],
          'entry',
          () => [a, b].every((r) => r.received.at(-1)?.text === 'after'),
          'the next line',
        );
        for (const relay of [a, b]) {
          assert.deepEqual(
            shown(relay.received.slice(6)),
            ['1:saved0', '2:saved1', '3:saved2', '4:after'],
            `${relay.name}: the history as Redis now has it, under the new epoch`,
          );
        }
      } finally {
        raw.destroy();
        await Promise.all([a.close(), b.close()]);
      }
    });
  });

  it('keeps at most maxQueued lines while Redis is away, refuses more with QUEUE_FULL, refuses what cannot wait, and sends the kept ones in order', async () => {
    await withRedis({}, async (redis) => {
      const a = await startRelay(redis.url, newChat(), 'a', { timing: STEADY, maxQueued: 5 });
      try {
        await redis.kill();
        await until(a.broker, 'down', () => count(a, 'down') === 1, 'down');
        const kept = [0, 1, 2, 3, 4].map((i) => a.broker.append(line(`kept${i}`, 'tab-a', i)));
        await assert.rejects(
          a.broker.append(line('one too many', 'tab-a', 5)),
          (error: unknown) =>
            error instanceof BrokerError &&
            error.code === 'QUEUE_FULL' &&
            /5 lines and messages are waiting for Redis/.test(error.message),
        );
        assert.equal(a.broker.queued, 5);
        // What needs Redis now, and cannot wait, says so at once.
        const down = (error: unknown) =>
          error instanceof BrokerError && error.code === 'DOWN' && /Redis is away/.test(error.message);
        await assert.rejects(a.broker.join('p-jo', 'jo'), down, 'a name cannot be checked chat-wide');
        await assert.rejects(a.broker.request('who', {}), down);
        await assert.rejects(a.broker.find('jo'), down);
        await redis.restart();
        assert.deepEqual(
          (await Promise.all(kept)).map((r) => r.n),
          [1, 2, 3, 4, 5],
        );
        assert.deepEqual(
          (await a.log.readAfter(0, 10)).map((e) => e.text),
          ['kept0', 'kept1', 'kept2', 'kept3', 'kept4'],
        );
      } finally {
        await a.close();
      }
    });
  });
});
