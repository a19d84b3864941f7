/**
 * "Relays" for the broker tests: each is what a relay process would hold (a connection, the Redis store, the
 * chat log over it, a broker), without the relay's own code, so the tests drive the broker as the relay will.
 * Waits are for events, with deadlines.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import type { LogEntry } from '../../../server/log/log.ts';
import { Broker, type BrokerEvents } from '../../../server/broker/broker.ts';
import { RedisConnection } from '../../../server/broker/connection.ts';
import type { PresenceTiming } from '../../../server/broker/presence.ts';
import { openRedisStore, type RedisStore } from '../../../server/log/redis.ts';
import { createChatLog, createLogSealer } from '../../../server/log/sealed.ts';
import { ephemeralChatKey } from '../../../server/log/chat-key.ts';
import type { ChatLog, Retention } from '../../../server/log/log.ts';

export const FAST: PresenceTiming = { heartbeatMs: 50, ttlMs: 300 };

export interface TestRelay {
  name: string;
  /** The chat's key, for a child relay of the same chat. */
  key: Uint8Array;
  connection: RedisConnection;
  store: RedisStore;
  log: ChatLog;
  broker: Broker;
  /** Every line the feed delivered, in order. */
  received: LogEntry[];
  /** Every event the broker emitted, by name, in order. */
  events: Array<{ name: keyof BrokerEvents; args: unknown[] }>;
  close(): Promise<void>;
}

export function newChat(): { chat: string; key: Uint8Array } {
  return { chat: `test-${randomBytes(6).toString('hex')}`, key: ephemeralChatKey() };
}

export async function startRelay(
  url: string,
  chat: { chat: string; key: Uint8Array },
  name: string,
  options: { timing?: PresenceTiming; maxQueued?: number; feed?: boolean; retention?: Retention } = {},
): Promise<TestRelay> {
  const connection = await RedisConnection.open(url, { name: 'wirechat', maxReconnectDelayMs: 200 });
  const store = await openRedisStore(connection, {
    chat: chat.chat,
    ...(options.retention ? { retention: options.retention } : {}),
  });
  const log = await createChatLog(store, await createLogSealer(chat.key.slice()));
  const broker = await Broker.create({
    connection,
    store,
    log,
    chatKey: chat.key.slice(),
    label: name,
    timing: options.timing ?? FAST,
    maxQueued: options.maxQueued ?? 1_000,
    feed: { blockMs: 200 },
  });
  const received: LogEntry[] = [];
  const events: TestRelay['events'] = [];
  for (const event of [
    'entry',
    'epoch',
    'gap',
    'rewound',
    'error',
    'event',
    'reaped',
    'lost',
    'moved',
    'rejoined',
    'down',
    'up',
  ] as const) {
    broker.on(event, (...args: unknown[]) => {
      if (event === 'entry') received.push(args[0] as LogEntry);
      events.push({ name: event, args });
    });
  }
  if (options.feed !== false) await broker.startFeed();
  return {
    name,
    key: chat.key.slice(),
    connection,
    store,
    log,
    broker,
    received,
    events,
    async close() {
      await broker.close(500);
      await log.close();
      await connection.close();
    },
  };
}

/** Resolves once `check()` is true, looked at after each of `emitter`'s `event`s; throws after `ms` with `what`. */
export async function until(
  emitters: EventEmitter | EventEmitter[],
  event: string | string[],
  check: () => boolean,
  what: string,
  ms = 10_000,
): Promise<void> {
  const list = Array.isArray(emitters) ? emitters : [emitters];
  const names = Array.isArray(event) ? event : [event];
  if (check()) return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const listener = () => {
      if (!check()) return;
      cleanup();
      resolve();
    };
    function cleanup(): void {
      clearTimeout(timer);
      for (const e of list) for (const n of names) e.off(n, listener);
    }
    for (const e of list) for (const n of names) e.on(n, listener);
  });
}

/** The first `event` from `emitter`, within `ms`. */
export async function next<T extends unknown[]>(emitter: EventEmitter, event: string, ms = 10_000): Promise<T> {
  return (await once(emitter, event, { signal: AbortSignal.timeout(ms) })) as T;
}
