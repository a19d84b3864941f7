/**
 * Join and leave announcements, batched: the changes of one interval go to each tab as one `presence` body, so
 * N joins in an interval cost one sealed record per tab in the room, not N. Announced one by one, every join
 * was sealed for every tab already in, and a room filled by N joins cost N²/2 seals (1,000 joins: 500,000).
 *
 * When the room has been quiet for an interval, a change goes out at once (a single join is seen as soon as it
 * happens); otherwise it waits for the end of the interval since the last announcement. A tab hears only the
 * changes after its own join, never its own join. The first changes of a batch are named, the rest counted,
 * so that a body always fits in one record (shared/protocol.ts LIMITS.maxPresenceChanges, and a byte budget).
 */
import { utf8 } from '../shared/bytes.ts';
import { LIMITS, type PresenceChange, type ServerBody, type ServerPresence } from '../shared/protocol.ts';
import { EncodedBody } from '../shared/record.ts';

/**
 * The listed changes of one body, at most this many bytes of JSON. A record's token holds a plaintext of about
 * 12,200 bytes (LIMITS.maxTokenChars); one change is at most about 2,000 (a name of 64 and a reason of 256 code
 * units, each at worst 6 bytes as JSON escapes), so 8 KiB of listed changes always fits with the rest of the body.
 */
export const PRESENCE_BUDGET_BYTES = 8 * 1024;

export interface Recipient {
  send(body: EncodedBody<ServerBody>): unknown;
}

export interface PresenceClock {
  now(): number;
  /** Runs `run` after `ms`; returns a function that cancels it. */
  later(run: () => void, ms: number): () => void;
}

const realClock: PresenceClock = {
  now: () => performance.now(),
  later(run, ms) {
    const timer = setTimeout(run, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

export interface PresenceStats {
  /** Batches sent (to at least one tab). */
  batches: number;
  /** Bodies handed to tabs, each sealed once for its tab: what an announcement costs. */
  sent: number;
  /** Joins and leaves announced. */
  changes: number;
}

export class Presence<R extends Recipient> {
  readonly #recipients: () => Iterable<R>;
  readonly #intervalMs: number;
  readonly #clock: PresenceClock;
  #changes: PresenceChange[] = [];
  /** The index in #changes of the join of each tab that joined in this batch. */
  #joinedAt = new Map<R, number>();
  #lastSent = -Infinity;
  #cancel: (() => void) | undefined;
  readonly stats: PresenceStats = { batches: 0, sent: 0, changes: 0 };

  /** `recipients`: every tab in the room now (those that have left are not). `now()` is in milliseconds. */
  constructor(recipients: () => Iterable<R>, intervalMs: number, clock: PresenceClock = realClock) {
    this.#recipients = recipients;
    this.#intervalMs = intervalMs;
    this.#clock = clock;
  }

  /** Whether changes wait to be announced. */
  get pending(): boolean {
    return this.#changes.length > 0;
  }

  joined(who: R, name: string): void {
    this.#joinedAt.set(who, this.#changes.length);
    this.#add({ change: 'joined', name });
  }

  /** Someone joined who is no recipient here (a tab of another relay of the chat, docs/cluster.md). */
  joinedElsewhere(name: string): void {
    this.#add({ change: 'joined', name });
  }

  left(name: string, reason: string): void {
    this.#add({ change: 'left', name, reason });
  }

  /** Announces what is pending now. The relay calls it before relaying a line, so a line never comes before
   * its sender's join. */
  flush(): void {
    this.#cancel?.();
    this.#cancel = undefined;
    const changes = this.#changes;
    const joinedAt = this.#joinedAt;
    if (changes.length === 0) return;
    this.#changes = [];
    this.#joinedAt = new Map();
    const bodies = new Map<number, EncodedBody<ServerBody>>();
    const joinsFrom = suffixJoins(changes);
    const at = Date.now();
    let sent = 0;
    for (const recipient of this.#recipients()) {
      const own = joinedAt.get(recipient);
      const from = own === undefined ? 0 : own + 1;
      if (from >= changes.length) continue;
      let body = bodies.get(from);
      if (!body) {
        body = new EncodedBody<ServerBody>(presenceBody(changes, joinsFrom, from, at));
        bodies.set(from, body);
      }
      recipient.send(body);
      sent++;
    }
    this.stats.changes += changes.length;
    if (sent > 0) {
      this.stats.batches++;
      this.stats.sent += sent;
      // An announcement that reached nobody cost nothing, and does not hold the next one back.
      this.#lastSent = this.#clock.now();
    }
  }

  /** Stops the timer; what is pending is dropped (the room is closing). */
  stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
    this.#changes = [];
    this.#joinedAt = new Map();
  }

  #add(change: PresenceChange): void {
    this.#changes.push(change);
    if (this.#cancel) return;
    const wait = this.#lastSent + this.#intervalMs - this.#clock.now();
    if (wait <= 0) this.flush();
    else this.#cancel = this.#clock.later(() => this.flush(), wait);
  }
}

/** joinsFrom[i]: how many of changes[i..] are joins, for every i up to changes.length. */
function suffixJoins(changes: readonly PresenceChange[]): Uint32Array {
  const joinsFrom = new Uint32Array(changes.length + 1);
  for (let i = changes.length - 1; i >= 0; i--)
    joinsFrom[i] = joinsFrom[i + 1]! + (changes[i]!.change === 'joined' ? 1 : 0);
  return joinsFrom;
}

/**
 * The body for a tab that should hear `changes` from index `from` on: the first of them named, while they fit
 * in LIMITS.maxPresenceChanges and PRESENCE_BUDGET_BYTES, and the rest counted (from `joinsFrom`, so a body costs
 * the same however many changes are pending).
 */
function presenceBody(
  changes: readonly PresenceChange[],
  joinsFrom: Uint32Array,
  from: number,
  at: number,
): ServerPresence {
  const listed: PresenceChange[] = [];
  let bytes = 0;
  let i = from;
  for (; i < changes.length && listed.length < LIMITS.maxPresenceChanges; i++) {
    const change = changes[i]!;
    const size = utf8(JSON.stringify(change)).length + 1;
    if (listed.length > 0 && bytes + size > PRESENCE_BUDGET_BYTES) break;
    listed.push(change);
    bytes += size;
  }
  const moreJoined = joinsFrom[i]!;
  return { kind: 'presence', at, changes: listed, moreJoined, moreLeft: changes.length - i - moreJoined };
}
