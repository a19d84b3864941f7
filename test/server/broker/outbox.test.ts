/**
 * The queue between a relay and Redis, on its own: a retried append whose first try did reach the log is not
 * doubled, the order holds across retries, a refusal fails one item and not the rest, and the bound holds. The
 * log here is a real chat log on the memory store; the sink in front of it loses replies on purpose.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorReply, SocketClosedUnexpectedlyError } from '@redis/client';
import { ephemeralChatKey } from '../../../server/log/chat-key.ts';
import type { Appended, ChatLog, NewEntry } from '../../../server/log/log.ts';
import { MemoryStore } from '../../../server/log/memory.ts';
import { createChatLog, createLogSealer } from '../../../server/log/sealed.ts';
import { BrokerError } from '../../../server/broker/errors.ts';
import { Outbox, type OutboxLink } from '../../../server/broker/outbox.ts';

const line = (text: string, lineId: number): NewEntry => ({
  kind: 'line',
  from: 'ann',
  text,
  origin: { identity: 'tab-ann', lineId },
});

async function memoryLog(): Promise<ChatLog> {
  return createChatLog(new MemoryStore(), await createLogSealer(ephemeralChatKey()));
}

/** A link that is up, or down until `back()`. */
function link(): OutboxLink & { down(): void; back(): void } {
  let up = true;
  let waiters: Array<() => void> = [];
  return {
    get up() {
      return up;
    },
    whenUp: () => (up ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
    down: () => (up = false),
    back() {
      up = true;
      const w = waiters;
      waiters = [];
      for (const wake of w) wake();
    },
  };
}

describe('outbox', () => {
  it('does not double a line whose append reached the log but whose answer was lost', async () => {
    const log = await memoryLog();
    const l = link();
    let calls = 0;
    const outbox = new Outbox(
      {
        async append(entries) {
          calls++;
          const results = await log.appendMany(entries);
          if (calls === 1) {
            // The script ran; the socket broke before its reply came back.
            l.down();
            setImmediate(() => l.back());
            throw new SocketClosedUnexpectedlyError();
          }
          return results;
        },
        publish: async () => {},
      },
      l,
      100,
    );
    const results = await Promise.all([outbox.append([line('a', 1)]), outbox.append([line('b', 2), line('c', 3)])]);
    assert.equal(calls, 2, 'tried again once');
    assert.deepEqual(
      results.flat().map((r: Appended) => r.n),
      [1, 2, 3],
      'answered with the numbers of the first, landed try',
    );
    assert.deepEqual(
      (await log.readAfter(0, 10)).map((e) => e.text),
      ['a', 'b', 'c'],
      'each line once',
    );
    await log.close();
  });

  it('keeps the order across retries, lines and messages alike', async () => {
    const log = await memoryLog();
    const l = link();
    const order: string[] = [];
    // A broken socket, then a Redis that is back but still loading its data: both are retried.
    const failures = [
      new SocketClosedUnexpectedlyError(),
      new ErrorReply('LOADING Redis is loading the dataset in memory'),
      new SocketClosedUnexpectedlyError(),
    ];
    const outbox = new Outbox(
      {
        async append(entries) {
          const failure = failures.shift();
          if (failure) throw failure;
          order.push(...entries.map((e) => e.text));
          return log.appendMany(entries);
        },
        async publish(_channel, message) {
          order.push(String(message));
        },
      },
      l,
      100,
    );
    await Promise.all([
      outbox.append([line('1', 1)]),
      outbox.publish('ch', 'event after 1'),
      outbox.append([line('2', 2)]),
    ]);
    assert.deepEqual(order, ['1', 'event after 1', '2']);
    await log.close();
  });

  it('fails an item Redis refuses (not a passing trouble) alone, and goes on with the next', async () => {
    const outbox = new Outbox(
      {
        async append(entries) {
          if (entries.some((e) => e.text === 'bad'))
            throw new ErrorReply('WRONGTYPE Operation against a key holding the wrong kind of value');
          return entries.map((_, i) => ({ n: i + 1, at: 0, duplicate: false }));
        },
        publish: async () => {},
      },
      link(),
      100,
    );
    const bad = assert.rejects(outbox.append([line('bad', 1)]), /WRONGTYPE/);
    await new Promise((resolve) => setImmediate(resolve));
    const good = outbox.append([line('good', 2)]);
    await bad;
    assert.equal((await good).length, 1);
    assert.equal(outbox.size, 0);
  });

  it('holds at most max items, refuses more with QUEUE_FULL, and refuses what is left at close with CLOSED', async () => {
    const l = link();
    l.down();
    const outbox = new Outbox(
      { append: async () => Promise.reject(new SocketClosedUnexpectedlyError()), publish: async () => {} },
      l,
      3,
    );
    const kept = [outbox.append([line('1', 1), line('2', 2)]), outbox.publish('ch', 'x')];
    await assert.rejects(
      outbox.append([line('3', 3)]),
      (e: unknown) => e instanceof BrokerError && e.code === 'QUEUE_FULL',
    );
    assert.equal(outbox.size, 3);
    const refusals = kept.map((item) =>
      assert.rejects(item, (e: unknown) => e instanceof BrokerError && e.code === 'CLOSED'),
    );
    await outbox.close(10);
    await Promise.all(refusals);
    await assert.rejects(outbox.publish('ch', 'late'), (e: unknown) => e instanceof BrokerError && e.code === 'CLOSED');
  });
});
