/**
 * A relay process for the broker tests, to be killed with SIGKILL: joins chat CHAT over Redis URL with the chat
 * key (base64url) and the given heartbeat timing, claims NAME for participant p-NAME, prints `ready RELAY_ID`
 * and waits to be killed.
 *
 *   node --import tsx relay-child.ts URL CHAT KEY HEARTBEAT_MS TTL_MS NAME
 */
import { Broker } from '../../../server/broker/broker.ts';
import { RedisConnection } from '../../../server/broker/connection.ts';
import { openRedisStore } from '../../../server/log/redis.ts';
import { createChatLog, createLogSealer } from '../../../server/log/sealed.ts';

const [url, chat, key, heartbeatMs, ttlMs, name] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const chatKey = new Uint8Array(Buffer.from(key, 'base64url'));
const connection = await RedisConnection.open(url, { name: 'test-child' });
const store = await openRedisStore(connection, { chat });
const log = await createChatLog(store, await createLogSealer(chatKey.slice()));
const broker = await Broker.create({
  connection,
  store,
  log,
  chatKey,
  label: 'child',
  timing: { heartbeatMs: Number(heartbeatMs), ttlMs: Number(ttlMs) },
});
const joined = await broker.join(`p-${name}`, name);
if (!joined.ok) throw new Error(`could not join as ${name}: ${JSON.stringify(joined)}`);
process.stdout.write(`ready ${broker.relay.id}\n`);
// Kept alive by the broker's heartbeat until the test kills this process.
