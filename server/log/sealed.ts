/**
 * The chat log over any store: one encryption layer at rest for every store, and write batching.
 *
 * At rest, each entry is a Fernet token (shared/fernet.ts on node:crypto) of its kind, names, text, recipient and
 * origin, under the chat key; only what a store must index stays in the clear: the line number, the time, and a
 * dedupe tag, HMAC-SHA256 of the origin under a key derived from the chat key (HKDF, so the one key file serves
 * both without the two uses meeting), cut to 128 bits. Someone who reads the store learns how many lines there
 * are, when each was said, and roughly how long (the token's length); not who said what, to whom, or which
 * lines came from the same tab (docs/history.md, "What is visible at rest").
 *
 * Writes are coalesced: appends made in the same turn of the event loop go to the store as one transaction
 * (one fsync for all of them), numbered in the order they were made, and each resolves with its own number
 * once the batch is durable. A batch in flight does not hold up the next one's gathering. A store that keeps its
 * records in this process (the memory log) has nothing to coalesce: every append is stored in the call
 * (`appendInCall`), so a line is stored, fanned out and receipted in the event that read it.
 */
import { createHmac, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import { fromUtf8, utf8 } from '../../shared/bytes.ts';
import { isWirechatError } from '../../shared/errors.ts';
import type { Fernet } from '../../shared/fernet.ts';
import { createNodeFernet } from '../node-fernet.ts';
import {
  checkEntry,
  checkLimit,
  checkLineNumber,
  DEFAULT_READ_LIMIT,
  ENTRY_KINDS,
  HistoryError,
  recovery,
  replayFrom,
  type Appended,
  type ChatLog,
  type EntryKind,
  type LogEntry,
  type LogStore,
  type NewEntry,
  type Origin,
  type Position,
  type RecordToStore,
  type Recovery,
  type Retention,
  type Since,
  type StoredRecord,
} from './log.ts';

/** Bump when the sealed payload changes shape; an entry of another version is refused, never guessed at. */
export const PAYLOAD_VERSION = 1;
const TAG_INFO = 'wirechat chat log: origin tag v1';
const TAG_BYTES = 16;
/**
 * A token at rest is not checked for age (retention is the store's job) nor for coming from the future: a clock
 * stepped back must not make the history unreadable. Fernet's skew bound is finite, so it is set past any date.
 */
const NO_FUTURE_BOUND = 2 ** 52;

/** What a store keeps sealed. */
interface Payload {
  v: typeof PAYLOAD_VERSION;
  kind: EntryKind;
  from: string;
  text: string;
  to?: string;
  origin?: Origin;
}

export interface LogSealer {
  /** At once, not a promise: an append's record is made in the call, so a failure is the append's own. */
  seal(entry: NewEntry): string;
  /** The entry sealed in `token`; throws WirechatError when the token is not ours, RangeError when it is malformed. */
  open(token: string): Promise<NewEntry>;
  tag(origin: Origin): string;
}

/** A sealer under the 32-byte chat key, which is zeroed once imported. */
export async function createLogSealer(chatKey: Uint8Array): Promise<LogSealer> {
  let tagKey: KeyObject;
  let fernet: Fernet;
  try {
    // HKDF-SHA256 (RFC 5869) with no salt: the chat key is already uniformly random.
    const derived = new Uint8Array(hkdfSync('sha256', chatKey, new Uint8Array(0), TAG_INFO, 32));
    tagKey = createSecretKey(derived);
    derived.fill(0);
    fernet = await createNodeFernet(chatKey.slice());
  } finally {
    chatKey.fill(0);
  }
  return {
    seal(entry) {
      const token = fernet.sealText(utf8(JSON.stringify(payloadOf(entry))));
      // node:crypto answers at once (Fernet.synchronous): the sealer hands back a token, not the promise of one.
      if (typeof token !== 'string') throw new RangeError('the chat log seals over node:crypto, which answers at once');
      return token;
    },
    async open(token) {
      return parsePayload(
        JSON.parse(fromUtf8(await fernet.decrypt(token, { maxClockSkew: NO_FUTURE_BOUND }))) as unknown,
      );
    },
    tag(origin) {
      // JSON of the pair: one spelling per (identity, lineId), so no two origins share an HMAC input.
      const mac = createHmac('sha256', tagKey)
        .update(JSON.stringify([origin.identity, origin.lineId]))
        .digest();
      return mac.subarray(0, TAG_BYTES).toString('base64url');
    },
  };
}

/**
 * The layer at rest of a log that never leaves this process (the memory log): entries kept open, as the same
 * JSON payload a sealer seals, and origins as their own JSON. Sealing them under a key held in the same memory
 * would hide them from nobody who can read that memory, and it was a third of the relay's cryptography per
 * line (docs/benchmarks.md, "Third pass"); what leaves the process (an SQLite file, Redis) is sealed as ever.
 */
export function inProcessSealer(): LogSealer {
  return {
    seal: (entry) => JSON.stringify(payloadOf(entry)),
    open: (token) => Promise.resolve().then(() => parsePayload(JSON.parse(token) as unknown)),
    // The number, a space, the identity: a number's text has no space, so no two origins share a tag.
    tag: (origin) => `${origin.lineId} ${origin.identity}`,
  };
}

function payloadOf({ kind, from, text, to, origin }: NewEntry): Payload {
  const payload: Payload = { v: PAYLOAD_VERSION, kind, from, text };
  if (to !== undefined) payload.to = to;
  if (origin !== undefined) payload.origin = { identity: origin.identity, lineId: origin.lineId };
  return payload;
}

function parsePayload(value: unknown): NewEntry {
  if (typeof value !== 'object' || value === null) throw new RangeError('a sealed entry is a JSON object');
  const { v, kind, from, text, to, origin, ...rest } = value as Record<string, unknown>;
  if (v !== PAYLOAD_VERSION)
    throw new RangeError(`a sealed entry of version ${String(v)}; this server reads ${PAYLOAD_VERSION}`);
  if (Object.keys(rest).length > 0)
    throw new RangeError(`a sealed entry has unknown fields: ${Object.keys(rest).join(', ')}`);
  if (!(ENTRY_KINDS as readonly unknown[]).includes(kind))
    throw new RangeError(`a sealed entry of kind ${String(kind)}`);
  const entry: NewEntry = { kind: kind as EntryKind, from: from as string, text: text as string };
  if (to !== undefined) entry.to = to as string;
  if (origin !== undefined) {
    if (typeof origin !== 'object' || origin === null) throw new RangeError('a sealed origin is an object');
    const { identity, lineId, ...more } = origin as Record<string, unknown>;
    if (Object.keys(more).length > 0) throw new RangeError('a sealed origin has unknown fields');
    entry.origin = { identity: identity as string, lineId: lineId as number };
  }
  return checkEntry(entry);
}

interface Waiting {
  records: RecordToStore[];
  resolve(results: Appended[]): void;
  reject(error: unknown): void;
}

/**
 * The chat log over `store`, sealing with `sealer`. Checks at the start that the newest entry the store holds
 * opens under this key: a history written under another key is refused now (KEY_MISMATCH), not at the first
 * resume.
 */
export async function createChatLog(store: LogStore, sealer: LogSealer): Promise<ChatLog> {
  try {
    const { last, first } = await store.position();
    const [newest] = last >= first ? await store.readAfter(last - 1, 1) : [];
    if (newest) await openNewest(store, sealer, newest);
  } catch (error) {
    // Refused at the start: the store is let go, so a second try (with the right key) can open it.
    await store.close();
    throw error;
  }
  return new SealedChatLog(store, sealer);
}

async function openNewest(store: LogStore, sealer: LogSealer, newest: StoredRecord): Promise<void> {
  try {
    await sealer.open(newest.sealed);
  } catch (error) {
    if (isWirechatError(error, 'FERNET_BAD_MAC')) {
      throw new HistoryError(
        'KEY_MISMATCH',
        `the history in ${store.description} was sealed under another chat key; start with the key it was written with, or move the history away to begin a new one`,
        { cause: error },
      );
    }
    throw new HistoryError(
      'READ_FAILED',
      `line ${newest.n} of ${store.description} cannot be read: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

class SealedChatLog implements ChatLog {
  readonly #store: LogStore;
  readonly #sealer: LogSealer;
  /** Set where the store appends in the call (LogStore.appendManyInCall); then every append goes that way. */
  readonly appendInCall?: (entry: NewEntry) => Appended;
  #waiting: Waiting[] = [];
  #gathering = false;
  /** The batch being written, if any; batches are written one after another, in order. */
  #writing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(store: LogStore, sealer: LogSealer) {
    this.#store = store;
    this.#sealer = sealer;
    if (store.appendManyInCall !== undefined) this.appendInCall = (entry) => this.#appendManyInCall([entry])[0]!;
  }

  get description(): string {
    return this.#store.description;
  }

  get retention(): Retention {
    return this.#store.retention;
  }

  async append(entry: NewEntry): Promise<Appended> {
    const [appended] = await this.appendMany([entry]);
    return appended!;
  }

  appendMany(entries: readonly NewEntry[]): Promise<Appended[]> {
    if (this.appendInCall !== undefined) {
      try {
        return Promise.resolve(this.#appendManyInCall(entries));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (this.#closed) return Promise.reject(new HistoryError('CLOSED', 'the chat log is closed'));
    let records: RecordToStore[];
    try {
      entries.forEach(checkEntry);
      // Sealed now, in the call; the place in the batch is taken now too, so numbers follow calls.
      records = entries.map((entry) => this.#record(entry));
    } catch (error) {
      return Promise.reject(error);
    }
    if (records.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ records, resolve, reject });
      if (!this.#gathering) {
        this.#gathering = true;
        // setImmediate, not a microtask: it runs after every socket read of this turn, so they share the batch.
        setImmediate(() => {
          this.#gathering = false;
          this.#writing = this.#writing.then(() => this.#write());
        });
      }
    });
  }

  async readAfter(n: number, limit: number = DEFAULT_READ_LIMIT): Promise<LogEntry[]> {
    checkLineNumber(n);
    checkLimit(limit);
    return Promise.all((await this.#store.readAfter(n, limit)).map((record) => this.#open(record)));
  }

  position(): Promise<Position> {
    return this.#store.position();
  }

  async recover(since: Since, limit: number = DEFAULT_READ_LIMIT): Promise<Recovery> {
    if (typeof since?.epoch !== 'string') throw new RangeError('a position has an epoch');
    checkLineNumber(since.n);
    checkLimit(limit);
    const position = await this.#store.position();
    const plan = replayFrom(position, since);
    const entries = await this.readAfter(plan.after, limit + 1);
    const more = entries.length > limit;
    return recovery(position, plan, more ? entries.slice(0, limit) : entries, more);
  }

  trim(): Promise<void> {
    return this.#store.trim();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Whatever was appended before the close is written first: a batch still gathering has its turn queued.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.#writing;
    await this.#store.close();
  }

  /** Checked, sealed and stored in the call (a store in this process's memory); throws what appendMany rejects with. */
  #appendManyInCall(entries: readonly NewEntry[]): Appended[] {
    if (this.#closed) throw new HistoryError('CLOSED', 'the chat log is closed');
    for (const entry of entries) checkEntry(entry);
    return this.#store.appendManyInCall!(entries.map((entry) => this.#record(entry)));
  }

  #record(entry: NewEntry): RecordToStore {
    return { tag: entry.origin ? this.#sealer.tag(entry.origin) : null, sealed: this.#sealer.seal(entry) };
  }

  async #open(record: StoredRecord): Promise<LogEntry> {
    let entry: NewEntry;
    try {
      entry = await this.#sealer.open(record.sealed);
    } catch (error) {
      throw new HistoryError(
        'READ_FAILED',
        `line ${record.n} of ${this.#store.description} cannot be read: ${(error as Error).message}`,
        { cause: error },
      );
    }
    return { n: record.n, at: record.at, ...entry };
  }

  /** Writes everything waiting as one store transaction; each caller gets its own slice of the results. */
  async #write(): Promise<void> {
    const batch = this.#waiting;
    this.#waiting = [];
    if (batch.length === 0) return;
    let results: Appended[];
    try {
      results = await this.#store.appendMany(batch.flatMap((waiting) => waiting.records));
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
      return;
    }
    let offset = 0;
    for (const waiting of batch) {
      waiting.resolve(results.slice(offset, offset + waiting.records.length));
      offset += waiting.records.length;
    }
  }
}
