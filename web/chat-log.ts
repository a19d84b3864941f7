/**
 * The chat as the page shows it, and the fate of each line the person typed. Pure bookkeeping: no sockets, no
 * DOM, so the rules below are tested in Node.
 *
 * An own line goes queued -> sending -> delivered | failed, from the server's receipt. A line that was sent
 * but not receipted when the connection dropped stays sending: the page sends it again, under the same id, once
 * it has resumed its place (shared/outbox.ts), and the server delivers it exactly once. Only when the resume
 * could not recover this participant does it become not-delivered (the server may or may not have it; the page
 * says so and offers to send it again); lines still queued when the chat ends become not-delivered too. No line
 * ever disappears or keeps a status that is no longer true.
 *
 * Lines are shown in chat order: every line the server numbered (`n`, the same on every tab) stands before any
 * line with a higher number, so lines replayed after a resume (`late`) go in their place, above lines typed here
 * while the page was away, and a line already shown under its number is never shown twice.
 */

import type { ServerPresence } from '../shared/protocol.ts';
import { printable } from '../shared/text.ts';

export type LineStatus = 'queued' | 'sending' | 'delivered' | 'failed' | 'not-delivered';

export interface ChatLine {
  readonly kind: 'line';
  /** Stable for the life of the page, for keyed rendering and for naming a line in events. */
  readonly key: number;
  readonly from: string;
  readonly text: string;
  /** Milliseconds since the epoch, in this machine's clock. */
  readonly at: number;
  readonly own: boolean;
  /** A `/msg` from the console that only this page received. */
  readonly direct: boolean;
  /** Own lines only. */
  readonly status?: LineStatus;
  /** Why a line failed or was not delivered. */
  readonly reason?: string;
  /** A not-delivered line the person may send again (once: the copy carries on from there). */
  readonly resendable?: boolean;
  /** This line was sent again as a new line further down. */
  readonly resent?: boolean;
  /** The chat-wide line number, once known (from the server for others' lines, from the receipt for own ones). */
  readonly n?: number;
  /** Said while this page was away, and replayed when it resumed. */
  readonly late?: boolean;
}

export interface SystemLine {
  readonly kind: 'system';
  readonly key: number;
  readonly text: string;
  readonly at: number;
}

export type ChatEntry = ChatLine | SystemLine;

export const DROPPED_REASON =
  'the connection dropped before the server confirmed it, and the server could not tell whether it had it';
export const ENDED_UNSENT = 'the chat ended before it was sent';
export const ENDED_UNCONFIRMED = 'the chat ended before the server confirmed it';

export class ChatLog {
  #entries: readonly ChatEntry[] = [];
  #nextKey = 0;
  /** Receipt ids to the key of the line they name. Ids are the participant's, kept across reconnects. */
  #byId = new Map<number, number>();
  /** Receipts that arrived before the page learned the id of the line (never expected, but never lost). */
  #early = new Map<number, { status: 'delivered' | 'failed'; reason: string; n: number }>();

  /** A new array after every change, so a view can tell that something changed by identity alone. */
  get entries(): readonly ChatEntry[] {
    return this.#entries;
  }

  /** Own lines waiting for a connection, oldest first. */
  get queued(): readonly ChatLine[] {
    return this.#entries.filter((e): e is ChatLine => e.kind === 'line' && e.status === 'queued');
  }

