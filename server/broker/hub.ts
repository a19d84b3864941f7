/**
 * The broker as the relay's hub (server/hub.ts): the relay appends its lines here and fans out only from
 * `entry`, which comes from the log's stream in Redis for lines of every relay, its own included. So the
 * relay's code is the same with one process (LocalHub) or many (this), and every relay shows one order.
 *
 * The hub owns the whole Redis side of a relay once it is made (the broker, the chat log, the connection) and
 * closes them in that order: what is queued goes out first, then the log's pending appends, then the sockets.
 */
import { EventEmitter } from 'node:events';
import type { HubEvents, ChatHub } from '../hub.ts';
import type { Appended, ChatLog, LogEntry, NewEntry } from '../log/log.ts';
import type { Broker } from './broker.ts';
import type { RedisConnection } from './connection.ts';

export class BrokerHub extends EventEmitter<HubEvents> implements ChatHub {
  readonly broker: Broker;
  readonly log: ChatLog;
  readonly #connection: RedisConnection;
  #closing: Promise<void> | null = null;

  constructor(broker: Broker, log: ChatLog, connection: RedisConnection) {
    super();
    this.broker = broker;
    this.log = log;
    this.#connection = connection;
    broker.on('entry', (entry: LogEntry) => this.emit('entry', entry));
    // A hub's `error` is the console's to show; an EventEmitter with no listener would throw it instead.
    broker.on('error', (error: Error) => {
      if (this.listenerCount('error') > 0) this.emit('error', error);
    });
  }

  /** Queued while Redis is away (bounded: QUEUE_FULL past it); resolves once Redis numbered it. */
  /** The log's epoch and the last entry handed to listeners, as the feed has delivered them. */
  get epoch(): string {
    return this.broker.delivered.epoch;
  }

  get last(): number {
    return this.broker.delivered.n;
  }

  append(entry: NewEntry): Promise<Appended> {
    return this.broker.append(entry);
  }

  close(drainMs?: number): Promise<void> {
    this.#closing ??= (async () => {
      await this.broker.close(drainMs).catch(() => {});
      await this.log.close().catch(() => {});
      await this.#connection.close().catch(() => {});
    })();
    return this.#closing;
  }
}
