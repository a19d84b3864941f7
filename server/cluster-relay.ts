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
import type { History } from './history.ts';
import { randomBytes } from 'node:crypto';
import type { Broker } from './broker/broker.ts';
import type { Participant as BrokerParticipant } from './broker/messages.ts';
import type { ChatHub } from './hub.ts';
import type { LogEntry, NewEntry } from './log/log.ts';
import { Relay, type Member } from './relay.ts';
import type { LineOutcome } from './session.ts';

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

export class ClusterRelay extends Relay {
  readonly hub: ChatHub;
  readonly broker: Broker;
  readonly #consoleName: string;
  readonly #notices: ClusterNotices;
  /** Each joined (or joining) tab's participant id: its identity in the log and in Redis. */
  readonly #ids = new Map<Member, string>();
  readonly #byId = new Map<string, Member>();
  /** Participant ids this relay made: the join and leave entries whose presence it announced itself. */
  readonly #own = new Set<string>();
  readonly #gone = new WeakSet<Member>();
  /** Names other relays' tabs hold, as far as this relay knows (Redis's roster at start, then the log's joins and leaves). */
  readonly #elsewhere = new Set<string>();
  readonly #consoleId: string;
  #consoleLine = 0;

  constructor(
    consoleName: string,
    hub: ChatHub,
    broker: Broker,
    notices: ClusterNotices,
    history: History,
    presenceIntervalMs = 250,
  ) {
    // The base relay's own log stays empty here (lines go to Redis through `hub`), so it gives no resume secrets:
    // a seat pointing into it would claim a recovery that replays nothing.
    super(consoleName, { history, seats: false, presenceIntervalMs });
    this.#consoleName = consoleName;
    this.hub = hub;
    this.broker = broker;
    this.#notices = notices;
    this.#consoleId = `console:${broker.relay.id}`;
    hub.on('entry', (entry) => this.#deliver(entry));
    broker.handle('who', () => ({ participants: this.#participants() }));
    broker.handle('kick', ({ id, by }) => ({ kicked: this.#kickHere(id, by) }));
    broker.on('reaped', ({ relay, participants }) => {
      // Exactly one relay is told a dead relay was reaped: it writes the leaves, every relay shows them.
      for (const p of participants)
        void this.#append({ kind: 'leave', from: p.name, text: `was lost with its relay (${relay.label})` });
    });
    broker
      .roster()
      .then((roster) => {
        for (const { relay, participants } of roster)
          if (relay.id !== broker.relay.id) for (const p of participants) this.#elsewhere.add(p.name);
      })
      .catch(() => {});
    broker.on('lost', (participants) => {
      for (const p of participants)
        this.#byId
          .get(p.id)
          ?.end('KICKED', 'your name was taken while this relay was cut off from the others', 'lost its name');
    });
  }

  /** A name unique chat-wide: the local rules first (normalized, not reserved, not held here), then Redis. */
  override async claimName(session: Member, requested: string): Promise<string> {
    const id = randomBytes(16).toString('base64url');
    // Names other relays' tabs hold, held here by placeholders meanwhile so the next try is the next suffix.
    const placeholders: object[] = [];
    try {
      for (let attempt = 0; attempt < MAX_NAME_TRIES; attempt++) {
        const name = super.claimName(session, requested) as string;
        const result = await this.broker.join(id, name);
        if (this.#gone.has(session)) {
          // It went away meanwhile (its session will not join): let go of the claim at once.
          if (result.ok) await this.broker.leave(id, 'left').catch(() => {});
          return name;
        }
        if (result.ok) {
          this.#ids.set(session, id);
          this.#byId.set(id, session);
          this.#own.add(id);
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

  override joined(session: Member): void {
    super.joined(session);
    const id = this.#ids.get(session);
    if (id !== undefined)
      void this.#append({ kind: 'join', from: session.name, text: '', origin: { identity: `join:${id}`, lineId: 0 } });
  }

  /** Delivered once the chat's log numbered it (waiting, bounded, while Redis is away); sent from the feed. */
  override async line(session: Member, lineId: number, text: string): Promise<LineOutcome> {
    const identity = this.#ids.get(session);
    if (identity === undefined) return { status: 'failed', reason: 'not sent: not in the chat', n: 0 };
    return this.hub.append({ kind: 'line', from: session.name, text, origin: { identity, lineId } }).then(
      (appended): LineOutcome => ({ status: 'delivered', reason: '', n: appended.n }),
      (error: Error): LineOutcome => ({ status: 'failed', reason: `not sent: ${error.message}`.slice(0, 200), n: 0 }),
    );
  }

  override left(session: Member, code: number, reason: string): void {
    this.#gone.add(session);
    const id = this.#ids.get(session);
    const wasJoined = this.isJoined(session);
    super.left(session, code, reason);
    if (id === undefined) return;
    this.#ids.delete(session);
    this.#byId.delete(id);
    this.broker.leave(id, session.departure).catch((error: Error) => this.#notices.alert(`Redis: ${error.message}`));
    if (wasJoined)
      void this.#append({
        kind: 'leave',
        from: session.name,
        text: session.departure,
        origin: { identity: `leave:${id}`, lineId: 0 },
      });
  }

  /** A console line: into the log, and to every tab of every relay from there. */
  override async say(text: string): Promise<number | undefined> {
    return this.#append({
      kind: 'console',
      from: this.#consoleName,
      text,
      origin: { identity: this.#consoleId, lineId: ++this.#consoleLine },
    });
  }

  /** A console line to one participant, on this relay or another. */
  override direct(name: string, text: string): boolean {
    const session = this.find(name);
    const id = session && this.#ids.get(session);
    if (id === undefined) return false;
    this.directTo(id, text);
    return true;
  }

  directTo(id: string, text: string): void {
    void this.#append({
      kind: 'direct',
      from: this.#consoleName,
      text,
      to: id,
      origin: { identity: this.#consoleId, lineId: ++this.#consoleLine },
    });
  }

  /** Every name in the chat: this relay's tabs and, as far as it knows, the others' (completion, "nobody else is here"). */
  override names(): string[] {
    return [...super.names(), ...this.#elsewhere];
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
    session.end('KICKED', `${by} removed you from the chat`, 'was removed by the server operator');
    return true;
  }

  #append(entry: NewEntry): Promise<number | undefined> {
    return this.hub.append(entry).then(
      (appended) => appended.n,
      (error: Error) => {
        this.#notices.alert(`not sent to the chat: ${error.message}`);
        return undefined;
      },
    );
  }

  /** One entry of the chat, from whichever relay: to the tabs here that may see it, and to this console. */
  #deliver(entry: LogEntry): void {
    const identity = entry.origin?.identity;
    switch (entry.kind) {
      case 'line':
      case 'console': {
        const sender = identity === undefined ? undefined : this.#byId.get(identity);
        this.sendToMembers(
          { kind: 'line', from: entry.from, text: entry.text, at: entry.at, direct: false, n: entry.n, late: false },
          sender,
        );
        // The console prints its own lines as it sends them.
        if (identity !== this.#consoleId) this.tellLine(entry.from, entry.text, entry.at);
        return;
      }
      case 'direct': {
        const to = entry.to === undefined ? undefined : this.#byId.get(entry.to);
        if (to) {
          this.flushPresence();
          to.send({
            kind: 'line',
            from: entry.from,
            text: entry.text,
            at: entry.at,
            direct: true,
            n: entry.n,
            late: false,
          });
        }
        return;
      }
      case 'join':
      case 'leave': {
        const [kind, id] = identity?.split(/:(.*)/s) ?? [];
        if (kind === entry.kind && id !== undefined && this.#own.has(id)) return;
        if (entry.kind === 'join') this.#elsewhere.add(entry.from);
        else this.#elsewhere.delete(entry.from);
        if (entry.kind === 'join') {
          this.presence.joinedElsewhere(entry.from);
          this.#notices.notice(`${entry.from} joined on another relay`);
        } else {
          this.presence.left(entry.from, entry.text);
          this.#notices.notice(`${entry.from} ${entry.text} (on another relay)`);
        }
        return;
      }
      default: {
        const check: never = entry.kind;
        return check;
      }
    }
  }
}