  /**
   * A line from the server, in its place by number. Returns its key, or undefined when a line with that number is
   * already shown (a replay overlapping what arrived live: shown once).
   */
  line(from: string, text: string, at: number, direct: boolean, n?: number, late = false): number | undefined {
    if (n !== undefined && this.#entries.some((e) => e.kind === 'line' && e.n === n)) return undefined;
    const entry: ChatLine = {
      kind: 'line',
      key: this.#nextKey,
      from,
      text,
      at,
      own: false,
      direct,
      ...(n === undefined ? {} : { n }),
      ...(late ? { late } : {}),
    };
    this.#nextKey++;
    this.#entries = placed(this.#entries, entry);
    return entry.key;
  }

  system(text: string, at: number): number {
    return this.#add({ kind: 'system', key: this.#nextKey, text, at });
  }

  /** A line the person typed, queued until the page hands it to the session. */
  own(from: string, text: string, at: number): number {
    return this.#add({ kind: 'line', key: this.#nextKey, from, text, at, own: true, direct: false, status: 'queued' });
  }

  /** The line was handed to the session; its id is not known until `sent`. */
  sending(key: number): void {
    this.#update(key, (line) => (line.status === 'queued' ? { ...line, status: 'sending' } : line));
  }

  /** The session sent the line as `id`. Ignored if the line is no longer sending (the connection dropped). */
  sent(key: number, id: number): void {
    const line = this.#find(key);
    if (line?.status !== 'sending') return;
    const early = this.#early.get(id);
    if (early !== undefined) {
      this.#early.delete(id);
      this.#settle(key, early.status, early.reason, early.n);
    } else {
      this.#byId.set(id, key);
    }
  }

  /** The session refused to send the line (the chat was no longer secure by the time it got there). */
  notSent(key: number, reason: string): void {
    this.#update(key, (line) =>
      line.status === 'sending' || line.status === 'queued'
        ? { ...line, status: 'not-delivered', reason, resendable: true }
        : line,
    );
  }

  receipt(id: number, status: 'delivered' | 'failed', reason: string, n = 0): void {
    const key = this.#byId.get(id);
    if (key === undefined) {
      this.#early.set(id, { status, reason, n });
      return;
    }
    this.#byId.delete(id);
    this.#settle(key, status, reason, n);
  }

  /**
   * The resume did not recover this participant: the lines `ids` were sent and never receipted, and nobody can
   * now tell whether the server had them. Not delivered, as far as anyone knows; the person may send them again.
   */
  unconfirmed(ids: readonly number[], reason: string = DROPPED_REASON): void {
    const keys = new Set<number>();
    for (const id of ids) {
      const key = this.#byId.get(id);
      if (key !== undefined) keys.add(key);
      this.#byId.delete(id);
      this.#early.delete(id);
    }
    this.#replaceWhere(
      (line) => keys.has(line.key) && line.status === 'sending',
      (line) => ({ ...line, status: 'not-delivered', reason, resendable: true }),
    );
  }

  /** The chat is over: queued lines never went out, and lines still sending will never be confirmed. */
  ended(): void {
    this.#byId.clear();
    this.#early.clear();
    this.#replaceWhere(
      (line) => line.status === 'queued' || line.status === 'sending',
      (line) => ({
        ...line,
        status: 'not-delivered',
        reason: line.status === 'queued' ? ENDED_UNSENT : ENDED_UNCONFIRMED,
        resendable: false,
      }),
    );
  }

  /**
   * The server's log has a new epoch (it restarted without --history, or its file was replaced): its numbers start
   * again at 1 and mean nothing against the old ones. The lines shown keep their place but lose their numbers, so
   * that a new line 2 is not taken for the old line 2; new numbered lines go below them.
   */
  newEpoch(): void {
    if (!this.#entries.some((e) => e.kind === 'line' && e.n !== undefined)) return;
    this.#entries = this.#entries.map((e) => (e.kind === 'line' && e.n !== undefined ? { ...e, n: undefined } : e));
  }

  /** Queues a copy of a not-delivered line at the end of the log; returns its key, or undefined if not allowed. */
  resend(key: number, at: number): number | undefined {
    const line = this.#find(key);
    if (line === undefined || !line.resendable) return undefined;
    this.#update(key, (old) => ({ ...old, resendable: false, resent: true }));
    return this.own(line.from, line.text, at);
  }

  #settle(key: number, status: 'delivered' | 'failed', reason: string, n: number): void {
    const line = this.#find(key);
    if (line === undefined) return;
    const settled: ChatLine = { ...line, status, reason: status === 'failed' ? reason : '', ...(n > 0 ? { n } : {}) };
    // Numbered now: it moves to its place in the chat's order (a line said by others meanwhile stands above it).
    this.#entries =
      n > 0
        ? placed(
            this.#entries.filter((e) => e.key !== key),
            settled,
            this.#entries.indexOf(line),
          )
        : this.#entries.map((e) => (e.key === key ? settled : e));
  }

  #add(entry: ChatEntry): number {
    this.#nextKey++;
    this.#entries = [...this.#entries, entry];
    return entry.key;
  }

  #find(key: number): ChatLine | undefined {
    const entry = this.#entries.find((e) => e.key === key);
    return entry?.kind === 'line' && entry.own ? entry : undefined;
  }

  #update(key: number, change: (line: ChatLine) => ChatLine): void {
    this.#replaceWhere((line) => line.key === key, change);
  }

  #replaceWhere(match: (line: ChatLine) => boolean, change: (line: ChatLine) => ChatLine): void {
    let changed = false;
    const next = this.#entries.map((entry) => {
      if (entry.kind !== 'line' || !entry.own || !match(entry)) return entry;
      const updated = change(entry);
      changed ||= updated !== entry;
      return updated;
    });
    if (changed) this.#entries = next;
  }
}

