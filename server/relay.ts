/**
 * The relay: one console and any number of tabs sharing one chat. It names everyone and decides who receives
 * what; each recipient's own session seals the line anew with that recipient's keys and sends it, so the relay
 * never handles a key, a token, a sequence number or a frame. What a tab's own session does (its wire, its
 * phases, its receipts, its heartbeat) is the session's (server/session.ts); the relay only answers its calls.
 *
 * Every line (a tab's, the console's, a `/msg`) goes into the chat log through the hub (server/hub.ts) and out
 * to the tabs only from the hub's `entry` events: a line is receipted `delivered`, and shown to anyone, only
 * once the log has it, under its chat-wide number. A tab that drops comes back with its resume secret
 * (server/resume.ts): it gets its place and the lines it missed, marked late, and the lines it sends again are
 * stored once (the log keys them on the participant identity and the tab's own line id).
 */
import { randomBytes } from 'node:crypto';
import { Close, WirechatError, type EndCode } from '../shared/errors.ts';
import { NameBook } from '../shared/names.ts';
import type { ClientResume, ServerBody, ServerLine, ServerResumed } from '../shared/protocol.ts';
import { andThen, type MaybePromise } from '../shared/maybe-promise.ts';
import { EncodedBody } from '../shared/record.ts';
import type { History } from './history.ts';
import { visibleTo, type LogEntry, type NewEntry } from './log/log.ts';
import { Presence, type PresenceClock } from './presence.ts';
import { missedWithoutResume, newParticipant, seatOrigin, seatProblem, type Seat } from './resume.ts';
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
  /** The name it has after a resume (its old one, or a new one), set before it joins. */
  seated(name: string): void;
  /** Whether the tab said goodbye (EXIT or END): its resume secret is then revoked. */
  readonly saidBye: boolean;
  /** Whether the session is over (a resume that took a while may find it gone). */
  readonly ended: boolean;
}

/** A joined tab's place in the chat: who it is across reconnects, its resume serial, the last line it was sent. */
interface Place {
  participant: string;
  serial: number;
  /** The highest line number handed to its session: fan-out sends only above it (a replay may overlap it). */
  sent: number;
}

export interface Participant {
  name: string;
  code: string;
  mode: string;
  connectedMs: number;
}

export interface RelayOptions {
  /** The chat log and resume secrets (server/history.ts): memory or SQLite; with many relays, Redis (server/cluster.ts). */
  history: History;
  /** Plain mode: no resume secret is given (it would cross the network in the clear), nobody is resumed. */
  plain?: boolean;
  /** How often joins and leaves are announced (server/presence.ts); 250 ms unless said. */
  presenceIntervalMs?: number;
  clock?: PresenceClock;
  /** Told when the log fails (a line then gets a `failed` receipt); the console shows it. */
  alert?(text: string): void;
}

/** A line that the log could not take: the sender is told, nothing was shown to anyone. */
const NOT_STORED: LineOutcome = { status: 'failed', reason: 'not sent: the server could not store it', n: 0 };

