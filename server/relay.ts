/**
 * The relay: one console and any number of tabs sharing one chat. It names everyone and decides who receives
 * what; each recipient's own session seals the line anew with that recipient's keys and sends it, so the relay
 * never handles a key, a token, a sequence number or a frame. What a tab's own session does (its wire, its
 * phases, its receipts, its heartbeat) is the session's (server/session.ts); the relay only answers its calls.
 */
import { Close, WirechatError, type EndCode } from '../shared/errors.ts';
import { NameBook } from '../shared/names.ts';
import type { ServerBody } from '../shared/protocol.ts';
import { EncodedBody } from '../shared/record.ts';
import { Presence, type PresenceClock } from './presence.ts';
import type { LineOutcome, SessionHost } from './session.ts';

/** What the console (or a test) hears from the relay. */
export interface RelayEvents {
  line(from: string, text: string, at: number): void;
  joined(member: Member): void;
  /** `tab`: `name` is a joined tab's name; false for a connection that never joined, named by its label. */
  left(name: string, code: number, reason: string, tab: boolean): void;
}

/**
 * What the relay needs of a session, and all it may ask of it: its name and standing, and the calls that hand it a
 * body to seal and send, end it, or check its heartbeat. ServerSession is one; a test may bring its own.
 */
export interface Member {
  readonly name: string;
  readonly code: string;
  /** 'secure' or 'plain' once joined. */
  readonly phase: string;
  readonly connectedAt: number;
  /** The name, or "connection #N" before it has one. */
  readonly label: string;
  /** Whether the server dropped it for a failure (as opposed to its peer leaving). */
  readonly failed: boolean;
  /** What the other tabs are told of its leaving. */
  readonly departure: string;
  send(body: ServerBody | EncodedBody<ServerBody>): unknown;
  end(code: EndCode, reason: string, departure?: string): void;
  close(code: number, reason: string, why: string): void;
  /** Pings it, or drops it when it did not answer the last ping; false once it is gone. */
  heartbeat(): boolean;
}

export interface Participant {
  name: string;
  code: string;
  mode: string;
  connectedMs: number;
}

export interface RelayOptions {
  /** How often joins and leaves are announced (server/presence.ts); 250 ms unless said. */
  presenceIntervalMs?: number;
  clock?: PresenceClock;
}

const DELIVERED: LineOutcome = { status: 'delivered', reason: '' };

export class Relay implements SessionHost {
  readonly #consoleName: string;
  readonly #listeners: RelayEvents[] = [];
  /** Every open connection, joined or still in its handshake. */
  readonly #connections = new Set<Member>();
  /** Names in use, by their confusable skeletons, and the session that holds each (shared/names.ts). */
  readonly #names: NameBook<Member>;
  readonly #joined = new Set<Member>();
  /** Joins and leaves, announced in batches (server/presence.ts). */
  readonly presence: Presence<Member>;

