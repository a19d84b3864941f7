/**
 * What only the Redis store has: several relays on one history, Redis's own keys and bounds, a history that Redis
 * loses (a key deleted, a restart without persistence) told as a new epoch, and what a Redis that persists with
 * appendfsync always keeps across a SIGKILL of its own.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ephemeralChatKey } from '../../../server/log/chat-key.ts';
import { HistoryError, type Appended, type ChatLog, type NewEntry, type Retention } from '../../../server/log/log.ts';
import { RedisConnection } from '../../../server/broker/connection.ts';
import { openRedisStore, type RedisStore } from '../../../server/log/redis.ts';
import { createChatLog, createLogSealer } from '../../../server/log/sealed.ts';
import { freePort } from '../../helpers/process.ts';
import { inspector, startRedis, type InspectorClient, type RedisServer } from '../../helpers/redis.ts';

let redis: RedisServer;
let raw: InspectorClient;
before(async () => {
  redis = await startRedis();
  raw = await inspector(redis);
});
after(async () => {
  raw?.destroy();
  await redis?.stop();
});

interface Opened {
  connection: RedisConnection;
  store: RedisStore;
  log: ChatLog;
  epochs: Array<[string, string]>;
  close(): Promise<void>;
}

async function open(url: string, chat: string, key: Uint8Array, retention?: Retention): Promise<Opened> {
  const connection = await RedisConnection.open(url, { maxReconnectDelayMs: 100 });
  const epochs: Array<[string, string]> = [];
  let store: RedisStore;
  let log: ChatLog;
  try {
    store = await openRedisStore(connection, {
      chat,
      ...(retention ? { retention } : {}),
      onEpoch: (epoch, previous) => epochs.push([epoch, previous!]),
    });
    log = await createChatLog(store, await createLogSealer(key.slice()));
  } catch (error) {
    // The store is let go by the refusal; the connection is ours to close.
    await connection.close();
    throw error;
  }
  return { connection, store, log, epochs, close: async () => (await log.close(), await connection.close()) };
}

const newChat = () => `store-${randomBytes(6).toString('hex')}`;
const line = (text: string, identity: string, lineId: number): NewEntry => ({
  kind: 'line',
  from: 'someone',
  text,
  origin: { identity, lineId },
});

describe('Redis store: one history for several relays', () => {
  it('never gives one number twice when two relays append at once, and the stream is in number order', async () => {
    const chat = newChat();
    const key = ephemeralChatKey();
    const [a, b] = await Promise.all([open(redis.url, chat, key), open(redis.url, chat, key)]);
    try {
      const appendAll = async (relay: Opened, name: string): Promise<Appended[]> => {
        const out: Appended[] = [];
        for (let i = 0; i < 200; i += 20)
          out.push(
            ...(await Promise.all(
              Array.from({ length: 20 }, (_, j) => relay.log.append(line(`${name}${i + j}`, name, i + j))),
            )),
          );
        return out;
      };
      const [fromA, fromB] = await Promise.all([appendAll(a, 'a'), appendAll(b, 'b')]);
      const numbers = [...fromA, ...fromB].map((x) => x.n).sort((x, y) => x - y);
      assert.deepEqual(
        numbers,
        Array.from({ length: 400 }, (_, i) => i + 1),
        'every number once',
      );
      for (const results of [fromA, fromB]) {
        assert.ok(
          results.every((r, i) => i === 0 || r.n > results[i - 1]!.n),
          "a relay's own lines in the order it appended them",
        );
      }
      const ids = ((await raw.sendCommand(['XRANGE', a.store.keys.log, '-', '+'])) as Array<[string, string[]]>).map(
        ([id]) => id,
      );
      assert.deepEqual(
        ids,
        numbers.map((n) => `${n}-0`),
        'stream ids are the line numbers, in order',
      );
      const held = await b.log.readAfter(0, 1_000);
      assert.deepEqual(
        held.map((e) => e.n),
        numbers,
      );
      assert.deepEqual(
        held.filter((e) => e.origin!.identity === 'a').map((e) => e.n),
        fromA.map((r) => r.n),
      );
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('keeps two chats in one Redis apart', async () => {
    const key = ephemeralChatKey();
    const [one, two] = await Promise.all([open(redis.url, newChat(), key), open(redis.url, newChat(), key)]);
    try {
      await one.log.append(line('in one', 'tab', 1));
      assert.equal((await two.log.position()).last, 0);
      assert.equal(
        (await two.log.append(line('in two', 'tab', 1))).duplicate,
        false,
        'the same origin in another chat is another line',
      );
      assert.notEqual((await one.log.position()).epoch, (await two.log.position()).epoch);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it('refuses, at the start, a relay whose chat key is not the one the history was sealed with', async () => {
    const chat = newChat();
    const a = await open(redis.url, chat, ephemeralChatKey());
    try {
      await a.log.append(line('sealed under the first key', 'tab', 1));
      await assert.rejects(
        open(redis.url, chat, ephemeralChatKey()),
        (error: unknown) =>
          error instanceof HistoryError &&
          error.code === 'KEY_MISMATCH' &&
          /Redis redis:\/\/127\.0\.0\.1:\d+ chat store-/.test(error.message),
      );
    } finally {
      await a.close();
    }
  });

  it('is refused at the start, as OPEN_FAILED, when Redis is not there', async () => {
    const port = await freePort();
    await assert.rejects(openRedisStore(`redis://:pass-word-9@127.0.0.1:${port}`), (error: unknown) => {
      assert.ok(error instanceof HistoryError);
      assert.equal(error.code, 'OPEN_FAILED');
      assert.match(error.message, /cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+: connection refused/);
      return true;
    });
  });
});

describe('Redis store: what it keeps in Redis', () => {
  it('keeps four keys, holds exactly what retention keeps, and forgets the dedupe tags of dropped lines', async () => {
    const chat = newChat();
    const a = await open(redis.url, chat, ephemeralChatKey(), { maxLines: 3, maxAgeMs: 3_600_000 });
    try {
      for (let i = 1; i <= 10; i++) await a.log.append(line(`l${i}`, 'tab', i));
      await a.log.append({ kind: 'join', from: 'bob', text: '' });
      const keys = a.store.keys;
      assert.deepEqual(
        ((await raw.sendCommand(['KEYS', `${keys.prefix}*`])) as string[]).sort(),
        [keys.epoch, keys.last, keys.log, keys.tags].sort(),
      );
      assert.equal(await raw.sendCommand(['TYPE', keys.log]), 'stream');
      assert.equal(await raw.sendCommand(['XLEN', keys.log]), 3);
      assert.equal(
        await raw.sendCommand(['HLEN', keys.tags]),
        2,
        'the tags of the two tagged lines still held; a join has none',
      );
      assert.equal(await raw.sendCommand(['GET', keys.last]), '11');
      const entries = (await raw.sendCommand(['XRANGE', keys.log, '-', '+'])) as Array<[string, string[]]>;
      assert.deepEqual(
        entries.map(([id, fields]) => [id, fields.filter((_, i) => i % 2 === 0)]),
        [
          ['9-0', ['at', 'tag', 'sealed']],
          ['10-0', ['at', 'tag', 'sealed']],
          ['11-0', ['at', 'sealed']],
        ],
      );
      assert.match(entries[0]![1][5]!, /^gAAAAA/, 'the entry is a Fernet token');
    } finally {
      await a.close();
    }
  });
});

describe('Redis store: a lost history is a new epoch', () => {
  for (const [what, loss] of [
    ['the stream deleted', (k: RedisStore['keys']) => raw.sendCommand(['DEL', k.log])],
    ['the counter deleted', (k: RedisStore['keys']) => raw.sendCommand(['DEL', k.last])],
    ['the epoch deleted', (k: RedisStore['keys']) => raw.sendCommand(['DEL', k.epoch])],
    ['the counter set back', (k: RedisStore['keys']) => raw.sendCommand(['SET', k.last, '1'])],
    ['every key flushed', () => raw.sendCommand(['FLUSHALL'])],
  ] as const) {
    it(`starts a new, empty epoch and says so: ${what}`, async () => {
      const a = await open(redis.url, newChat(), ephemeralChatKey());
      try {
        await a.log.append(line('one', 'tab', 1));
        await a.log.append(line('two', 'tab', 2));
        const before = await a.log.position();
        await loss(a.store.keys);
        const after = await a.log.position();
        assert.notEqual(after.epoch, before.epoch);
        assert.deepEqual({ first: after.first, last: after.last }, { first: 1, last: 0 });
        assert.deepEqual(a.epochs, [[after.epoch, before.epoch]]);
        const recovery = await a.log.recover({ epoch: before.epoch, n: 2 });
        assert.equal(recovery.recovered, false);
        assert.equal(!recovery.recovered && recovery.reason, 'epoch');
        assert.deepEqual(
          await a.log.append(line('one', 'tab', 1)),
          { n: 1, at: (await a.log.readAfter(0, 1))[0]?.at ?? NaN, duplicate: false },
          'nothing of the lost epoch is known',
        );
      } finally {
        await a.close();
      }
    });
  }
});

describe('Redis store: what a Redis crash keeps', () => {
  it('starts a new epoch after Redis is killed and restarted without persistence', async () => {
    const server = await startRedis();
    try {
      const a = await open(server.url, newChat(), ephemeralChatKey());
      try {
        await a.log.append(line('before', 'tab', 1));
        const { epoch } = await a.log.position();
        await server.kill();
        await server.restart();
        await a.connection.whenUp();
        const after = await a.log.position();
        assert.notEqual(after.epoch, epoch);
        assert.equal(after.last, 0);
      } finally {
        await a.close();
      }
    } finally {
      await server.stop();
    }
  });

  // everysec fsyncs once a second, but Redis writes to the kernel before it replies: a crash of Redis alone (not of
  // the machine) loses nothing it acknowledged, under either.
  for (const persistence of ['aof-always', 'aof-everysec'] as const) {
    it(`keeps every acknowledged line, its number and the epoch, when Redis (${persistence}) is killed mid-burst`, async () => {
      const server = await startRedis({ persistence });
      try {
        const chat = newChat();
        const key = ephemeralChatKey();
        const a = await open(server.url, chat, key);
        const acks = new Map<number, number>();
        let epoch: string;
        try {
          epoch = (await a.log.position()).epoch;
          let lineId = 0;
          const writer = (async () => {
            for (;;) {
              const burst = Array.from({ length: 16 }, () => ++lineId);
              const results = await Promise.allSettled(burst.map((id) => a.log.append(line(`line ${id}`, 'tab', id))));
              results.forEach((r, i) => r.status === 'fulfilled' && acks.set(burst[i]!, r.value.n));
              if (results.some((r) => r.status === 'rejected')) return;
            }
          })();
          while (acks.size < 300) await new Promise((resolve) => setImmediate(resolve));
          await server.kill();
          await writer;
        } finally {
          await a.close();
        }
        await server.restart();
        const b = await open(server.url, chat, key);
        try {
          const { epoch: after, first, last } = await b.log.position();
          assert.equal(after, epoch, 'the same history');
          const held = await b.log.readAfter(0, 100_000);
          assert.deepEqual(
            held.map((e) => e.n),
            Array.from({ length: last - first + 1 }, (_, i) => first + i),
            'no gap, no repeat',
          );
          const byLineId = new Map(held.map((e) => [e.origin!.lineId, e]));
          for (const [lineId, n] of acks)
            assert.equal(byLineId.get(lineId)?.n, n, `acknowledged line ${lineId} is there as ${n}`);
          assert.ok(acks.size >= 300, `${acks.size} acknowledged`);
          const [lastAcked, lastN] = [...acks].at(-1)!;
          assert.equal(
            (await b.log.append(line(`line ${lastAcked}`, 'tab', lastAcked))).n,
            lastN,
            'a resend after the crash is recognized',
          );
          assert.equal((await b.log.append(line('after', 'tab', 1e6))).n, last + 1, 'the numbers go on');
        } finally {
          await b.close();
        }
      } finally {
        await server.stop();
      }
    });
  }
});
