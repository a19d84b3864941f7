/**
 * The chat log: every line of the chat in its place, so that a tab that drops gets back what it missed and a
 * restart loses nothing the store kept. Modelled on Centrifugo's history (docs "History and recovery"):
 *
 * - every entry gets a chat-wide line number `n` (1, 2, 3, ...), assigned by the store when it accepts the entry,
 *   never reused and never assigned twice;
 * - the log has an `epoch`, a random id that changes when, and only when, the store loses its history (a fresh
 *   memory store at each start, a new SQLite file, a Redis stream that expired or was recreated); a position is
 *   (epoch, n), and an n means nothing under another epoch;
 * - retention keeps the newest `maxLines` entries that are younger than `maxAgeMs`; what falls out is gone, and
 *   whoever asks for it is told how many lines are gone (`recover`), never handed a silent gap.
 *
 * Two interfaces live here. `ChatLog` is what the relay calls: plain entries in, numbered entries out. `LogStore`
 * is what a store implements: it holds only `StoredRecord`s (numbers, times, an opaque dedupe tag and a sealed
 * token) and never sees chat text. server/log/sealed.ts joins the two: it seals every entry under the chat key
 * (one layer for every store) and coalesces appends into batches. docs/history.md is the prose version.
 */
import { randomBytes } from 'node:crypto';

/**
 * What the log holds, each kind because a tab that comes back needs it to see the chat as it was:
 * - `line`: a tab's line to everyone;
 * - `console`: the console's line to everyone;
 * - `direct`: a line to one participant only (the console's `/msg`), replayed only to that participant and to
 *   its sender (`visibleTo`);
 * - `join` / `leave`: someone came or went. Kept in the timeline (as Matrix keeps membership events) so a
 *   resumed tab sees "bob left" before the lines said without bob, not only lines from names it never saw arrive.
 *   Who is here *now* is presence, not history: the relay sends that as a roster, not by replaying joins.
 */
export const ENTRY_KINDS = ['line', 'console', 'direct', 'join', 'leave'] as const;
export type EntryKind = (typeof ENTRY_KINDS)[number];

/**
 * Who sent an entry and their own number for it: the exactly-once key. `identity` is the sender's resume
 * identity (a tab's participant id, kept across its reconnects; the console's own id), never the resume secret
 * itself: the log keeps it, sealed, for as long as the entry. `lineId` is the sender's own line id (the page's
 * `ClientLine.id`). The same origin appended twice is stored once and answers with the first number.
 */
export interface Origin {
  identity: string;
  lineId: number;
}

/** An entry as the relay hands it to the log. */
export interface NewEntry {
  kind: EntryKind;
  /** The sender's name (line, console, direct) or the name of who joined or left. */
  from: string;
  /** The line's text; a leave's reason; empty for a join. */
  text: string;
  /** `direct` only: the identity of the one participant it is for. */
  to?: string;
  /** Absent for entries that are never sent again (a join the relay makes once). */
  origin?: Origin;
}

/** An entry as the log gives it back: in its place, at its time. */
export interface LogEntry extends NewEntry {
  /** The chat-wide line number. */
  n: number;
  /** When the store accepted it, in milliseconds since 1970; never earlier than the entry before it. */
  at: number;
}

/** What an append gives back. */
export interface Appended {
  n: number;
  at: number;
  /**
   * True when this origin was already in the log: nothing was stored, and `n`/`at` are the first append's. The
   * relay receipts it again and sends it to nobody (they had it from the first append).
   */
  duplicate: boolean;
}

export interface Position {
  epoch: string;
  /** The oldest line still held; `last + 1` when the log holds none. */
  first: number;
  /** The newest line number ever given in this epoch; 0 before the first. */
  last: number;
}

/** A tab's claim: "I have every line of `epoch` up to `n`". */
export interface Since {
  epoch: string;
  n: number;
}

/**
 * The answer to "I have (epoch, n): what did I miss?". `entries` are the lines after the tab's position that
 * the log still holds, oldest first, at most `limit`; `more` says that further ones follow (read them with
 * `readAfter(entries.at(-1).n, ...)`). When `recovered` is false, `gone` lines between the tab's position and
 * the first entry returned can never be given back, and `reason` says why:
 * - `trimmed`: the tab was away longer than the log keeps (retention);
 * - `epoch`: the log lost its history since (a memory store restarted, a file replaced): every line of the
 *   present epoch is returned, and an unknown number of lines said before the loss are gone too;
 * - `ahead`: the tab claims lines this epoch never had; the store lost lines it had acknowledged (only a
 *   weaker durability than `synchronous=FULL`, or a Redis that lost writes, can do that). Nothing is replayed.
 */