/**
 * `entries` with `entry` in its place: before the first numbered line with a higher number; else where it was
 * (`at`, for a line that just got its number) or at the end. Entries keep their order otherwise.
 */
function placed(entries: readonly ChatEntry[], entry: ChatLine, at = entries.length): readonly ChatEntry[] {
  const n = entry.n;
  let index = at;
  if (n !== undefined) {
    const after = entries.findIndex((e) => e.kind === 'line' && e.n !== undefined && e.n > n);
    if (after !== -1) index = after;
    else {
      // Nothing numbered after it: it goes after the last numbered line, if that is below where it was.
      let lastNumbered = -1;
      entries.forEach((e, i) => {
        if (e.kind === 'line' && e.n !== undefined) lastNumbered = i;
      });
      index = Math.max(Math.min(at, entries.length), lastNumbered + 1);
    }
  }
  return [...entries.slice(0, index), entry, ...entries.slice(index)];
}

/** "alice", "alice and bob", "alice, bob and carol". */
function listed(names: readonly string[]): string {
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

function others(count: number): string {
  return count === 1 ? '1 other' : `${count} others`;
}

/**
 * What a `presence` body says, as the chat log's system lines, in the order it happened: joins in a row make one
 * line ("alice, bob and 40 others joined."), each leave its own line in the server's words ("bob left.", "carol
 * disconnected (1006)."), and changes the server only counted are added to the last line of their kind, or make a
 * line of their own.
 */
export function presenceLines(body: ServerPresence): string[] {
  const lines: string[] = [];
  let joined: string[] = [];
  const endJoins = (more = 0) => {
    if (joined.length > 0 || more > 0) lines.push(`${listed(more > 0 ? [...joined, others(more)] : joined)} joined.`);
    joined = [];
  };
  for (const change of body.changes) {
    if (change.change === 'joined') {
      joined.push(change.name);
      continue;
    }
    endJoins();
    // The server's words, made to follow the name ("left", "disconnected (1006)", "was removed by the server
    // operator"), shown printable like every reason on the page (plain mode authenticates nothing).
    const reason = change.reason.trim();
    lines.push(`${change.name} ${reason === '' ? 'left' : printable(reason, 256)}.`);
  }
  const last = body.changes[body.changes.length - 1];
  if (last?.change === 'joined') endJoins(body.moreJoined);
  else {
    endJoins();
    if (body.moreJoined > 0) lines.push(`${others(body.moreJoined)} joined.`);
  }
  if (body.moreLeft > 0) lines.push(`${others(body.moreLeft)} left.`);
  return lines;
}
