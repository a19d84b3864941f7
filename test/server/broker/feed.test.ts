/**
 * The feed's loop against stand-ins for Redis (no server): Feed.stop() ends it wherever it waits. Broker.close()
 * stops the feed before it closes the command connection, so a loop that waited for that connection to come back
 * held a relay's shutdown for good whenever Redis went away during it (seen as a relay that never exited on
 * SIGTERM, its test file kept alive by the relay's pipes).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Feed, type FeedLink } from '../../../server/broker/feed.ts';
import type { RedisClient } from '../../../server/broker/connection.ts';
import type { ChatLog } from '../../../server/log/log.ts';
import type { RedisStore } from '../../../server/log/redis.ts';

/** A socket's own failure, as Node names it: what a read gets when Redis goes away. */
function lost(): Error {
  return Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
}

/** What the loop is given; `log.readAfter` fails as when Redis is away. */
function standIns(commands: { up: boolean; whenUp(): Promise<void> }) {
  const link: FeedLink = { client: {} as RedisClient, up: true, whenUp: () => Promise.resolve() };
  const log = {
    readAfter: () => Promise.reject(lost()),
    position: () => Promise.reject(lost()),
  } as unknown as ChatLog;
  const store = { epoch: 'e', keys: { log: 'wirechat:{x}:log' } } as unknown as RedisStore;
  return new Feed(link, commands, log, store);
}

describe('feed: stop()', () => {
  it(
    'ends a loop waiting for the command connection to come back, and a later close of it is no unhandled error',
    {
      timeout: 10_000,
    },
    async () => {
      // The link is up, the command connection is not (it noticed the loss first): the loop waits for it.
      let waiting!: () => void;
      const waited = new Promise<void>((resolve) => (waiting = resolve));
      let closeIt!: (error: Error) => void;
      const commands = {
        up: false,
        whenUp: () => {
          waiting();
          return new Promise<void>((_, reject) => (closeIt = reject));
        },
      };
      const feed = standIns(commands);
      await feed.start({ epoch: 'e', n: 0 });
      await waited;
      // Before the fix this never resolved: the connection it waited for is closed only after the feed stops.
      await feed.stop();
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        // What Broker.close() does next: the command connection is closed, and its waiters are refused.
        closeIt(new Error('the connection to Redis is closed'));
        await new Promise((resolve) => setImmediate(resolve));
        assert.deepEqual(unhandled, []);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    },
  );
});
