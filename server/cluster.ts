/**
 * Many relays, one chat (docs/cluster.md): what `--redis URL` adds to a relay's start. It connects to Redis,
 * opens the chat's log there under the chat key that lies beside the identity key (every relay of the chat holds
 * both files), joins the chat as one more relay (server/broker/), and hands the relay a hub (server/hub.ts) that
 * gives it every relay's lines in one order. Each failure at the start is a `ClusterError` whose message is for
 * the person at the terminal; main.ts prints it and exits 1. Nothing here retries at the start: an unreachable
 * Redis is said at once, not waited for.
 */
import type { History } from './history.ts';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { Close } from '../shared/errors.ts';
import { Broker } from './broker/broker.ts';
import { RedisConnection } from './broker/connection.ts';
import { BrokerError } from './broker/errors.ts';
import { BrokerHub } from './broker/hub.ts';
import { loadChatKey } from './log/chat-key.ts';
import { HistoryError, type ChatLog } from './log/log.ts';
import { openRedisStore } from './log/redis.ts';
import { createChatLog, createLogSealer } from './log/sealed.ts';
import type { ServerOptions } from './options.ts';
import { SeatKeeper } from './resume.ts';
import { SecretFileError } from './secret-file.ts';
import { ClusterRelay, type ClusterNotices } from './cluster-relay.ts';

/** A cluster start that failed, worded for the operator (printed without a stack trace). */
export class ClusterError extends Error {
  override readonly name = 'ClusterError';
}

/** Where the console hears about Redis. */
export interface ClusterSay {
  notice(text: string): void;
  alert(text: string): void;
}

export interface Cluster {
  hub: BrokerHub;
  /** The relay's history: the hub, and resume seats under the chat key, so a seat opens on every relay of the chat. */
  history: History & { hub: BrokerHub };
  broker: Broker;
  log: ChatLog;
  /** Lines for the start banner: where the chat lives, what Redis keeps of it, the chat key. */
  banner: string[];
  /**
   * Tells `say` from now on of Redis lost and back, history lost or rewound, lines missed, errors; and calls
   * `onEnd` when another relay's console ends the chat.
   */
  watch(say: ClusterSay, onEnd: (by: string, reason: string) => void): void;
  /** This console ends the chat (END, EXIT: Close.NORMAL): every relay ends it. A relay merely stopping does not. */
  end(by: string, reason: string, code: number): void;
}

/** The chat key of a relay whose identity key is at `identityPath`: `chat.key` in the same folder. */
export function chatKeyPath(identityPath: string): string {
  return join(dirname(identityPath), 'chat.key');
}

/** What this relay is called in /who: this machine and the port, and the process when several share the port. */
export function relayLabel(port: number, workers: number | undefined): string {
  // Port 0 (tests) is known only once listening: the process tells relays apart instead.
  return port === 0 || workers
    ? `${hostname()}${port === 0 ? '' : `:${port}`}#${process.pid}`
    : `${hostname()}:${port}`;
}

/**
 * Joins the chat `options.chat` in the Redis `options.redis` names. `label` says which relay this is in /who.
 * The feed is started here too, from the log's newest line: lines said before this relay started are the log's
 * (resume reads them), not news to this relay's console.
 */
export async function startCluster(options: ServerOptions, label: string): Promise<Cluster> {
  if (options.redis === undefined) throw new Error('startCluster needs options.redis');
  let connection: RedisConnection;
  try {
    connection = await RedisConnection.open(options.redis, { name: 'wirechat' });
  } catch (error) {
    if (error instanceof BrokerError || error instanceof RangeError)
      throw new ClusterError(`--redis: ${error.message}`, { cause: error });
    throw error;
  }
  let log: ChatLog | undefined;
  try {
    const keyPath = chatKeyPath(options.identity);
    let chatKey;
    try {
      chatKey = await loadChatKey(keyPath);
    } catch (error) {
      if (error instanceof SecretFileError) throw new ClusterError(error.message, { cause: error });
      throw error;
    }
    const store = await openRedisStore(connection, { chat: options.chat });
    log = await createChatLog(store, await createLogSealer(chatKey.key.slice()));
    const broker = await Broker.create({ connection, store, log, chatKey: chatKey.key.slice(), label });
    const seats = new SeatKeeper(chatKey.key);
    chatKey.key.fill(0);
    await broker.startFeed();
    const hub = new BrokerHub(broker, log, connection);
    const position = await log.position();
    const banner = [
      `  chat        "${options.chat}" in ${connection.describe()}, relay ${broker.relay.id}`,
      `              ${position.last === 0 ? 'no lines yet' : `${position.last - position.first + 1} lines held (up to line ${position.last})`}; chat key ${keyPath}${chatKey.created ? ' (new: copy it, with the identity key, to every relay of this chat)' : ''}`,
    ];
    const policy = connection.server.evictionPolicy;
    if (policy !== null && policy !== 'noeviction') {
      banner.push(
        `  warning     Redis's maxmemory-policy is ${policy}: under memory pressure it may drop the chat's log or a`,
        "              relay's heartbeat; set it to noeviction (CONFIG SET maxmemory-policy noeviction)",
      );
    }
    return {
      hub,
      history: { hub, seats, description: log.description, chatKeyPath: keyPath, chatKeyCreated: chatKey.created },
      broker,
      log,
      banner,
      watch: (say, onEnd) => {
        watch(broker, say);
        broker.on('event', (event) => {
          if (event.type === 'end') onEnd(event.by, event.reason);
        });
      },
      end: (by, reason, code) => {
        if (code === Close.NORMAL) broker.publish({ type: 'end', by, reason }).catch(() => {});
      },
    };
  } catch (error) {
    await log?.close().catch(() => {});
    await connection.close().catch(() => {});
    if (error instanceof HistoryError || error instanceof BrokerError)
      throw new ClusterError(`--redis: ${error.message}`, { cause: error });
    throw error;
  }
}

function watch(broker: Broker, say: ClusterSay): void {
  broker.on('down', (error) =>
    say.alert(`${error.message}; this relay keeps serving its own tabs, lines wait for Redis`),
  );
  broker.on('up', ({ awayMs, queued }) =>
    say.notice(`Redis is back after ${(awayMs / 1000).toFixed(1)} s; ${queued} waiting lines and messages go out now`),
  );
  broker.on('epoch', ({ epoch, previous }) =>
    say.alert(`the chat's history in Redis was lost (epoch ${previous} is now ${epoch}): line numbers start again`),
  );
  broker.on('rewound', ({ had, has }) =>
    say.alert(
      `Redis came back with fewer lines (${has}) than it had acknowledged (${had}): it lost writes; the history goes on under a new epoch`,
    ),
  );
  broker.on('gap', ({ after, gone }) =>
    say.alert(`${gone} lines after line ${after} were dropped from Redis before this relay read them`),
  );
  broker.on('error', (error) => say.alert(`Redis: ${error.message}`));
}

/** The relay of one of many: its lines through the broker, its names chat-wide; `notices` the console, once there. */
export function clusterRelay(
  cluster: Cluster,
  options: ServerOptions,
  console: () => ClusterNotices | undefined,
): ClusterRelay {
  const notices: ClusterNotices = {
    notice: (text) => console()?.notice(text),
    alert: (text) => (console() ? console()!.alert(text) : process.stderr.write(`wirechat: ${text}\n`)),
  };
  return new ClusterRelay(options.name, cluster.history, notices, options.presenceIntervalMs);
}