export type Recovery =
  | { recovered: true; entries: LogEntry[]; more: boolean; position: Position }
  | {
      recovered: false;
      reason: 'trimmed' | 'epoch' | 'ahead';
      gone: number;
      entries: LogEntry[];
      more: boolean;
      position: Position;
    };

export interface Retention {
  /** The newest this many entries are kept (`--history-lines`). */
  maxLines: number;
  /** Entries older than this are dropped (`--history-minutes` x 60,000). */
  maxAgeMs: number;
}

export const DEFAULT_RETENTION: Retention = { maxLines: 10_000, maxAgeMs: 60 * 60_000 };

/** Replay pages are bounded, so a tab away for 10,000 lines is fed in pieces, not one 50 MB burst. */
export const DEFAULT_READ_LIMIT = 500;

/** The chat log, whatever the store. Every method rejects with a HistoryError when the store fails. */
export interface ChatLog {
  /** Resolves once the entry is durable in the store (durable before acknowledged), with its number. */
  append(entry: NewEntry): Promise<Appended>;
  /**
   * Over a store that keeps its records in this process (the memory log, `LogStore.appendManyInCall`): appends in
   * the call and returns the entry's number, stored, with no promise and no batch to wait for; throws what append
   * would reject with. Absent over a store that writes elsewhere (SQLite, Redis): use append.
   */
  readonly appendInCall?: (entry: NewEntry) => Appended;
  /** Several entries in one store transaction, numbered in order. */
  appendMany(entries: readonly NewEntry[]): Promise<Appended[]>;
  /** Entries with numbers above `n` that the log still holds, oldest first, at most `limit`. */
  readAfter(n: number, limit?: number): Promise<LogEntry[]>;
  position(): Promise<Position>;
  recover(since: Since, limit?: number): Promise<Recovery>;
  /** Drops what retention no longer keeps now (stores also drop it as they append; reads never return it). */
  trim(): Promise<void>;
  /** Waits for appends already made, then closes the store. */
  close(): Promise<void>;
  /** For the console: "memory", "SQLite /path/chat.db", ... */
  readonly description: string;
  readonly retention: Retention;
}

// ---- what a store implements ------------------------------------------------------------------------------

/** An entry as a store keeps it. Everything but `n`, `at` and `tag` is inside `sealed`. */
export interface StoredRecord {
  n: number;
  at: number;
  /** Keyed hash of the entry's origin (sealed.ts); null for entries without one. Unique among held records. */
  tag: string | null;
  /** The Fernet token of the entry's kind, names, text, recipient and origin. */
  sealed: string;
}

export type RecordToStore = Pick<StoredRecord, 'tag' | 'sealed'>;

/**
 * A store: numbers, times, retention, dedupe by tag and the epoch. It never sees plaintext. `appendMany` is one
 * transaction: every record or none is stored, and it resolves only once the store has them durably. A record
 * whose tag a held record (or an earlier record of the same batch) already has is not stored; its result is
 * that record's number and time, with `duplicate: true`.
 */
export interface LogStore {
  readonly description: string;
  readonly retention: Retention;
  appendMany(records: readonly RecordToStore[]): Promise<Appended[]>;
  /**
   * appendMany, done in the call, by a store whose records live in this process's memory: when it returns they are
   * as durable as that store makes anything. The chat log then appends every entry this way (sealed.ts), so
   * there is no batch to gather and numbers still follow calls.
   */
  appendManyInCall?(records: readonly RecordToStore[]): Appended[];
  readAfter(n: number, limit: number): Promise<StoredRecord[]>;
  position(): Promise<Position>;
  trim(): Promise<void>;
  close(): Promise<void>;
}

export interface StoreOptions {
  retention?: Retention;
  /** The clock, in milliseconds since 1970 (tests inject one). */
  now?: () => number;
}

// ---- errors -------------------------------------------------------------------------------------------------

export type HistoryErrorCode =
  /** The store could not be opened (a missing folder, no permission, a directory where a file should be). */
  | 'OPEN_FAILED'
  /** The file is not a wirechat history: not an SQLite database, or one with other tables in it. */
  | 'NOT_A_LOG'
  /** Another process holds the history file. */
  | 'IN_USE'
  /** The history was sealed under another chat key than the one given. */
  | 'KEY_MISMATCH'
  /** A write failed (disk full, I/O error); nothing of that batch was stored. */
  | 'WRITE_FAILED'
  /** A read failed, or a held record does not open under the chat key. */
  | 'READ_FAILED'
  | 'CLOSED';

