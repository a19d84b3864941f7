/**
 * The relay: one console and any number of tabs sharing one chat. It decides who receives what and names
 * everyone; each recipient's own session seals the line anew with that recipient's keys, so the relay never
 * handles a key, a token or a sequence number.
 */
import { Close, WirechatError } from '../shared/errors.ts';
import { NameBook } from '../shared/names.ts';
import type { ServerBody } from '../shared/protocol.ts';
import { EncodedBody } from '../shared/record.ts';
import { Presence, type PresenceClock } from './presence.ts';
import type { ServerSession, SessionHost } from './session.ts';

/** What the console (or a test) hears from the relay. */
export interface RelayEvents {
  line(from: string, text: string, at: number): void;
  joined(session: ServerSession): void;
  /** `tab`: `name` is a joined tab's name; false for a connection that never joined, named by its label. */
  left(name: string, reason: string, code: number, tab: boolean): void;
}

export interface Participant {
  name: string;
  code: string;
  mode: string;
  connectedMs: number;
}

export class Relay implements SessionHost {
  readonly #events: RelayEvents;
  readonly #consoleName: string;
  /** Every open connection, joined or still in its handshake. */
  readonly #connections = new Set<ServerSession>();
  /** Names in use, by their confusable skeletons, and the session that holds each (shared/names.ts). */
  readonly #names: NameBook<ServerSession>;
  readonly #joined = new Set<ServerSession>();
  /** Joins and leaves, announced in batches (server/presence.ts). */
  readonly presence: Presence<ServerSession>;

  constructor(consoleName: string, events: RelayEvents, presenceIntervalMs = 250, clock?: PresenceClock) {
    this.#consoleName = consoleName;
    this.#events = events;
    // The console's own name is reserved like `server` and `system`: a tab must not pass for the operator.
    this.#names = new NameBook([consoleName]);
    this.presence = new Presence(() => this.#joined, presenceIntervalMs, clock);
  }

  get size(): number {
    return this.#connections.size;
  }

  add(session: ServerSession): void {
    this.#connections.add(session);
  }

  /** The name for a newcomer (see NameBook.claim); a name the rules refuse ends its hello with NAME_REFUSED. */
  claimName(session: ServerSession, requested: string): string | Promise<string> {
    const claim = this.#names.claim(requested, session);
    if (!claim.ok) throw new WirechatError('NAME_REFUSED', claim.problem);
    return claim.name;
  }

  // ---- for a relay of many (server/cluster-relay.ts) ----

  /** Lets go of the name `session` was given but will not keep (another relay's tab holds it). */
  protected release(session: ServerSession): void {
    this.#names.release(session);
  }

  /** Holds `name` for something that is not a tab here (another relay's tab), so that claims here pass it by. */
  protected holdName(name: string, holder: object): void {
    this.#names.claim(name, holder as ServerSession);
  }

  protected releaseHolder(holder: object): void {
    this.#names.release(holder as ServerSession);
  }

  protected isJoined(session: ServerSession): boolean {
    return this.#joined.has(session);
  }

  /** Joins and leaves waiting for their batch go out first. */
  protected flushPresence(): void {
    this.#announcePending();
  }

  /** One body to every joined tab here but `except`, serialized once for all of them. */
  protected sendToMembers(body: ServerBody, except?: ServerSession): void {
    this.#announcePending();
    const encoded = new EncodedBody(body);
    for (const session of this.#joined) if (session !== except) void session.send(encoded);
  }

  joined(session: ServerSession): void {
    this.#joined.add(session);
    this.presence.joined(session, session.name);
    this.#events.joined(session);
  }

  line(session: ServerSession, id: number, text: string): void {
    const at = Date.now();
    this.#toOthers(session, { kind: 'line', from: session.name, text, at, direct: false });
    this.#events.line(session.name, text, at);
    void session.send({ kind: 'receipt', id, status: 'delivered', reason: '' });
  }

  left(session: ServerSession, reason: string, code: number): void {
    this.#connections.delete(session);
    this.#names.release(session);
    if (!this.#joined.delete(session)) {
      // Nobody else saw it join, but the operator should see an attack fail: a connection the server dropped
      // for a failure (a broken hello, a bad key, no handshake in time) is shown by its number. One that merely
      // went away before its hello (a tab closed while making its keys, a port scan) is not news.
      if (session.failed) this.#events.left(session.label, reason, code, false);
      return;
    }
    this.presence.left(session.name, session.departure);
    this.#events.left(session.name, reason, code, true);
  }

  /** A line typed at the console, to every tab. */
  say(text: string): void {
    this.#announcePending();
    const body = new EncodedBody<ServerBody>({ kind: 'line', from: this.#consoleName, text, at: Date.now(), direct: false });
    for (const session of this.#joined) void session.send(body);
  }

  /** A line from the console to one tab only. Returns false when nobody has that name. */
  direct(name: string, text: string): boolean {
    const session = this.find(name);
    if (!session) return false;
    this.#announcePending();
    void session.send({ kind: 'line', from: this.#consoleName, text, at: Date.now(), direct: true });
    return true;
  }

  kick(name: string): boolean {
    const session = this.find(name);
    if (!session) return false;
    session.end('KICKED', `${this.#consoleName} removed you from the chat`, 'was removed by the server operator');
    return true;
  }

  /** The joined tab `name` means, when it means exactly one (see matches). */
  find(name: string): ServerSession | undefined {
    const found = this.matches(name);
    return found.length === 1 ? found[0] : undefined;
  }

  /** Every joined tab whose name `name` could mean: the same name, or one that looks the same (NameBook.match). */
  matches(name: string): ServerSession[] {
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
  endAll(reason: string, code: number): void {
    // The chat is over: joins and leaves still waiting for their batch are news to nobody.
    this.presence.stop();
    const end = code === Close.GOING_AWAY ? 'SERVER_STOPPING' : 'CHAT_ENDED';
    for (const session of [...this.#connections]) {
      if (this.#joined.has(session)) session.end(end, reason);
      else session.close(code, reason, reason);
    }
  }

  /** Heartbeat: a peer that did not answer the last ping is dropped; the others are pinged again. */
  heartbeat(): void {
    for (const session of [...this.#connections]) {
      if (!session.alive) {
        session.terminate();
        continue;
      }
      session.alive = false;
      session.ping();
    }
  }

  /** Joins and leaves still waiting for their batch go out first: a line never arrives before its sender's join. */
  #announcePending(): void {
    if (this.presence.pending) this.presence.flush();
  }

  /** One body to every joined tab but the sender, serialized once for all of them (each seals its own record). */
  #toOthers(sender: ServerSession, body: ServerBody): void {
    this.#announcePending();
    const encoded = new EncodedBody(body);
    for (const session of this.#joined) if (session !== sender) void session.send(encoded);
  }
}
