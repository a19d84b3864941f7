import { after, before } from 'node:test';
import { randomBytes } from 'node:crypto';
import { ephemeralChatKey } from '../../../server/log/chat-key.ts';
import { RedisConnection } from '../../../server/broker/connection.ts';
import { openRedisStore } from '../../../server/log/redis.ts';
import { createChatLog, createLogSealer } from '../../../server/log/sealed.ts';
import { startRedis, type RedisServer } from '../../helpers/redis.ts';
import { chatLogSuite, reopening } from './suite.ts';

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

chatLogSuite({
  name: 'Redis streams (a real redis-server)',
  persistent: true,
  runs: 80,
  async create({ retention, now }) {
    // A chat of its own for each history: the suite's tests never see each other's lines.
    const chat = `suite-${randomBytes(6).toString('hex')}`;
    const key = ephemeralChatKey();
    // Each open is a relay's start: a connection of its own, closed with the log.
    return reopening(async () => {
      const connection = await RedisConnection.open(redis.url);
      const store = await openRedisStore(connection, { chat, retention, now });
      const log = await createChatLog(store, await createLogSealer(key.slice()));
      const close = log.close.bind(log);
      return Object.assign(log, {
        async close() {
          await close();
          await connection.close();
        },
      });
    });
  },
});
