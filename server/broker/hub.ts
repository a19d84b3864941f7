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

interface Waiting {
  n: number;
  done: () => void;
}

export class BrokerHub extends EventEmitter<HubEvents> implements ChatHub {
  readonly broker: Broker;
  readonly log: ChatLog;
  readonly #connection: RedisConnection;
  /** Appends answered by Redis whose entry the feed has not delivered yet, by number. */
  #waiting: Waiting[] = [];
  #closing: Promise<void> | null = null;

  constructor(broker: Broker, log: ChatLog, connection: RedisConnection) {
    super();
    this.broker = broker;
    this.log = log;
    this.#connection = connection;
    broker.on('entry', (entry: LogEntry) => {
      this.emit('entry', entry);
      if (this.#waiting.length > 0) this.#release((w) => w.n <= entry.n);
    });
    // A new history: numbers start again, so nothing waited for will come under its number.
    broker.on('epoch', () => this.#release(() => true));
    // A hub's `error` is the console's to show; an EventEmitter with no listener would throw it instead.
    broker.on('error', (error: Error) => {
      if (this.listenerCount('error') > 0) this.emit('error', error);
    });
  }

  /** The log's epoch and the last entry handed to listeners, as the feed has delivered them. */
  get epoch(): string {
    return this.broker.delivered.epoch;
  }

  get last(): number {
    return this.broker.delivered.n;
  }

  /**
   * Resolves once Redis numbered the entry and this relay's feed has delivered it (to `entry` listeners), as the
   * LocalHub resolves once it emitted it. So a sender's receipt for line n never overtakes lines below n from other
   * relays on their way to it through the feed: a tab whose last number is n has every line up to n, and a resume
   * from n misses nothing. Bounded by the queue kept while Redis is away (QUEUE_FULL past it).
   */
  async append(entry: NewEntry): Promise<Appended> {
    const appended = await this.broker.append(entry);
    if (this.broker.delivered.n < appended.n && this.#closing === null)
      await new Promise<void>((done) => this.#waiting.push({ n: appended.n, done }));
    return appended;
  }

  #release(which: (waiting: { n: number }) => boolean): void {
    const still: Waiting[] = [];
    for (const waiting of this.#waiting) {
      if (which(waiting)) waiting.done();
      else still.push(waiting);
    }
    this.#waiting = still;
  }

  close(drainMs?: number): Promise<void> {
    this.#release(() => true);
    this.#closing ??= (async () => {
      await this.broker.close(drainMs).catch(() => {});
      await this.log.close().catch(() => {});
      await this.#connection.close().catch(() => {});
    })();
    return this.#closing;
  }
}
