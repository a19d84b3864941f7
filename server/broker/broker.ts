/**
 * What relays of one chat exchange over Redis, in one object a relay holds: the chat's lines in one order (the
 * log's stream, read by the feed), presence (heartbeat, name claims, dead relays reaped), ephemeral events
 * (pub/sub) and requests across relays, every payload sealed under the chat key. The relay's own code is not
 * here: the broker knows participants by id and name, and lines as log entries; docs/cluster.md says how a
 * relay is meant to use it.
 *
 * When Redis is lost, the broker says so (`down`), keeps what this relay must get into Redis in a bounded queue
 * (server/broker/outbox.ts), and when Redis is back (`up`) sends it in order, nothing doubled, writes its
 * participants back if its heartbeat expired meanwhile, and reads the lines on from where it was.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { checkEntry, type Appended, type ChatLog, type NewEntry, type Since } from '../log/log.ts';
import type { RedisStore } from '../log/redis.ts';
import type { RedisConnection, RedisLink } from './connection.ts';
import { BrokerError, isTransient, reasonOf } from './errors.ts';
import { Feed, type FeedEvents, type FeedOptions } from './feed.ts';
import type { ChatKeys } from './keys.ts';
import {
  parseEnvelope,
  type Body,
  type ChatEvent,
  type Envelope,
  type Participant,
  type RelayInfo,
  type RequestKind,
  type Requests,
} from './messages.ts';
import { Outbox } from './outbox.ts';
import { DEFAULT_TIMING, Presence, type JoinResult, type PresenceTiming, type Reaped } from './presence.ts';
import { DEFAULT_REQUEST_TIMEOUT_MS, RequestHub, type Handler, type RequestResult } from './requests.ts';
import { createBrokerSealer, type BrokerSealer } from './seal.ts';

export interface BrokerOptions {
  /** The relay's connection to Redis; the broker opens two more clients on it (the feed's, the subscriber's). */
  connection: RedisConnection;
  /** The chat's log store in that Redis, and the chat log over it (server/log/sealed.ts createChatLog). */
  store: RedisStore;
  log: ChatLog;
  /** The chat key (32 bytes, server/log/chat-key.ts); zeroed once imported: give a copy. */
  chatKey: Uint8Array;
  /** What a person calls this relay in /who: its host and port, say. */
  label: string;
  timing?: PresenceTiming;
  /** The most lines and messages kept while Redis is away; 1,000 by default. */
  maxQueued?: number;
  /** How old a published message may be when it arrives; 60 s by default. */
  maxMessageAgeS?: number;
  feed?: FeedOptions;
}

export interface BrokerEvents extends FeedEvents {
  /** Another relay's event: someone joined or left there, a relay was lost, the chat ends. */
  event: [ChatEvent, { from: string }];
  /** This relay found another dead and took it out (once chat-wide): write its participants' leaves to the log. */
  reaped: [Reaped];
  /** Participants of this relay who lost their name meanwhile (another took it while this relay was away). */
  lost: [Participant[]];
  /**
   * Participants of this relay who moved to another relay (they resumed there), as its heartbeat found: this relay
   * may learn it so before the seat's entry comes by the feed. Emitted after `lost` of the same beat.
   */
  moved: [Participant[]];
  /** This relay's heartbeat had expired (cut off too long, or Redis restarted empty): its participants were written back. */
  rejoined: [Participant[]];
  /** Redis was lost: the console should say so. The broker reconnects by itself. */
  down: [BrokerError];
  /** Redis is back after `awayMs`; `queued` lines and messages are being sent. */
  up: [{ awayMs: number; queued: number }];
}

/** How many message ids a broker remembers to drop a message published twice. */
const SEEN_IDS = 4_096;
const FOREIGN_REPORT_MS = 10_000;