  constructor(consoleName: string, options: RelayOptions = {}) {
    this.#consoleName = consoleName;
    // The console's own name is reserved like `server` and `system`: a tab must not pass for the operator.
    this.#names = new NameBook([consoleName]);
    this.presence = new Presence(() => this.#joined, options.presenceIntervalMs ?? 250, options.clock);
  }

  /**
   * Adds a listener: it hears every line, join and leave from now on. server/main.ts makes the relay first and
   * the console listens before the server takes its first connection.
   */
  listen(events: RelayEvents): void {
    this.#listeners.push(events);
  }

  get size(): number {
    return this.#connections.size;
  }

  add(session: Member): void {
    this.#connections.add(session);
  }

  /** The name for a newcomer (see NameBook.claim); a name the rules refuse ends its hello with NAME_REFUSED. */
  claimName(session: Member, requested: string): string {
    const claim = this.#names.claim(requested, session);
    if (!claim.ok) throw new WirechatError('NAME_REFUSED', claim.problem);
    return claim.name;
  }

  joined(session: Member): void {
    this.#joined.add(session);
    this.presence.joined(session, session.name);
    for (const listener of this.#listeners) listener.joined(session);
  }

  /**
   * A line a joined tab sent (`_id`: its number on that tab, which the chat log will key on): to every other tab
   * and the console. What became of it goes back to the sender's session, which sends the receipt.
   */
  line(session: Member, _id: number, text: string): LineOutcome {
    const at = Date.now();
    this.#toOthers(session, { kind: 'line', from: session.name, text, at, direct: false });
    for (const listener of this.#listeners) listener.line(session.name, text, at);
    return DELIVERED;
  }

  left(session: Member, code: number, reason: string): void {
    this.#connections.delete(session);
    this.#names.release(session);
    if (!this.#joined.delete(session)) {
      // Nobody else saw it join, but the operator should see an attack fail: a connection the server dropped
      // for a failure (a broken hello, a bad key, no handshake in time) is shown by its number. One that merely
      // went away before its hello (a tab closed while making its keys, a port scan) is not news.
      if (session.failed) for (const listener of this.#listeners) listener.left(session.label, code, reason, false);
      return;
    }
    this.presence.left(session.name, session.departure);
    for (const listener of this.#listeners) listener.left(session.name, code, reason, true);
  }

  /** A line typed at the console, to every tab. */
  say(text: string): void {
    this.#announcePending();
    const body = new EncodedBody<ServerBody>({ kind: 'line', from: this.#consoleName, text, at: Date.now(), direct: false });
    for (const session of this.#joined) session.send(body);
  }

  /** A line from the console to one tab only. Returns false when nobody has that name. */
  direct(name: string, text: string): boolean {
    const session = this.find(name);
    if (!session) return false;
    this.#announcePending();
    session.send({ kind: 'line', from: this.#consoleName, text, at: Date.now(), direct: true });
    return true;
  }

  kick(name: string): boolean {
    const session = this.find(name);
    if (!session) return false;
    session.end('KICKED', `${this.#consoleName} removed you from the chat`, 'was removed by the server operator');
    return true;
  }

  /** The joined tab `name` means, when it means exactly one (see matches). */
  find(name: string): Member | undefined {
    const found = this.matches(name);
    return found.length === 1 ? found[0] : undefined;
  }

  /** Every joined tab whose name `name` could mean: the same name, or one that looks the same (NameBook.match). */
  matches(name: string): Member[] {
    return this.#names.match(name).filter((session) => this.#joined.has(session));
  }

  names(): string[] {
    return [...this.#joined].map((session) => session.name);
  }

  participants(now: number = Date.now()): Participant[] {
    return [...this.#joined].map((s) => ({ name: s.name, code: s.code, mode: s.phase, connectedMs: now - s.connectedAt }));
  }

  /**
   * Ends the chat for everyone: joined tabs hear why in an authenticated `end`, connections still in their handshake
   * are just closed. `code` 1001 (RFC 6455's "going away": a server going down) says the server is stopping.
   */
  endAll(code: number, reason: string): void {
    // The chat is over: joins and leaves still waiting for their batch are news to nobody.
    this.presence.stop();
    const end = code === Close.GOING_AWAY ? 'SERVER_STOPPING' : 'CHAT_ENDED';
    for (const session of [...this.#connections]) {
      if (this.#joined.has(session)) session.end(end, reason);
      else session.close(code, reason, reason);
    }
  }

  /** One heartbeat for every connection: each session pings its peer, or drops it if the last ping went unanswered. */
  heartbeat(): void {
    for (const session of [...this.#connections]) session.heartbeat();
  }

  /** Joins and leaves still waiting for their batch go out first: a line never arrives before its sender's join. */
  #announcePending(): void {
    if (this.presence.pending) this.presence.flush();
  }

  /** One body to every joined tab but the sender, serialized once for all of them (each seals its own record). */
  #toOthers(sender: Member, body: ServerBody): void {
    this.#announcePending();
    const encoded = new EncodedBody(body);
    for (const session of this.#joined) if (session !== sender) session.send(encoded);
  }
}
