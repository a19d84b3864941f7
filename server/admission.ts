/**
 * Who may open a connection, decided at the WebSocket upgrade, in two steps:
 *
 * - knock, before the upgrade: an address may ask for `handshakeRate` new connections a second (bursts of
 *   `handshakeBurst`). Over it, the request is answered with HTTP 429 and the socket closed at once: the cheapest
 *   refusal there is, for the one case that only a flood reaches (an honest page opens one connection at a time).
 * - admit, once upgraded: at most `maxConnections` at once, and per remote address (an IPv4 address, or an IPv6
 *   /64: see addressKey) at most `maxPerAddress`, of which at most `maxPendingPerAddress` still in their
 *   handshake. Over one of these, the connection is closed with 1013 (try again later) and a reason, since a page
 *   behind a busy NAT can meet them too and should be told why.
 *
 * The per-address limits are what keep one address from filling every seat: with the defaults one address holds
 * 64 of 1000, so a flood from one machine leaves the other 936 to everyone else. A connection is counted from the
 * upgrade until its socket has closed (not merely until its session ended): the count is of sockets the server
 * holds, the resource the limits protect.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { WirechatError } from '../shared/errors.ts';
import { TokenBucket } from './limits.ts';

export interface AdmissionLimits {
  maxConnections: number;
  maxPerAddress: number;
  maxPendingPerAddress: number;
  /** New connections a second from one address, on average, and at once. */
  handshakeRate: number;
  handshakeBurst: number;
}

/** Why connections were refused, counted since the server started (the load tool and tests read these). */
export interface AdmissionStats {
  /** Upgrades asked for (knocks), and connections admitted. */
  knocked: number;
  admitted: number;
  refusedFull: number;
  refusedRate: number;
  refusedPerAddress: number;
  refusedPending: number;
  /** TCP connections closed unanswered because their address already held socketsPerAddress. */
  refusedSockets: number;
}

/**
 * TCP connections one address may hold at once, page loads and chats together: every seat's WebSocket and up to
 * three connections a browser keeps alive for the page's files. Counted from the connection, before a byte of
 * HTTP is read: Node keeps a connection that sends nothing, or its headers a byte at a time, for up to 90 s, and
 * without a cap one address could hold every file descriptor the process may open, after which nobody connects.
 */
export function socketsPerAddress(limits: Pick<AdmissionLimits, 'maxPerAddress'>): number {
  return limits.maxPerAddress * 4;
}

/**
 * The key an address is counted under. IPv4 addresses count one by one. IPv6 addresses count by their /64: one
 * machine is usually given a whole /64 (SLAAC, privacy addresses) and can pick any of its 2^64 addresses, so
 * counting each would count nothing. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack socket
 * reports for an IPv4 peer) is the IPv4 address it maps. A zone (`fe80::1%eth0`) is dropped.
 */
