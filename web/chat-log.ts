/**
 * The chat as the page shows it, and the fate of each line the person typed. Pure bookkeeping: no sockets, no
 * DOM, so the rules below are tested in Node.
 *
 * An own line goes queued -> sending -> delivered | failed, from the server's receipt. A line that was sent
 * but not receipted when the connection dropped becomes not-delivered (the server may or may not have it; the
 * page says so and offers to send it again), and lines still queued when the chat ends become not-delivered
 * too. No line ever disappears or keeps a status that is no longer true.
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
}

export interface SystemLine {
  readonly kind: 'system';
  readonly key: number;
  readonly text: string;
  readonly at: number;
}

export type ChatEntry = ChatLine | SystemLine;

export const DROPPED_REASON = 'the connection dropped before the server confirmed it';
export const ENDED_UNSENT = 'the chat ended before it was sent';
export const ENDED_UNCONFIRMED = 'the chat ended before the server confirmed it';

export class ChatLog {
  #entries: readonly ChatEntry[] = [];
  #nextKey = 0;
  /** Receipt ids of the current session to the key of the line they name. Ids restart with every session. */
  #byId = new Map<number, number>();
  /** Receipts that arrived before the page learned the id of the line (never expected, but never lost). */
  #early = new Map<number, { status: 'delivered' | 'failed'; reason: string }>();

  /** A new array after every change, so a view can tell that something changed by identity alone. */
  get entries(): readonly ChatEntry[] {
    return this.#entries;
  }

  /** Own lines waiting for a connection, oldest first. */
  get queued(): readonly ChatLine[] {
    return this.#entries.filter((e): e is ChatLine => e.kind === 'line' && e.status === 'queued');
  }

  line(from: string, text: string, at: number, direct: boolean): number {
    return this.#add({ kind: 'line', key: this.#nextKey, from, text, at, own: false, direct });
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
      this.#settle(key, early.status, early.reason);
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

  receipt(id: number, status: 'delivered' | 'failed', reason: string): void {
    const key = this.#byId.get(id);
    if (key === undefined) {
      this.#early.set(id, { status, reason });
      return;
    }
    this.#byId.delete(id);
    this.#settle(key, status, reason);
  }

  /** The connection dropped: every line still waiting for a receipt is not delivered, as far as anyone knows. */
  dropped(reason: string = DROPPED_REASON): void {
    this.#byId.clear();
    this.#early.clear();
    this.#replaceWhere(
      (line) => line.status === 'sending',
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

  /** Queues a copy of a not-delivered line at the end of the log; returns its key, or undefined if not allowed. */
  resend(key: number, at: number): number | undefined {
    const line = this.#find(key);
    if (line === undefined || !line.resendable) return undefined;
    this.#update(key, (old) => ({ ...old, resendable: false, resent: true }));
    return this.own(line.from, line.text, at);
  }

  #settle(key: number, status: 'delivered' | 'failed', reason: string): void {
    this.#update(key, (line) => ({ ...line, status, reason: status === 'failed' ? reason : '' }));
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
