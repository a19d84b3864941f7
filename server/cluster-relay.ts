/**
 * A relay that is one of many relays of a chat (docs/cluster.md). It serves its own tabs as the Relay does, and
 * differs in what crosses relays:
 *
 * - **Lines**: a tab's line, a console line and a `/msg` go to the hub (the broker: the chat's log in Redis) and
 *   are fanned out only from the hub's `entry`, which every relay gets for every line in one chat-wide order,
 *   its own included. The sender's receipt waits for the log's number: delivered means in the log.
 * - **Names**: claimed chat-wide (`broker.join`); a name another relay's tab holds gives `NAME-2` here, as a
 *   local one would.
 * - **Joins and leaves** are entries of the log too: the other relays announce them to their tabs in their
 *   place among the lines. This relay announces its own tabs' at once (as a single relay does) and skips
 *   their entries. A relay found dead: the one relay that reaped it writes its participants' leaves.
 * - **Requests**: `/who` (every relay's participants), `/kick` (a participant wherever it is) are answered here
 *   for this relay's tabs.
 */
import { Close, WirechatError } from '../shared/errors.ts';
import type { ClientResume } from '../shared/protocol.ts';
import type { Broker } from './broker/broker.ts';
import { isBrokerError, isTransient } from './broker/errors.ts';
import type { BrokerHub } from './broker/hub.ts';
import type { Participant as BrokerParticipant } from './broker/messages.ts';
import { leaveOrigin, originParts, Sessions } from './cluster-sessions.ts';
import type { History } from './history.ts';
import type { LogEntry, NewEntry, Origin } from './log/log.ts';
import { Relay, type Member } from './relay.ts';

/** What the console hears of other relays' tabs, and of lines the hub refused. */
export interface ClusterNotices {
  notice(text: string): void;
  alert(text: string): void;
}

/** Someone a console command names, wherever they are. */
export interface Found {
  name: string;
  id: string;
  relay: string;
  /** Served by this relay: `session` is theirs. */
  here: boolean;
}

/** How often a name is tried with the next suffix when other relays hold the ones before. */
const MAX_NAME_TRIES = 16;

/** What a tab is told when this relay cannot reach Redis to give it a name or its place (close 1013). */
const CUT_OFF = 'this relay cannot reach Redis just now; try again shortly';

/** The key of an origin in the set of join and leave entries this relay appended itself. */
function originKey(origin: Origin): string {
  return `${origin.lineId} ${origin.identity}`;
}

export class ClusterRelay extends Relay {
  readonly hub: BrokerHub;
  readonly broker: Broker;
  readonly #consoleName: string;
  readonly #notices: ClusterNotices;
  /** Each joined (or joining) tab's participant id, as claimed in Redis: its resume identity (Relay). */
  readonly #ids = new Map<Member, string>();
  readonly #byId = new Map<string, Member>();
  /** Join and leave entries this relay appended and announced itself: skipped when the feed brings them back. */
  readonly #mine = new Set<string>();
  /** Sessions closed because their participant resumed on another relay: their leave is not the chat's news. */
  readonly #moved = new WeakSet<Member>();
  readonly #gone = new WeakSet<Member>();
  /** Names other relays' tabs hold, as far as this relay knows (Redis's roster at start, then the log's joins and leaves). */
  readonly #elsewhere = new Set<string>();
  /** Each participant's newest session as the log says: whether a leave entry is news (server/cluster-sessions.ts). */
  readonly #sessions = new Sessions();

