/**
 * The hub: where the relay hands a line to the chat and where every line of the chat comes back from.
 *
 * The relay fans out only from `entry` events, never from an append's result, its own tabs' lines included.
 * That one rule is what gives every tab (and, with several relays, every relay) the same order: the order of
 * the chat log's numbers. An append's result (`n`, `duplicate`) is for the sender's receipt only.
 *
 * Two hubs share this interface:
 * - `LocalHub` (here): one relay process and its own `ChatLog` (memory or SQLite, docs/history.md). An entry
 *   is emitted once the log has it (durable before shown), in number order, once; a duplicate (the same
 *   origin sent again after a reconnect) is receipted and emitted to nobody.
 * - the Redis broker (server/broker/broker.ts, docs/cluster.md): many relays, one log in Redis; `entry` comes
 *   from the stream reader, for lines appended by any relay.
 */
import { EventEmitter } from 'node:events';
import type { MaybePromise } from '../shared/maybe-promise.ts';
import type { Appended, ChatLog, LogEntry, NewEntry } from './log/log.ts';

export interface HubEvents {
  /** Every entry of the chat, in number order, once. */
  entry: [entry: LogEntry];
  /** The store failed; the relay tells the console and refuses the line (it was not receipted). */
  error: [error: Error];
}

export interface ChatHub extends EventEmitter<HubEvents> {
  /**
   * The entry's number once it is durable: at once where the log appends in the call (the memory log: the entry is
   * stored, and emitted, before this returns), else a promise. Throws, or rejects, when the store fails.
   */
  append(entry: NewEntry): MaybePromise<Appended>;
  /** The log behind the hub: resume and `/history` read it. */
  readonly log: ChatLog;
  /** The log's epoch: a line number means something only within it. */
  readonly epoch: string;
  /**
   * The number of the last entry emitted: every entry up to it has been handed to `entry` listeners, none after.
   * A tab that joins now has its place right after it; one catching up is live once it has read up to it.
   */
  readonly last: number;
  close(): Promise<void>;
}

/** The fields LocalHub copies from a NewEntry into what it emits: the type check fails if NewEntry gains one. */
const COPIED = { kind: true, from: true, text: true, to: true, origin: true } satisfies Record<keyof NewEntry, true>;
void COPIED;

export class LocalHub extends EventEmitter<HubEvents> implements ChatHub {
  /** Appended entries whose numbers are above the next one to emit, waiting for the ones below. */
  readonly #waiting = new Map<number, LogEntry>();
  #next = 0;

  readonly log: ChatLog;
  readonly epoch: string;

  private constructor(log: ChatLog, epoch: string, last: number) {
    super();
    this.log = log;
    this.epoch = epoch;
    this.#next = last + 1;
  }

  static async open(log: ChatLog): Promise<LocalHub> {
    const position = await log.position();
    return new LocalHub(log, position.epoch, position.last);
  }

  get last(): number {
    return this.#next - 1;
  }

  append(entry: NewEntry): MaybePromise<Appended> {
    // The memory log stores in the call: the entry is emitted (fanned out) in the event that brought it.
    const inCall = this.log.appendInCall;
    if (inCall !== undefined) return this.#stored(entry, inCall(entry));
    return this.log.append(entry).then((appended) => this.#stored(entry, appended));
  }

  /** An entry the log has: emitted in its turn unless the log had it already (a duplicate goes to nobody). */
  #stored(entry: NewEntry, appended: Appended): Appended {
    if (appended.duplicate) return appended;
    // Field by field, not a spread: a spread of the entry was the hub's largest cost per line (a profile). Every
    // field of NewEntry is copied (COPIED, above the class, stops the build when one is added and not copied here).
    const stored: LogEntry = { kind: entry.kind, from: entry.from, text: entry.text, n: appended.n, at: appended.at };
    if (entry.to !== undefined) stored.to = entry.to;
    if (entry.origin !== undefined) stored.origin = entry.origin;
    this.#arrived(stored);
    return appended;
  }

  /** Stores may resolve a batch's appends in any order; entries leave in number order all the same. */
  #arrived(entry: LogEntry): void {
    // The next one, with none held (every append of the memory log, stored in the call): out at once.
    if (entry.n === this.#next && this.#waiting.size === 0) {
      this.#next += 1;
      this.emit('entry', entry);
      return;
    }
    this.#waiting.set(entry.n, entry);
    for (let next = this.#waiting.get(this.#next); next; next = this.#waiting.get(this.#next)) {
      this.#waiting.delete(this.#next);
      this.#next += 1;
      this.emit('entry', next);
    }
  }

  async close(): Promise<void> {
    await this.log.close();
  }
}