export function addressKey(remote: string | undefined): string {
  if (remote === undefined || remote === '') return 'unknown';
  const address = remote.split('%')[0]!.toLowerCase();
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return address;
  const groups = ipv6Groups(address);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (isIPv6 has said so), a dotted IPv4 tail included. */
function ipv6Groups(address: string): number[] {
  let text = address;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  const zeros = tail === undefined ? [] : new Array<number>(8 - left.length - right.length).fill(0);
  return [...left, ...zeros, ...right];
}

/** Until watched, a ticket counts as in its handshake: one function for all tickets, not a closure each. */
const always = (): boolean => true;

/** One admitted connection's seat: counted until released (when its socket has closed). */
export class Ticket {
  readonly address: string;
  #inHandshake: () => boolean = always;
  #release: (() => void) | undefined;

  constructor(address: string, release: () => void) {
    this.address = address;
    this.#release = release;
  }

  /** Until this is called the connection counts as in its handshake; then `inHandshake` says. */
  watch(inHandshake: () => boolean): void {
    this.#inHandshake = inHandshake;
  }

  get inHandshake(): boolean {
    return this.#inHandshake();
  }

  /** Frees the seat; once only, however often it is called. */
  release(): void {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }
}

interface AddressState {
  readonly tickets: Set<Ticket>;
  /** TCP connections open from here (see socketsPerAddress). */
  sockets: number;
  readonly bucket: TokenBucket;
  /** When a connection from here was last asked for: the bucket is full again `refillMs` later. */
  lastAttempt: number;
}

export class Admission {
  readonly #limits: AdmissionLimits;
  readonly #now: () => number;
  readonly #addresses = new Map<string, AddressState>();
  /** How long an idle address's bucket takes to fill up: until then its state is kept, so that closing and
   * reopening cannot reset its rate. */
  readonly #refillMs: number;
  #size = 0;
  #lastSweep = 0;
  readonly stats: AdmissionStats = {
    knocked: 0,
    admitted: 0,
    refusedFull: 0,
    refusedRate: 0,
    refusedPerAddress: 0,
    refusedPending: 0,
    refusedSockets: 0,
  };

  constructor(limits: AdmissionLimits, now: () => number = () => performance.now()) {
    this.#limits = limits;
    this.#now = now;
    this.#refillMs = (limits.handshakeBurst / limits.handshakeRate) * 1000;
  }

  /** Connections admitted and not yet released. */
  get size(): number {
    return this.#size;
  }

  /** Addresses with state kept (connections open, or a bucket still refilling). Bounded: see #sweep. */
  get addresses(): number {
    return this.#addresses.size;
  }

  /** Connections from the address `remote` counts under, and how many of those are in their handshake. */
  count(remote: string | undefined): { open: number; inHandshake: number } {
    const state = this.#addresses.get(addressKey(remote));
    if (!state) return { open: 0, inHandshake: 0 };
    return { open: state.tickets.size, inHandshake: countInHandshake(state) };
  }

  /** TCP connections open from the address `remote` counts under. */
  sockets(remote: string | undefined): number {
    return this.#addresses.get(addressKey(remote))?.sockets ?? 0;
  }

  /**
   * A TCP connection from `remote` was accepted, before anything is read from it: the function to call once it has
   * closed, or undefined when its address already holds socketsPerAddress (the caller destroys it unanswered).
   */
  connected(remote: string | undefined): (() => void) | undefined {
    const now = this.#now();
    this.#sweep(now);
    const state = this.#state(addressKey(remote), now);
    if (state.sockets >= socketsPerAddress(this.#limits)) {
      this.stats.refusedSockets++;
      return undefined;
    }
    state.sockets++;
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      state.sockets--;
      // Kept until the sweep finds nothing open: the bucket's refill is measured from the last attempt.
      state.lastAttempt = Math.max(state.lastAttempt, this.#now());
    };
  }

  /**
   * Before the upgrade: undefined when `remote` may go on, else why not (for an HTTP 429). Every request takes a
   * token from its address's bucket, refused or not, and so does one refused later by admit: an address that
   * keeps knocking while it is refused stays refused.
   */
  knock(remote: string | undefined): string | undefined {
    const now = this.#now();
    this.#sweep(now);
    this.stats.knocked++;
    const state = this.#state(addressKey(remote), now);
    state.lastAttempt = now;
    if (state.bucket.take(now)) return undefined;
    this.stats.refusedRate++;
    return `more than ${this.#limits.handshakeRate} new connections a second from ${addressKey(remote)}; try again later`;
  }

  /** Once upgraded (after knock let it through): a seat for the connection, or the error to close it with (1013). */
  admit(remote: string | undefined): Ticket | WirechatError {
    const limits = this.#limits;
    const key = addressKey(remote);
    const state = this.#state(key, this.#now());
    if (this.#size >= limits.maxConnections) {
      this.stats.refusedFull++;
      return new WirechatError(
        'LIMIT_CONNECTIONS',
        `the server is full (${limits.maxConnections} connections); try again later`,
      );
    }
    if (state.tickets.size >= limits.maxPerAddress) {
      this.stats.refusedPerAddress++;
      return new WirechatError(
        'LIMIT_ADDRESS',
        `${key} already has ${limits.maxPerAddress} connections open; try again later`,
      );
    }
    if (countInHandshake(state) >= limits.maxPendingPerAddress) {
      this.stats.refusedPending++;
      return new WirechatError(
        'LIMIT_ADDRESS',
        `${key} already has ${limits.maxPendingPerAddress} connections in their handshake; try again later`,
      );
    }
    const seat = state;
    const ticket = new Ticket(key, () => {
      seat.tickets.delete(ticket);
      this.#size--;
    });
    seat.tickets.add(ticket);
    this.#size++;
    this.stats.admitted++;
    return ticket;
  }

  #state(key: string, now: number): AddressState {
    let state = this.#addresses.get(key);
    if (!state) {
      state = {
        tickets: new Set(),
        sockets: 0,
        bucket: new TokenBucket(this.#limits.handshakeRate, this.#limits.handshakeBurst, now),
        lastAttempt: now,
      };
      this.#addresses.set(key, state);
    }
    return state;
  }

  /**
   * Forgets addresses with nothing open whose bucket has filled up again (their state is then the same as a
   * new one's). Runs at most once a second, from admit: the map holds the addresses seen in the last few seconds
   * plus those with connections open, which the connection cap bounds.
   */
  #sweep(now: number): void {
    if (now - this.#lastSweep < 1000) return;
    this.#lastSweep = now;
    for (const [key, state] of this.#addresses) {
      if (state.tickets.size === 0 && state.sockets === 0 && now - state.lastAttempt >= this.#refillMs)
        this.#addresses.delete(key);
    }
  }
}

function countInHandshake(state: AddressState): number {
  let n = 0;
  for (const ticket of state.tickets) if (ticket.inHandshake) n++;
  return n;
}
