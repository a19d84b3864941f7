/**
 * The default store: the chat log in this process's memory, nothing to install. Bounded by retention (10,000
 * lines and an hour by default), and gone when the process ends, so every start is a new epoch: a tab that
 * comes back after a restart is told that what it missed before the restart is lost.
 */
import {
  checkLimit,
  checkLineNumber,
  checkRetention,
  DEFAULT_RETENTION,
  firstKept,
  HistoryError,
  newEpoch,
  type Appended,
  type LogStore,
  type Position,
  type RecordToStore,
  type Retention,
  type StoredRecord,
  type StoreOptions,
} from './log.ts';

export class MemoryStore implements LogStore {
  readonly description = 'memory';
  readonly retention: Retention;
  readonly #epoch = newEpoch();
  readonly #now: () => number;
  /** Held records, oldest first, from `#head` on: dropping the oldest is moving `#head`, not shifting the array. */
  #records: StoredRecord[] = [];
  #head = 0;
  readonly #byTag = new Map<string, StoredRecord>();
  #last = 0;
  #lastAt = 0;
  #closed = false;

  constructor(options: StoreOptions = {}) {
    this.retention = checkRetention(options.retention ?? DEFAULT_RETENTION);
    this.#now = options.now ?? Date.now;
  }

  async appendMany(records: readonly RecordToStore[]): Promise<Appended[]> {
    return this.appendManyInCall(records);
  }

  /** Nothing to wait for: the records are held when this returns (the chat log appends this way, sealed.ts). */
  appendManyInCall(records: readonly RecordToStore[]): Appended[] {
    this.#open();
    if (records.length === 0) return [];
    const now = this.#now();
    this.#trim(now);
    const results: Appended[] = [];
    for (const { tag, sealed } of records) {
      const held = tag === null ? undefined : this.#byTag.get(tag);
      if (held) {
        results.push({ n: held.n, at: held.at, duplicate: true });
        continue;
      }
      const record = { n: ++this.#last, at: (this.#lastAt = Math.max(now, this.#lastAt)), tag, sealed };
      this.#records.push(record);
      if (tag !== null) this.#byTag.set(tag, record);
      // Trimmed after each record, so a batch answers exactly as its appends one by one would.
      this.#trim(now);
      results.push({ n: record.n, at: record.at, duplicate: false });
    }
    return results;
  }

  async readAfter(n: number, limit: number): Promise<StoredRecord[]> {
    checkLineNumber(n);
    checkLimit(limit);
    this.#open();
    this.#trim(this.#now());
    const first = this.#records[this.#head]?.n ?? this.#last + 1;
    const from = this.#head + Math.max(0, n + 1 - first);
    return this.#records.slice(from, from + limit);
  }

  async position(): Promise<Position> {
    this.#open();
    this.#trim(this.#now());
    return { epoch: this.#epoch, first: this.#records[this.#head]?.n ?? this.#last + 1, last: this.#last };
  }

  async trim(): Promise<void> {
    this.#open();
    this.#trim(this.#now());
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#records = [];
    this.#byTag.clear();
  }

  #open(): void {
    if (this.#closed) throw new HistoryError('CLOSED', 'the chat log is closed');
  }

  #trim(now: number): void {
    const head = this.#records[this.#head];
    if (head === undefined) return;
    // Every append trims: while the oldest record held is within the age bound (the usual case), only the count
    // can drop any, and firstKept's search would find the head; the answer is the same without it.
    const first =
      head.at >= now - this.retention.maxAgeMs
        ? Math.max(head.n, this.#last - this.retention.maxLines + 1)
        : firstKept(this.#last, this.retention, this.#firstAtOrAfterCutoff, now);
    while (this.#head < this.#records.length && this.#records[this.#head]!.n < first) {
      const dropped = this.#records[this.#head++]!;
      if (dropped.tag !== null) this.#byTag.delete(dropped.tag);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#records.length) {
      this.#records = this.#records.slice(this.#head);
      this.#head = 0;
    }
  }

  /** #firstAtOrAfter as one function made once, not a closure per append. */
  readonly #firstAtOrAfterCutoff = (cutoff: number): number => this.#firstAtOrAfter(cutoff);

  /** Numbers are consecutive from `#head`, and times never go down, so a binary search finds the cutoff. */
  #firstAtOrAfter(cutoff: number): number {
    let lo = this.#head;
    let hi = this.#records.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#records[mid]!.at < cutoff) lo = mid + 1;
      else hi = mid;
    }
    return this.#records[lo]?.n ?? this.#last + 1;
  }
}