export class Broker extends EventEmitter<BrokerEvents> {
  readonly relay: RelayInfo;
  readonly keys: ChatKeys;
  readonly presence: Presence;
  readonly #connection: RedisConnection;
  readonly #log: ChatLog;
  readonly #sealer: BrokerSealer;
  readonly #outbox: Outbox;
  readonly #hub: RequestHub;
  readonly #feed: Feed;
  readonly #feedLink: RedisLink;
  readonly #subLink: RedisLink;
  readonly #maxAgeS: number;
  readonly #seen = new Set<string>();
  /** Participants whose name Redis could not let go of (it was away): let go at the next tick, then answered. */
  readonly #leaving = new Map<
    string,
    { participant: Participant | undefined; reason: string; answer: Array<(left: boolean) => void> }
  >();
  #timer: NodeJS.Timeout | null = null;
  #ticking: Promise<void> | null = null;
  #lineId = 0;
  #foreignAt = 0;
  #closed = false;

  private constructor(options: BrokerOptions, sealer: BrokerSealer, feedLink: RedisLink, subLink: RedisLink) {
    super();
    this.#connection = options.connection;
    this.#log = options.log;
    this.#sealer = sealer;
    this.keys = options.store.keys;
    this.#maxAgeS = options.maxMessageAgeS ?? 60;
    this.relay = { id: randomBytes(12).toString('base64url'), label: options.label };
    this.presence = new Presence(
      options.connection.client,
      this.keys,
      sealer,
      this.relay,
      options.timing ?? DEFAULT_TIMING,
    );
    this.#feedLink = feedLink;
    this.#subLink = subLink;
    this.#outbox = new Outbox(
      {
        append: (entries) => this.#log.appendMany(entries),
        publish: async (channel, message) => {
          await this.#connection.client.sendCommand(['PUBLISH', channel, await this.#sealer.seal(message)]);
        },
      },
      options.connection,
      options.maxQueued ?? 1_000,
    );
    this.#hub = new RequestHub(this.relay.id, (to, body) => this.#publishNow(to, body));
    this.#feed = new Feed(feedLink, options.connection, options.log, options.store, options.feed);
    for (const name of ['entry', 'epoch', 'gap', 'rewound'] as const) {
      this.#feed.on(name, (...args: unknown[]) =>
        (this.emit as (event: string, ...a: unknown[]) => boolean)(name, ...args),
      );
    }
    this.#feed.on('error', (error) => this.#report(error));
    options.connection.on('down', this.#onDown);
    options.connection.on('up', this.#onUp);
  }

  /**
   * Joins the chat in `options.store`'s Redis: subscribes to the chat's channels, beats once (so this relay is
   * listed before it returns) and keeps beating. The feed starts with `startFeed`.
   */
  static async create(options: BrokerOptions): Promise<Broker> {
    if (typeof options.label !== 'string' || options.label.length > 256)
      throw new RangeError('a relay label is a string of at most 256 characters');
    const sealer = await createBrokerSealer(options.chatKey);
    const feedLink = await options.connection.open('feed');
    let subLink: RedisLink;
    try {
      subLink = await options.connection.open('sub');
    } catch (error) {
      await feedLink.close();
      throw error;
    }
    const broker = new Broker(options, sealer, feedLink, subLink);
    try {
      await subLink.client.subscribe(
        [broker.keys.events, broker.keys.inbox(broker.relay.id)],
        (message: string, channel: string) => {
          broker.#onMessage(message, channel).catch((error: unknown) => broker.#report(error));
        },
      );
      await broker.presence.beat();
      broker.#timer = setInterval(() => void broker.#tick(), broker.presence.timing.heartbeatMs);
    } catch (error) {
      await broker.close();
      throw broker.#wrap(error, 'cannot join the chat in Redis');
    }
    return broker;
  }

  get up(): boolean {
    return this.#connection.up;
  }

  /** Lines and messages waiting for Redis. */
  get queued(): number {
    return this.#outbox.size;
  }

  // ---- lines ------------------------------------------------------------------------------------------------

  /**
   * Appends an entry to the chat's log, chat-wide numbered; resolves once Redis has it. While Redis is away it
   * waits in the queue (rejects with QUEUE_FULL when that is full). An entry without an origin (a join, a leave)
   * gets one of this relay's, so that a retried append of it is recognized too. Every relay, this one included,
   * receives the line from the feed (`entry`), in chat order.
   */
  async append(entry: NewEntry): Promise<Appended> {
    const [appended] = await this.appendMany([entry]);
    return appended!;
  }

  appendMany(entries: readonly NewEntry[]): Promise<Appended[]> {
    if (this.#closed) return Promise.reject(new BrokerError('CLOSED', 'the broker is closed'));
    let ready: NewEntry[];
    try {
      ready = entries.map((entry) =>
        checkEntry(
          entry.origin ? entry : { ...entry, origin: { identity: `relay:${this.relay.id}`, lineId: ++this.#lineId } },
        ),
      );
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#outbox.append(ready);
  }

  /** Starts delivering lines (`entry`) after `after`; by default from the log's newest line on. */
  startFeed(after?: Since): Promise<void> {
    return this.#feed.start(after);
  }

  /** Every line of this epoch up to `n` has been delivered. */
  get delivered(): Since {
    return this.#feed.position;
  }

  // ---- presence -----------------------------------------------------------------------------------------------

  /**
   * Claims `name` chat-wide for participant `id` (its resume identity) on this relay, and tells the other relays.
   * Refused (`ok: false`) when someone holds that name or one confusable with it; rejects with DOWN while Redis
   * is away (uniqueness cannot be checked then).
   */
  async join(id: string, name: string): Promise<JoinResult> {
    // A leave of the same participant that Redis has not taken yet (it was away) is not retried while it joins
    // again here: the retry would let go of the claim this makes. Joined, it did not leave; refused, it still does.
    const pending = this.#leaving.get(id);
    this.#leaving.delete(id);
    let result: JoinResult;
    try {
      result = await this.presence.join(id, name);
      if (!result.ok && result.reason === 'gone') {
        await this.#beat();
        result = await this.presence.join(id, name);
      }
    } catch (error) {
      if (pending) this.#leaving.set(id, pending);
      throw this.#wrap(error, `cannot claim the name ${JSON.stringify(name)} chat-wide`);
    }
    if (!result.ok) {
      if (pending) this.#leaving.set(id, pending);
      return result;
    }
    for (const resolve of pending?.answer ?? []) resolve(false);
    this.#announce({ type: 'presence', change: 'join', participant: { id, name, relay: this.relay.id }, reason: '' });
    return result;
  }

  /**
   * Lets go of participant `id`'s name and tells the other relays; while Redis is away, done (and answered) once it
   * is back. False when it had resumed on another relay, which holds its name now: it did not leave, and nobody is
   * told it did.
   */
  async leave(id: string, reason: string): Promise<boolean> {
    const participant = this.presence.participants.find((p) => p.id === id);
    try {
      if ((await this.presence.leave(id)) === 'moved') return false;
    } catch (error) {
      if (!isTransient(error)) throw this.#wrap(error, 'cannot let go of a name');
      // Whether it moved (resumed on another relay) only Redis can tell: answered once it is back (#tick).
      return new Promise((resolve) => {
        const pending = this.#leaving.get(id) ?? { participant, reason, answer: [] };
        pending.answer.push(resolve);
        this.#leaving.set(id, pending);
      });
    }
    if (participant) this.#announce({ type: 'presence', change: 'leave', participant, reason });
    return true;
  }

  /** Who holds `name` (or one confusable with it) on a live relay, or null. */
  async find(name: string): Promise<Participant | null> {
    try {
      return await this.presence.find(name);
    } catch (error) {
      throw this.#wrap(error, 'cannot look up a name');
    }
  }

  /** Every live relay and its participants, from Redis. */
  async roster(): Promise<Array<{ relay: RelayInfo; participants: Participant[] }>> {
    try {
      return await this.presence.roster();
    } catch (error) {
      throw this.#wrap(error, 'cannot list the relays');
    }
  }

  // ---- events and requests ------------------------------------------------------------------------------------

  /** Tells every other relay; kept in the queue while Redis is away. */
  publish(event: ChatEvent): Promise<void> {
    if (this.#closed) return Promise.reject(new BrokerError('CLOSED', 'the broker is closed'));
    return this.#outbox.publish(this.keys.events, this.#envelope('all', { t: 'event', event }));
  }

  handle<K extends RequestKind>(kind: K, handler: Handler<K>): void {
    this.#hub.handle(kind, handler);
  }

  /**
   * Asks `to` (by default every live relay, this one included) and resolves with the answers that came within
   * `timeoutMs`, the relays that failed and those that did not answer. Rejects with DOWN when Redis is away.
   */
  async request<K extends RequestKind>(
    kind: K,
    body: Requests[K]['body'],
    options: { to?: readonly string[]; timeoutMs?: number } = {},
  ): Promise<RequestResult<K>> {
    if (this.#closed) throw new BrokerError('CLOSED', 'the broker is closed');
    let relays = options.to;
    if (relays === undefined) {
      try {
        relays = await this.presence.relays();
      } catch (error) {
        throw this.#wrap(error, 'cannot ask the other relays');
      }
      if (!relays.includes(this.relay.id)) relays = [this.relay.id, ...relays];
    }
    return this.#hub.request(kind, body, relays, options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  }

  /**
   * Leaves the chat: what is queued goes out first (for at most `drainMs`), then this relay's names, participants
   * and heartbeat are taken out of Redis and its clients closed. The connection stays open (its owner closes it).
   */
  async close(drainMs = 2_000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#connection.off('down', this.#onDown);
    this.#connection.off('up', this.#onUp);
    this.#hub.close();
    // The others take this relay's participants as gone now, as they would for a relay that died.
    const participants = this.presence.participants;
    if (participants.length > 0)
      this.#outbox
        .publish(
          this.keys.events,
          this.#envelope('all', { t: 'event', event: { type: 'relay-lost', relay: this.relay, participants } }),
        )
        .catch(() => {});
    await this.#outbox.close(drainMs);
    await this.#ticking;
    // Leaves Redis never took: stopping lets go of every name here (STOP), and the others take them as gone.
    for (const { answer } of this.#leaving.values()) for (const resolve of answer) resolve(true);
    this.#leaving.clear();
    if (this.#connection.up) await this.presence.stop().catch(() => {});
    const feedStopped = this.#feed.stop();
    await Promise.all([this.#feedLink.close(false), this.#subLink.close()]);
    await feedStopped;
  }

  // ---- inside ---------------------------------------------------------------------------------------------------

  readonly #onDown = (error: BrokerError): void => {
    this.emit('down', error);
  };

  readonly #onUp = ({ awayMs }: { awayMs: number }): void => {
    this.emit('up', { awayMs, queued: this.#outbox.size });
    void this.#tick();
  };

  #envelope(to: string, body: Body): Envelope {
    return { v: 1, chat: this.keys.chat, to, from: this.relay.id, id: randomBytes(12).toString('base64url'), body };
  }

  async #publishNow(to: string, body: Body): Promise<void> {
    const token = await this.#sealer.seal(this.#envelope(to, body));
    await this.#connection.client.sendCommand(['PUBLISH', this.keys.inbox(to), token]);
  }

  /** Presence is told through the queue; a failure there is the queue's (QUEUE_FULL, CLOSED), shown as an error. */
  #announce(event: ChatEvent): void {
    this.publish(event).catch((error: unknown) => this.#report(error));
  }

  async #onMessage(token: string, channel: string): Promise<void> {
    const to = channel === this.keys.events ? 'all' : this.relay.id;
    let envelope;
    try {
      envelope = parseEnvelope(await this.#sealer.open(token, this.#maxAgeS), { chat: this.keys.chat, to });
    } catch (error) {
      this.#foreign(channel, error);
      return;
    }
    if (envelope.from === this.relay.id || this.#seen.has(envelope.id)) return;
    this.#seen.add(envelope.id);
    if (this.#seen.size > SEEN_IDS) this.#seen.delete(this.#seen.values().next().value!);
    const { body, from } = envelope;
    switch (body.t) {
      case 'event':
        // Another relay took this one for dead (it was cut off): the next beat writes its participants back.
        if (body.event.type === 'relay-lost' && body.event.relay.id === this.relay.id) return;
        this.emit('event', body.event, { from });
        return;
      case 'request':
        await this.#hub.onRequest(from, body.rid, body.kind, body.body);
        return;
      case 'response':
        this.#hub.onResponse(from, body.rid, body as { ok: true; answer: unknown } | { ok: false; error: string });
        return;
      default: {
        const check: never = body;
        return check;
      }
    }
  }

  /** An error a person should see, if anyone listens; a listener that throws never takes the relay down from here. */
  #report(error: unknown): void {
    if (this.#closed || this.listenerCount('error') === 0) return;
    try {
      this.emit('error', error instanceof Error ? error : new Error(String(error)));
    } catch {
      // the listener's own failure is its own
    }
  }

  #foreign(channel: string, error: unknown): void {
    const now = Date.now();
    if (now - this.#foreignAt < FOREIGN_REPORT_MS) return;
    this.#foreignAt = now;
    this.#report(
      new BrokerError(
        'FOREIGN',
        `a message on ${channel} was refused (${reasonOf(error)}): does every relay of chat ${this.keys.chat} hold the same chat key, and their clocks agree within a minute?`,
        { cause: error },
      ),
    );
  }

  /** One beat and one sweep, never two at once. */
  #tick(): Promise<void> {
    if (this.#ticking || this.#closed || !this.#connection.up) return this.#ticking ?? Promise.resolve();
    this.#ticking = (async () => {
      try {
        await this.#beat();
        for (const [id, pending] of [...this.#leaving]) {
          // Joining here again (join, above): nothing to let go of.
          if (this.#leaving.get(id) !== pending) continue;
          const { participant, reason, answer } = pending;
          const left = (await this.presence.leave(id)) !== 'moved';
          // It began to join again while the LEAVE was on its way (Redis ran the LEAVE first): answered there.
          if (this.#leaving.get(id) !== pending) continue;
          this.#leaving.delete(id);
          if (left && participant) this.#announce({ type: 'presence', change: 'leave', participant, reason });
          for (const resolve of answer) resolve(left);
        }
        for (const reaped of await this.presence.sweep()) {
          this.emit('reaped', reaped);
          this.#announce({ type: 'relay-lost', relay: reaped.relay, participants: reaped.participants });
        }
      } catch (error) {
        if (!isTransient(error)) this.#report(error);
      } finally {
        this.#ticking = null;
      }
    })();
    return this.#ticking;
  }

  async #beat(): Promise<void> {
    const { fresh, lost, moved } = await this.presence.beat();
    if (lost.length > 0) this.emit('lost', lost);
    if (moved.length > 0) this.emit('moved', moved);
    if (fresh) {
      const back = this.presence.participants;
      if (back.length > 0) this.emit('rejoined', back);
      for (const participant of back) this.#announce({ type: 'presence', change: 'join', participant, reason: 'back' });
    }
  }

  #wrap(error: unknown, what: string): Error {
    if (error instanceof BrokerError || error instanceof RangeError) return error;
    if (isTransient(error))
      return new BrokerError('DOWN', `${what}: Redis is away (${reasonOf(error)})`, { cause: error });
    return new BrokerError('REFUSED', `${what}: ${reasonOf(error)}`, { cause: error });
  }
}