  /**
   * `history`: the broker's hub (the chat's log in Redis) and a seat keeper under the chat key every relay of the
   * chat holds (server/cluster.ts), so that a seat given here opens on any relay of the chat and nowhere else.
   */
  constructor(
    consoleName: string,
    history: History & { hub: BrokerHub },
    notices: ClusterNotices,
    presenceIntervalMs = 250,
  ) {
    super(consoleName, {
      history,
      presenceIntervalMs,
      alert: (text) => notices.alert(text),
    });
    this.hub = history.hub;
    this.broker = history.hub.broker;
    this.#consoleName = consoleName;
    this.#notices = notices;
    const broker = this.broker;
    this.hub.on('entry', (entry) => this.#deliver(entry));
    broker.handle('who', () => ({ participants: this.#participants() }));
    broker.handle('kick', ({ id, by }) => ({ kicked: this.#kickHere(id, by) }));
    broker.on('reaped', ({ relay, participants }) => {
      // Exactly one relay is told a dead relay was reaped: it writes the leaves, every relay shows them. Not in
      // #mine: this relay announces them from the feed like every other. Each ends the session the log says is the
      // participant's newest, so the dead relay's own leave of it, if it ever writes one, is the same entry.
      for (const p of participants)
        this.hub
          .append({
            kind: 'leave',
            from: p.name,
            text: `was lost with its relay (${relay.label})`,
            origin: leaveOrigin(p.id, this.#sessions.serial(p.id)),
          })
          .catch((error: Error) => notices.alert(`not sent to the chat: ${error.message}`));
    });
    broker
      .roster()
      .then((roster) => {
        for (const { relay, participants } of roster)
          if (relay.id !== broker.relay.id) for (const p of participants) this.#elsewhere.add(p.name);
      })
      .catch(() => {});
    broker.on('lost', (participants) => {
      // Another participant took the name while this relay was cut off from the others. The tab is closed as
      // "try again later", not kicked: it comes back, resumes its place under the name it can have now, and gets
      // what it missed. (A participant that moved to another relay is not lost: 'moved', below.)
      for (const p of participants)
        this.#byId
          .get(p.id)
          ?.close(
            Close.TRY_AGAIN_LATER,
            'your name was taken while this relay was cut off; reconnect',
            'lost its name',
          );
    });
    // Resumed on another relay, as this relay's heartbeat found before the seat's entry came by the feed: the
    // connection here is a tab that has moved on, closed quietly as the feed's entry would (#deliver).
    broker.on('moved', (participants) => {
      for (const p of participants) {
        const stale = this.#byId.get(p.id);
        if (stale !== undefined) this.#movedOn(stale);
      }
    });
  }

  /**
   * A name unique chat-wide: the local rules first (normalized, not reserved, not held here), then Redis, under
   * the tab's participant identity (a resuming tab's own, so its name comes along from another relay).
   */
  override async claimName(session: Member, requested: string): Promise<string> {
    const id = this.participantFor(session);
    // Names other relays' tabs hold, held here by placeholders meanwhile so the next try is the next suffix.
    const placeholders: object[] = [];
    try {
      for (let attempt = 0; attempt < MAX_NAME_TRIES; attempt++) {
        const name = super.claimName(session, requested) as string;
        let result;
        try {
          result = await this.broker.join(id, name);
        } catch (error) {
          super.release(session);
          // Uniqueness cannot be checked while Redis is away: the page is asked to come back (1013), never
          // failed as if the server were broken.
          if (isBrokerError(error, 'DOWN') || isBrokerError(error, 'CLOSED') || isTransient(error))
            throw new WirechatError('CHAT_UNAVAILABLE', CUT_OFF, { cause: error });
          throw error;
        }
        if (this.#gone.has(session)) {
          // It went away meanwhile (its session will not join): let go of the claim at once, unless a newer
          // connection of the same participant holds it.
          if (result.ok && this.#byId.get(id) === undefined) await this.broker.leave(id, 'left').catch(() => {});
          return name;
        }
        if (result.ok) {
          this.#ids.set(session, id);
          this.#byId.set(id, session);
          return name;
        }
        // Taken elsewhere: hold it here under a placeholder, and let the name book give the next one.
        super.release(session);
        const holder = {};
        placeholders.push(holder);
        this.holdName(name, holder);
      }
      throw new Error(`no free name near "${requested}" in the chat`);
    } finally {
      for (const holder of placeholders) this.releaseHolder(holder);
    }
  }

  /**
   * A tab resuming here, whichever relay it joined on: the seat opens on every relay of the chat (one chat key),
   * spending it is an append to the one log (single use chat-wide), and its name moves here with its participant
   * identity. While Redis is away its place cannot be found: it is told to come back (1013), its seat unspent.
   */
  override async resume(session: Member, claim: ClientResume, asked: string): Promise<void> {
    if (!this.broker.up) return this.#tryLater(session);
    try {
      await super.resume(session, claim, asked);
    } catch (error) {
      if (
        (error instanceof WirechatError && error.code === 'CHAT_UNAVAILABLE') ||
        isBrokerError(error, 'DOWN') ||
        isTransient(error)
      )
        return this.#tryLater(session);
      throw error;
    }
  }

  override joined(session: Member): void {
    super.joined(session);
    const id = this.#ids.get(session);
    if (id !== undefined)
      void this.append({ kind: 'join', from: session.name, text: '', origin: { identity: `join:${id}`, lineId: 0 } });
  }

  override left(session: Member, code: number, reason: string): void {
    this.#gone.add(session);
    const id = this.#ids.get(session);
    const wasJoined = this.isJoined(session);
    const serial = this.serialOf(session) ?? 0;
    super.left(session, code, reason);
    if (id === undefined) return;
    this.#ids.delete(session);
    // A newer connection of the same participant holds the id now (it resumed here): its claim stays.
    if (this.#byId.get(id) !== session) return;
    this.#byId.delete(id);
    const moved = this.#moved.has(session);
    // Replaced by a resume on this relay: the new session's claim in Redis is the same participant's, and the
    // seat it spent is in the log; nothing to let go, no leave to write.
    if (this.wasReplaced(session) && !moved) return;
    // Moved to another relay: its resume there is in the log already; a leave after it would say it is gone. So is
    // one whose connection here this relay heard drop only after it resumed elsewhere (this relay was stopped, say):
    // letting go of its name finds another relay holding it, and no leave is written.
    const leaving = this.broker.leave(id, session.departure).catch((error: Error) => {
      this.#notices.alert(`Redis: ${error.message}`);
      return true;
    });
    if (wasJoined && !moved)
      void leaving.then((left) => {
        if (left)
          void this.append({
            kind: 'leave',
            from: session.name,
            text: session.departure,
            // The session it ends: a relay that knows of a later one (a resume) or of its end already skips it.
            origin: leaveOrigin(id, serial),
          });
      });
  }

  /** Every name in the chat: this relay's tabs and, as far as it knows, the others' (completion, "nobody else is here"). */
  override names(): string[] {
    return [...super.names(), ...this.#elsewhere];
  }

  /** Join and leave entries appended here are announced here at once; the feed's copy of them is skipped. */
  protected override async append(entry: NewEntry): Promise<{ n: number; duplicate: boolean } | undefined> {
    const key = (entry.kind === 'join' || entry.kind === 'leave') && entry.origin ? originKey(entry.origin) : undefined;
    if (key !== undefined) this.#mine.add(key);
    const appended = await super.append(entry);
    // Stored before (a seat used twice, a retry): the feed does not bring it again.
    if (key !== undefined && (appended === undefined || appended.duplicate)) this.#mine.delete(key);
    return appended;
  }

  /** Closes `stale`, whose participant resumed on another relay: quietly, and no leave of its is written. */
  #movedOn(stale: Member): void {
    this.#moved.add(stale);
    this.replace(stale);
  }

  #tryLater(session: Member): void {
    session.close(Close.TRY_AGAIN_LATER, `CHAT_UNAVAILABLE: ${CUT_OFF}`, `not resumed: ${CUT_OFF}`);
  }

  /** Who a console command's name means: a tab here, else one on another relay (or null). */
  async lookup(name: string): Promise<Found | null> {
    const session = this.find(name);
    const id = session && this.#ids.get(session);
    if (session && id !== undefined) return { name: session.name, id, relay: this.broker.relay.id, here: true };
    const found = await this.broker.find(name);
    if (found === null) return null;
    return { name: found.name, id: found.id, relay: found.relay, here: found.relay === this.broker.relay.id };
  }

  /** Ends participant `found`'s session wherever it is; resolves with whether it was found there. */
  async kickAnywhere(found: Found): Promise<boolean> {
    if (found.here) return this.#kickHere(found.id, this.#consoleName);
    const result = await this.broker.request(
      'kick',
      { id: found.id, by: this.#consoleName, reason: '' },
      { to: [found.relay] },
    );
    return result.answers.some((a) => a.answer.kicked);
  }

  /** Every relay's participants, by relay label; the relays that did not answer. */
  async who(): Promise<{ relays: Array<{ label: string; here: boolean; names: string[] }>; missing: string[] }> {
    const [result, roster] = await Promise.all([this.broker.request('who', {}), this.broker.roster()]);
    const labels = new Map(roster.map((r) => [r.relay.id, r.relay.label]));
    labels.set(this.broker.relay.id, this.broker.relay.label);
    return {
      relays: result.answers.map((a) => ({
        label: labels.get(a.relay) ?? a.relay,
        here: a.relay === this.broker.relay.id,
        names: a.answer.participants.map((p) => p.name),
      })),
      missing: [...result.missing, ...result.failed.map((f) => f.relay)].map((id) => labels.get(id) ?? id),
    };
  }

  #participants(): BrokerParticipant[] {
    return [...this.#ids]
      .map(([session, id]) => ({ id, name: session.name, relay: this.broker.relay.id }))
      .filter((p) => this.#byId.has(p.id));
  }

  #kickHere(id: string, by: string): boolean {
    const session = this.#byId.get(id);
    if (session === undefined) return false;
    // As on one relay: its seat is spent first, so the kicked tab cannot resume anywhere.
    this.expel(session, by);
    return true;
  }

  /**
   * One entry of the chat, from whichever relay, for what only a relay of many does with it (the base relay has
   * sent its lines to the tabs here already): joins and leaves of other relays' tabs, announced here; and a seat
   * spent elsewhere, which closes this relay's stale connection of that participant.
   */
  #deliver(entry: LogEntry): void {
    if (entry.kind !== 'join' && entry.kind !== 'leave') return;
    // Read before anything is skipped: this relay's own entries tell it of its participants' sessions too.
    const news = this.#sessions.read(entry);
    const origin = entry.origin;
    if (origin !== undefined && this.#mine.delete(originKey(origin))) return;
    const { kind, id } = originParts(origin) ?? {};
    if (kind === 'seat' && entry.kind === 'leave') return; // a seat given up (EXIT, kick): its leave comes too
    if (kind === 'seat' && id !== undefined) {
      // Resumed on another relay: a connection here of the same participant is a tab that has moved on.
      // Only one that holds an older seat than the one spent: a newer one is this tab resumed here since.
      const stale = this.holderOf(id);
      if (stale !== undefined && (this.serialOf(stale) ?? Infinity) <= origin!.lineId) this.#movedOn(stale);
    }
    if (!news) return;
    if (entry.kind === 'join') {
      this.#elsewhere.add(entry.from);
      this.presence.joinedElsewhere(entry.from);
      this.#notices.notice(`${entry.from} ${kind === 'seat' ? 'came back' : 'joined'} on another relay`);
    } else {
      this.#elsewhere.delete(entry.from);
      this.presence.left(entry.from, entry.text);
      this.#notices.notice(`${entry.from} ${entry.text} (on another relay)`);
    }
  }
}
