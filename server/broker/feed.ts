/**
 * Every line of the chat, in chat order, as each relay learns it: read from the log's stream, not from pub/sub,
 * as Socket.IO's Redis Streams adapter does, so that nothing appended while this relay was cut off from Redis is
 * lost to it: it reads on from its last line number once Redis is back.
 *
 * The loop: read the lines after the last one delivered through the chat log (which opens them and applies
 * retention), deliver them, and when there are none, wait for the next with `XREAD BLOCK` on a connection of its
 * own. Each read tells the log's epoch; when it changes, the history was lost (Redis restarted empty, the stream
 * deleted), and the feed says so and starts the new epoch from its first line. A line number that jumps says
 * that lines were dropped by retention before this relay read them: the feed says how many (`gap`).
 *
 * A relay delivers its own lines from here too, not when it appends them: every relay then shows every line in
 * the same order, the stream's.
 */
import { EventEmitter } from 'node:events';
import type { ChatLog, LogEntry, Since } from '../log/log.ts';
import type { RedisStore } from '../log/redis.ts';
import type { RedisClient } from './connection.ts';
import { isTransient } from './errors.ts';

export interface FeedLink {
  client: RedisClient;
  readonly up: boolean;
  whenUp(): Promise<void>;
}

export interface FeedOptions {
  /** The longest one XREAD blocks; also how soon a deleted stream's new epoch is noticed. 2 s by default. */
  blockMs?: number;
  /** Lines read per page. */
  page?: number;
}

export interface FeedEvents {
  /** A line of the chat, in chat order. */
  entry: [LogEntry];
  /** The history was lost or rewound: from now on, lines of `epoch`, from its first. */
  epoch: [{ epoch: string; previous: string }];
  /**
   * This relay found Redis back with fewer lines than it had delivered (`has` < `had`): Redis lost writes it had
   * acknowledged (it restarted from an older snapshot, or a replica behind took over). Its numbers now name other
   * lines, so the history goes on under a new epoch (`epoch` follows, on every relay). For the console.
   */
  rewound: [{ had: number; has: number }];
  /** `gone` lines after `after` were dropped by retention before this relay read them. */
  gap: [{ after: number; gone: number }];
  /** A read failed for another reason than Redis being away (a line that does not open); the feed retries. */
  error: [Error];
}

export class Feed extends EventEmitter<FeedEvents> {
  readonly #link: FeedLink;
  readonly #log: ChatLog;
  readonly #store: RedisStore;
  readonly #commands: { readonly up: boolean; whenUp(): Promise<void> };
  readonly #blockMs: number;
  readonly #page: number;
  #epoch = '';
  #n = 0;
  #running: Promise<void> | null = null;
  #stopped = false;
  /** Ends the loop's current wait (for Redis, or before a retry) when the feed is stopped. */
  #wake: (() => void) | undefined;
  /** Set after Redis was away: the next turn checks that Redis did not come back with less than it had. */
  #checkRewind = false;

  constructor(
    link: FeedLink,
    commands: { readonly up: boolean; whenUp(): Promise<void> },
    log: ChatLog,
    store: RedisStore,
    options: FeedOptions = {},
  ) {
    super();
    this.#link = link;
    this.#commands = commands;
    this.#log = log;
    this.#store = store;
    this.#blockMs = options.blockMs ?? 2_000;
    this.#page = options.page ?? 500;
  }

  /** Where the feed is: every line of `epoch` up to `n` was delivered. */
  get position(): Since {
    return { epoch: this.#epoch, n: this.#n };
  }

  /** Starts delivering the lines after `after` (by default: from now on, the lines appended from here). */
  async start(after?: Since): Promise<void> {
    if (this.#running) throw new Error('the feed is already running');
    if (after) {
      this.#epoch = after.epoch;
      this.#n = after.n;
    } else {
      const { epoch, last } = await this.#log.position();
      this.#epoch = epoch;
      this.#n = last;
    }
    this.#running = this.#loop();
  }

  /**
   * Stops the loop and resolves once it has ended. It never waits for Redis: a loop waiting for the command
   * connection to come back is woken, since that connection is closed only after the feed (Broker.close).
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#running;
  }

  /** Waits for `what`, or until the feed is stopped: false then. A rejection of `what` is thrown. */
  async #until(what: Promise<unknown>): Promise<boolean> {
    if (this.#stopped) return false;
    const stopped = new Promise<false>((resolve) => (this.#wake = () => resolve(false)));
    try {
      return await Promise.race([what.then(() => true), stopped]);
    } finally {
      this.#wake = undefined;
    }
  }

  async #loop(): Promise<void> {
    let delay = 50;
    while (!this.#stopped) {
      try {
        if (this.#checkRewind) {
          const { epoch, last } = await this.#log.position();
          if (epoch === this.#epoch && last < this.#n) {
            await this.#store.renameEpoch(epoch);
            this.emit('rewound', { had: this.#n, has: last });
          }
          this.#checkRewind = false;
        }
        const entries = await this.#log.readAfter(this.#n, this.#page);
        if (this.#stopped) return;
        const epoch = this.#store.epoch;
        if (epoch !== null && epoch !== this.#epoch) {
          const previous = this.#epoch;
          this.#epoch = epoch;
          this.#n = 0;
          this.emit('epoch', { epoch, previous });
          continue;
        }
        if (entries.length > 0) {
          const gone = entries[0]!.n - this.#n - 1;
          if (gone > 0) this.emit('gap', { after: this.#n, gone });
          for (const entry of entries) {
            this.#n = entry.n;
            this.emit('entry', entry);
          }
          delay = 50;
          continue;
        }
        // Nothing new: wait for the stream to pass this line (or for the block to time out and look again).
        await this.#link.client.sendCommand([
          'XREAD',
          'COUNT',
          '1',
          'BLOCK',
          String(this.#blockMs),
          'STREAMS',
          this.#store.keys.log,
          `${this.#n}-0`,
        ]);
      } catch (error) {
        if (this.#stopped) return;
        const transient = isTransient(error);
        if (transient) this.#checkRewind = true;
        if (transient && !(this.#link.up && this.#commands.up)) {
          // Both: the link may be up while the command connection is not (it noticed the loss first, or came
          // back later), and that one is closed only after this loop has ended.
          try {
            if (!(await this.#until(Promise.all([this.#link.whenUp(), this.#commands.whenUp()])))) return;
          } catch {
            return; // closed meanwhile
          }
          continue;
        }
        if (!transient) this.emit('error', error as Error);
        let timer: NodeJS.Timeout | undefined;
        await this.#until(new Promise((resolve) => (timer = setTimeout(resolve, delay))));
        clearTimeout(timer);
        delay = Math.min(5_000, delay * 2);
      }
    }
  }
}