/** A failure of the log or its store, with a message that tells a person what to do. */
export class HistoryError extends Error {
  override readonly name = 'HistoryError';
  readonly code: HistoryErrorCode;

  constructor(code: HistoryErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

// ---- rules every store shares ----------------------------------------------------------------------------

/** A fresh epoch: 96 random bits, so two histories never share one by chance. */
export function newEpoch(): string {
  return randomBytes(12).toString('base64url');
}

export function checkRetention(retention: Retention): Retention {
  const { maxLines, maxAgeMs } = retention;
  if (!Number.isSafeInteger(maxLines) || maxLines < 1) {
    throw new RangeError(`history lines must be a whole number >= 1, not ${maxLines}`);
  }
  if (!Number.isSafeInteger(maxAgeMs) || maxAgeMs < 1) {
    throw new RangeError(`history age must be a whole number of milliseconds >= 1, not ${maxAgeMs}`);
  }
  return { maxLines, maxAgeMs };
}

/** A line number as an argument: a whole number >= 0 (0: before the first line). */
export function checkLineNumber(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`a line number is a whole number >= 0, not ${n}`);
  return n;
}

export function checkLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw new RangeError(`a read limit is a whole number >= 1, not ${limit}`);
  return limit;
}

/**
 * The oldest line retention keeps at `now`, given the newest line and a way to find the first line at or after
 * a time. Times never go down as numbers go up, so what the age bound keeps is a suffix, like the count's.
 */
export function firstKept(
  last: number,
  retention: Retention,
  firstAtOrAfter: (cutoff: number) => number,
  now: number,
): number {
  const byCount = Math.max(1, last - retention.maxLines + 1);
  return Math.max(byCount, firstAtOrAfter(now - retention.maxAgeMs));
}

/** Who may see an entry replayed: everyone, but a `direct` line only its recipient and its sender. */
export function visibleTo(entry: LogEntry, identity: string): boolean {
  return entry.kind !== 'direct' || entry.to === identity || entry.origin?.identity === identity;
}

export interface ReplayPlan {
  /** Replay the entries numbered above this. */
  after: number;
  /** Set when the replay cannot be complete whatever the store still holds. */
  reason?: 'epoch' | 'ahead';
}

/** Where to replay from for a tab at `since` (Centrifugo's rule: same epoch, and the tab is not ahead). */
export function replayFrom(position: Position, since: Since): ReplayPlan {
  if (since.epoch !== position.epoch) return { after: 0, reason: 'epoch' };
  if (since.n > position.last) return { after: position.last, reason: 'ahead' };
  return { after: since.n };
}

/**
 * The answer, from what was actually read: the lines gone are those between the plan's start and the first
 * entry returned (or `last + 1` when none is), so a trim between reading the position and reading the entries
 * cannot hide a gap.
 */
export function recovery(position: Position, plan: ReplayPlan, entries: LogEntry[], more: boolean): Recovery {
  const firstGiven = entries[0]?.n ?? position.last + 1;
  const gone = Math.max(0, firstGiven - plan.after - 1);
  if (plan.reason) return { recovered: false, reason: plan.reason, gone, entries, more, position };
  if (gone > 0) return { recovered: false, reason: 'trimmed', gone, entries, more, position };
  return { recovered: true, entries, more, position };
}

const MAX_IDENTITY_CHARS = 256;

/** An entry the relay built: a mistake here is a bug in the relay, so it throws RangeError. */
export function checkEntry(entry: NewEntry): NewEntry {
  const { kind, from, text, to, origin } = entry;
  if (!(ENTRY_KINDS as readonly string[]).includes(kind))
    throw new RangeError(`an entry's kind is one of ${ENTRY_KINDS.join(', ')}, not ${String(kind)}`);
  if (typeof from !== 'string' || typeof text !== 'string') throw new RangeError('an entry has a name and a text');
  if (to !== undefined && (typeof to !== 'string' || to === '' || to.length > MAX_IDENTITY_CHARS)) {
    throw new RangeError(`a recipient is an identity of 1 to ${MAX_IDENTITY_CHARS} characters`);
  }
  if ((kind === 'direct') !== (to !== undefined))
    throw new RangeError('a direct entry, and only a direct one, names its recipient');
  if (origin !== undefined) {
    const { identity, lineId } = origin;
    if (typeof identity !== 'string' || identity === '' || identity.length > MAX_IDENTITY_CHARS) {
      throw new RangeError(`an origin's identity is 1 to ${MAX_IDENTITY_CHARS} characters`);
    }
    if (!Number.isSafeInteger(lineId) || lineId < 0)
      throw new RangeError(`an origin's line id is a whole number >= 0, not ${lineId}`);
  }
  return entry;
}
