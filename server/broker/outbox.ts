/**
 * What a relay must get into Redis, in the order it was made: lines for the log and messages to publish. When
 * Redis is away, they wait here (bounded: `max` items; past that a new one is refused with QUEUE_FULL, so a
 * relay cut off for an hour cannot grow without end) and go out, in order, once it is back.
 *
 * A retry can never double a line: an append whose reply was lost (the socket broke after Redis ran the script)
 * is made again with the same dedupe tags, and the log answers it with the first append's number. A message
 * published twice the same way carries the same id, and receivers drop the second (server/broker/broker.ts).
 * Only failures that a retry may cure are retried (errors.ts isTransient); anything else fails that item alone.
 */
import type { Appended, NewEntry } from '../log/log.ts';
import { BrokerError, isTransient } from './errors.ts';

export interface OutboxSink {
  append(entries: readonly NewEntry[]): Promise<Appended[]>;
  publish(channel: string, message: unknown): Promise<void>;
}

export interface OutboxLink {
  readonly up: boolean;
  whenUp(): Promise<void>;
}

type Item =
  | { kind: 'append'; entries: readonly NewEntry[]; resolve(results: Appended[]): void; reject(error: unknown): void }
  | { kind: 'publish'; channel: string; message: unknown; resolve(): void; reject(error: unknown): void };

/** One script call carries at most this many lines, so one huge backlog is not one huge script. */
const MAX_BATCH = 256;
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 1_000;

export class Outbox {
  readonly max: number;
  readonly #sink: OutboxSink;
  readonly #link: OutboxLink;
  readonly #items: Item[] = [];
  #count = 0;
  #pumping = false;
  #closed = false;
  #wake: (() => void) | null = null;

  constructor(sink: OutboxSink, link: OutboxLink, max: number) {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`the queue holds at least 1 item, not ${max}`);
    this.#sink = sink;
    this.#link = link;
    this.max = max;
  }

  /** Lines and messages waiting (or in flight). */
  get size(): number {
    return this.#count;
  }

  append(entries: readonly NewEntry[]): Promise<Appended[]> {
    if (entries.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) =>
      this.#push({ kind: 'append', entries, resolve, reject }, entries.length, reject),
    );
  }

  /** `message` is sealed by the sink at each try, so its age is the age of the publish, not of the queueing. */
  publish(channel: string, message: unknown): Promise<void> {
    return new Promise((resolve, reject) =>
      this.#push({ kind: 'publish', channel, message, resolve, reject }, 1, reject),
    );
  }

  /** Waits (at most `ms`) for what is queued to go out, then refuses the rest with CLOSED. */
  async close(ms: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const deadline = Date.now() + ms;
    while (this.#count > 0 && this.#link.up && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, Math.min(RETRY_MAX_MS, deadline - Date.now())));
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const left = this.#items.splice(0);
    this.#count = 0;
    for (const item of left) item.reject(new BrokerError('CLOSED', 'the broker was closed before this reached Redis'));
  }

  #push(item: Item, weight: number, reject: (error: unknown) => void): void {
    if (this.#closed) return reject(new BrokerError('CLOSED', 'the broker is closed'));
    if (this.#count + weight > this.max) {
      return reject(
        new BrokerError(
          'QUEUE_FULL',
          `${this.#count} lines and messages are waiting for Redis, the most this relay keeps; this one was not sent`,
        ),
      );
    }
    this.#count += weight;
    this.#items.push(item);
    if (!this.#pumping) void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    let delay = RETRY_MIN_MS;
    try {
      while (this.#items.length > 0) {
        const batch = this.#take();
        try {
          await this.#send(batch);
          delay = RETRY_MIN_MS;
          this.#items.splice(0, batch.length);
          this.#count -= batch.reduce((sum, item) => sum + (item.kind === 'append' ? item.entries.length : 1), 0);
          this.#wake?.();
        } catch (error) {
          if (this.#closed || !isTransient(error)) {
            // The head fails alone: the next items go on.
            this.#items.splice(0, batch.length);
            for (const item of batch) {
              this.#count -= item.kind === 'append' ? item.entries.length : 1;
              item.reject(error);
            }
            continue;
          }
          // Redis is away or not ready: the same items again, in the same order, once it is back.
          if (!this.#link.up) await this.#link.whenUp().catch(() => {});
          else await new Promise((resolve) => setTimeout(resolve, delay));
          delay = Math.min(RETRY_MAX_MS, delay * 2);
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** The head item, and the appends right behind it up to MAX_BATCH lines: one script call. */
  #take(): Item[] {
    const head = this.#items[0]!;
    if (head.kind !== 'append') return [head];
    const batch: Item[] = [head];
    let lines = head.entries.length;
    for (let i = 1; i < this.#items.length; i++) {
      const item = this.#items[i]!;
      if (item.kind !== 'append' || lines + item.entries.length > MAX_BATCH) break;
      batch.push(item);
      lines += item.entries.length;
    }
    return batch;
  }

  async #send(batch: Item[]): Promise<void> {
    const head = batch[0]!;
    if (head.kind === 'publish') {
      await this.#sink.publish(head.channel, head.message);
      head.resolve();
      return;
    }
    const appends = batch as Array<Extract<Item, { kind: 'append' }>>;
    const results = await this.#sink.append(appends.flatMap((item) => item.entries));
    let offset = 0;
    for (const item of appends) {
      item.resolve(results.slice(offset, offset + item.entries.length));
      offset += item.entries.length;
    }
  }
}