/** What the sender's receipt says of a line the log took, or could not (undefined). */
function outcomeOf(appended: { n: number } | undefined): LineOutcome {
  return appended === undefined ? NOT_STORED : { status: 'delivered', reason: '', n: appended.n };
}

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
  readonly #history: History;
  readonly #plain: boolean;
  readonly #alert: (text: string) => void;
  /** Joined tabs' places, and the tab that holds each participant identity now. */
  readonly #places = new Map<Member, Place>();
  readonly #byParticipant = new Map<string, Member>();
  /**
   * The participant identity each tab in its hello or resume will have: made before its name is claimed (a relay
   * of many claims the name in Redis under it), the seat's own when it resumes.
   */
  readonly #identities = new Map<Member, string>();
  /** Sessions closed because their participant resumed on a newer connection. */
  readonly #replaced = new WeakSet<Member>();
  /** The console's identity in the log: new at every start, so its line ids never meet an earlier run's. */
  readonly #consoleIdentity = `console:${randomBytes(12).toString('base64url')}`;
  #consoleLines = 0;

  constructor(consoleName: string, options: RelayOptions) {
    this.#consoleName = consoleName;
    // The console's own name is reserved like `server` and `system`: a tab must not pass for the operator.
    this.#names = new NameBook([consoleName]);
    this.presence = new Presence(() => this.#joined, options.presenceIntervalMs ?? 250, options.clock);
    this.#history = options.history;
    this.#plain = options.plain ?? false;
    this.#alert = options.alert ?? (() => undefined);
    // The one place lines go out: in the log's order, once each, only once stored.
    this.#history.hub.on('entry', (entry) => this.#fanOut(entry));
    this.#history.hub.on('error', (error) => this.#alert(`chat log: ${error.message}`));
  }

  /** The chat log's store, for the console: "memory", "SQLite /path". */
  get historyDescription(): string {
    return this.#history.description;
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
  claimName(session: Member, requested: string): string | Promise<string> {
    const claim = this.#names.claim(requested, session);
    if (!claim.ok) throw new WirechatError('NAME_REFUSED', claim.problem);
    return claim.name;
  }

  // ---- for a relay of many (server/cluster-relay.ts) ----

  /**
   * The participant identity `session` joins or resumes under: its seat's when it is resuming one, else a fresh
   * one, made once. A relay of many claims the name chat-wide under it, so a tab resuming on another relay takes
   * its name along (docs/cluster.md).
   */
  protected participantFor(session: Member): string {
    let participant = this.#identities.get(session);
    if (participant === undefined) {
      participant = newParticipant();
      this.#identities.set(session, participant);
    }
    return participant;
  }

  /** The serial of the seat a joined tab here holds (1 at its join, +1 at each resume). */
  protected serialOf(session: Member): number | undefined {
    return this.#places.get(session)?.serial;
  }

  /** The tab here that holds `participant`'s place now, if any. */
  protected holderOf(participant: string): Member | undefined {
    return this.#byParticipant.get(participant);
  }

  /** Whether `session` was closed because its participant resumed on a newer connection (here or elsewhere). */
  protected wasReplaced(session: Member): boolean {
    return this.#replaced.has(session);
  }

  /**
   * Closes `session` because its participant's place was resumed on a newer connection: quietly, with no `end`
   * (its tab has moved on; a tab still reading this socket would only reconnect).
   */
  protected replace(session: Member): void {
    this.#replaced.add(session);
    this.#names.release(session);
    session.close(Close.NORMAL, 'resumed on another connection', 'its place was resumed on a new connection');
  }

  /** Lets go of the name `session` was given but will not keep (another relay's tab holds it). */
  protected release(session: Member): void {
    this.#names.release(session);
  }

  /** Holds `name` for something that is not a tab here (another relay's tab), so that claims here pass it by. */
  protected holdName(name: string, holder: object): void {
    this.#names.claim(name, holder as Member);
  }

  protected releaseHolder(holder: object): void {
    this.#names.release(holder as Member);
  }

  protected isJoined(session: Member): boolean {
    return this.#joined.has(session);
  }

  /** A new participant joins: a fresh identity and, in secure mode, its first resume secret. */
  joined(session: Member): void {
    this.#seat(session, { participant: this.participantFor(session), serial: 1, sent: this.#history.hub.last });
  }

  /**
   * Gives `session` its place and joins it, in one turn of the event loop: from here on it gets every entry the
   * hub emits above `place.sent`. Sends the seat (the resume secret for next time) first.
   */
  #seat(session: Member, place: Place): void {
    this.#places.set(session, place);
    this.#byParticipant.set(place.participant, session);
    // In plain mode the seat carries no secret (it would cross in the clear): only the position, so that a tab
    // that comes back can be told how many lines it missed.
    const hub = this.#history.hub;
    const seat: Seat = {
      participant: place.participant,
      serial: place.serial,
      epoch: hub.epoch,
      issuedAfter: place.sent,
      name: session.name,
    };
    const secret = this.#plain ? '' : this.#history.seats.issue(seat);
    void session.send({ kind: 'seat', secret, epoch: hub.epoch, last: place.sent });
    this.#joined.add(session);
    this.presence.joined(session, session.name);
    for (const listener of this.#listeners) listener.joined(session);
  }

  /**
   * A line a joined tab sent (`id`: its own number for it, kept across its reconnects): into the log, keyed on
   * (participant, id), so that the same line sent again after a resume is stored once. Every other tab and the
   * console get it from the hub's `entry` event; the sender's session sends the receipt with this answer.
   */
  line(session: Member, id: number, text: string): MaybePromise<LineOutcome> {
    const place = this.#places.get(session);
    if (place === undefined) return NOT_STORED;
    const appended = this.append({
      kind: 'line',
      from: session.name,
      text,
      origin: { identity: place.participant, lineId: id },
    });
    // The memory log answers in the call (the line is stored and fanned out already): the receipt goes at once.
    return andThen(appended, outcomeOf);
  }

  /**
   * A tab came back after a drop with its resume claim (the first body of a session whose hello said `resume`).
   * A good secret gives it its participant identity and name back and replays, in order and marked late, every
   * line it missed, then joins it; anything else makes it a new participant, told plainly what could not be
   * recovered. Either way it ends with a `resumed` body and, in secure mode, a new seat.
   */
  async resume(session: Member, claim: ClientResume, asked: string): Promise<void> {
    const hub = this.#history.hub;
    const position = await hub.log.position();
    const seat = this.#plain || claim.secret === '' ? undefined : this.#history.seats.open(claim.secret);
    let refusal: ServerResumed['reason'] = this.#plain ? 'plain' : (seatProblem(seat, position) ?? '');
    if (refusal === '' && seat !== undefined) {
      // Spending the seat is an append: the log stores its origin once, so of two uses only the first is new.
      const spent = await this.append({ kind: 'join', from: seat.name, text: '', origin: seatOrigin(seat) });
      if (spent === undefined || spent.duplicate) refusal = 'unknown';
    }
    if (session.ended) return;
    if (refusal !== '' || seat === undefined) {
      // A new participant: a fresh identity, never the one a refused secret names.
      this.#identities.delete(session);
      const name = await this.claimName(session, asked);
      if (session.ended) return;
      session.seated(name);
      const gone = missedWithoutResume(claim, position);
      this.joined(session);
      void session.send({
        kind: 'resumed',
        name,
        recovered: false,
        reason: refusal === '' ? 'unknown' : refusal,
        gone,
        replayed: 0,
      });
      return;
    }
    // Its old session may still hold the name (its socket has not noticed the drop): that one is closed as it
    // is replaced, so the name is free for its owner.
    this.#identities.set(session, seat.participant);
    const previous = this.#byParticipant.get(seat.participant);
    if (previous !== undefined) this.replace(previous);
    const name = await this.claimName(session, seat.name);
    if (session.ended) return;
    session.seated(name);
    const recovery = await hub.log.recover({ epoch: claim.epoch, n: claim.last });
    // A tab claiming lines the log never had (it lost acknowledged ones) is placed at the log's last line.
    const place: Place = {
      participant: seat.participant,
      serial: seat.serial + 1,
      sent: Math.min(claim.last, recovery.position.last),
    };
    let replayed = 0;
    let entries = recovery.entries;
    // Replay, then catch up with whatever the hub emitted meanwhile, and join in the same turn as the check that
    // nothing emitted is left unread: no entry falls between the replay and the live lines, and none is sent
    // twice (fan-out sends only above `sent`).
    for (;;) {
      for (const entry of entries) {
        place.sent = Math.max(place.sent, entry.n);
        const body = this.#replayed(entry, seat.participant);
        if (body === undefined) continue;
        void session.send(body);
        replayed++;
      }
      if (place.sent >= hub.last) break;
      entries = await hub.log.readAfter(place.sent);
      if (entries.length === 0) {
        // Emitted and already out of the log (retention): nothing left to give.
        place.sent = hub.last;
        break;
      }
    }
    if (session.ended) return;
    const ahead = !recovery.recovered && recovery.reason === 'ahead';
    const gone = recovery.recovered ? 0 : recovery.gone;
    this.#seat(session, place);
    void session.send({ kind: 'resumed', name, recovered: true, reason: ahead ? 'ahead' : '', gone, replayed });
  }

  /** An entry of the log as a line replayed to `participant`, or undefined when it is not for it to see again. */
  #replayed(entry: LogEntry, participant: string): ServerLine | undefined {
    if (entry.kind === 'join' || entry.kind === 'leave') return undefined;
    // Its own lines it has (it receipts them, or sends them again and is receipted).
    if (entry.kind === 'line' && entry.origin?.identity === participant) return undefined;
    if (!visibleTo(entry, participant)) return undefined;
    return {
      kind: 'line',
      from: entry.from,
      text: entry.text,
      at: entry.at,
      direct: entry.kind === 'direct',
      n: entry.n,
      late: true,
    };
  }

  left(session: Member, code: number, reason: string): void {
    this.#connections.delete(session);
    this.#names.release(session);
    this.#identities.delete(session);
    const place = this.#places.get(session);
    this.#places.delete(session);
    if (place !== undefined && this.#byParticipant.get(place.participant) === session) {
      this.#byParticipant.delete(place.participant);
      // EXIT or END: the tab gave up its place; its secret must not bring anyone back into it.
      if (session.saidBye) void this.#revoke(session.name, place, 'left');
    }
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

  /**
   * A line typed at the console, to every tab: stored first, sent from the hub's `entry`. Resolves with its
   * number, or undefined when the log could not take it (the console has been told why).
   */
  async say(text: string): Promise<number | undefined> {
    const lineId = ++this.#consoleLines;
    const appended = await this.append({
      kind: 'console',
      from: this.#consoleName,
      text,
      origin: { identity: this.#consoleIdentity, lineId },
    });
    return appended?.n;
  }

  /** A line from the console to one tab only, kept in the log for that tab alone. False when nobody has that name. */
  direct(name: string, text: string): boolean {
    const session = this.find(name);
    const place = session === undefined ? undefined : this.#places.get(session);
    if (place === undefined) return false;
    this.directTo(place.participant, text);
    return true;
  }

  /** A line from the console to one participant (here, or with many relays on any relay), kept for it alone. */
  directTo(participant: string, text: string): void {
    const lineId = ++this.#consoleLines;
    void this.append({
      kind: 'direct',
      from: this.#consoleName,
      text,
      to: participant,
      origin: { identity: this.#consoleIdentity, lineId },
    });
  }

  kick(name: string): boolean {
    const session = this.find(name);
    if (!session) return false;
    this.expel(session, this.#consoleName);
    return true;
  }

  /** Removes a joined tab (`by`: the console that asked): its resume secret is spent before the tab hears of it. */
  protected expel(session: Member, by: string): void {
    const place = this.#places.get(session);
    if (place !== undefined) void this.#revoke(session.name, place, 'was removed by the server operator');
    session.end('KICKED', `${by} removed you from the chat`, 'was removed by the server operator');
  }

  /** The last `count` lines of the log, oldest first, for the console's /history. */
  async recent(count: number): Promise<LogEntry[]> {
    const log = this.#history.hub.log;
    const { first, last } = await log.position();
    const lines: LogEntry[] = [];
    // Seats spent and given up are entries too: read back until `count` lines are found or the log is done.
    for (let before = last; before >= first && lines.length < count;) {
      const after = Math.max(first - 1, before - Math.max(count * 2, 50));
      const page = (await log.readAfter(after, before - after)).filter((e) => e.kind !== 'join' && e.kind !== 'leave');
      lines.unshift(...page.slice(-(count - lines.length)));
      before = after;
    }
    return lines;
  }

  /** How much the log holds now, for the console at start. */
  async held(): Promise<{ lines: number; first: number; last: number; epoch: string }> {
    const { first, last, epoch } = await this.#history.hub.log.position();
    return { lines: Math.max(0, last - first + 1), first, last, epoch };
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
    return [...this.#joined].map((s) => ({
      name: s.name,
      code: s.code,
      mode: s.phase,
      connectedMs: now - s.connectedAt,
    }));
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

  /**
   * Appends through the hub; undefined (and the console told) when the log fails. A value where the log stores in
   * the call (memory), a promise otherwise.
   */
  protected append(entry: NewEntry): MaybePromise<{ n: number; duplicate: boolean } | undefined> {
    let appended: MaybePromise<{ n: number; duplicate: boolean }>;
    try {
      appended = this.#history.hub.append(entry);
    } catch (error) {
      return this.#logFailed(error);
    }
    return appended instanceof Promise ? appended.catch((error: unknown) => this.#logFailed(error)) : appended;
  }

  #logFailed(error: unknown): undefined {
    this.#alert(`chat log: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }

  /** Spends the seat `place` holds now, so its secret resumes nobody. */
  async #revoke(name: string, place: Place, why: string): Promise<void> {
    await this.append({ kind: 'leave', from: name, text: why, origin: seatOrigin(place) });
  }

  /**
   * One entry of the chat, as the hub emits it (in number order, once, only once stored): to every joined tab it
   * is for, serialized once for all of them (each session seals its own record), never back to its sender, never
   * twice to a tab that had it in its replay. The console hears tabs' lines.
   */
  #fanOut(entry: LogEntry): void {
    if (entry.kind === 'join' || entry.kind === 'leave') return;
    this.#announcePending();
    const direct = entry.kind === 'direct';
    const encoded = new EncodedBody<ServerBody>({
      kind: 'line',
      from: entry.from,
      text: entry.text,
      at: entry.at,
      direct,
      n: entry.n,
      late: false,
    });
    const sender = entry.kind === 'line' ? entry.origin?.identity : undefined;
    for (const session of this.#joined) {
      const place = this.#places.get(session);
      if (place === undefined || place.sent >= entry.n) continue;
      place.sent = entry.n;
      if (place.participant === sender) continue;
      if (direct && entry.to !== place.participant) continue;
      void session.send(encoded);
    }
    // The console prints its own lines as it types them; with many relays, the other relays' consoles' come here.
    const fromThisConsole = entry.kind === 'console' && entry.origin?.identity === this.#consoleIdentity;
    if (entry.kind === 'line' || (entry.kind === 'console' && !fromThisConsole))
      for (const listener of this.#listeners) listener.line(entry.from, entry.text, entry.at);
  }
}
