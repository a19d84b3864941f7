/**
 * One body on the wire in secure mode: a Fernet token, plus an HMAC-SHA256 that binds the token to its place
 * in this session. The Fernet token alone authenticates its bytes but not their place, so a recorded token
 * could be replayed, reordered, reflected back to its sender or moved into another session. The outer MAC
 * closes those holes by covering:
 *
 *   "wirechat-record-v1" || direction (1 byte) || seq (u64 big-endian) || sessionId (16 bytes) || token (ASCII)
 *
 * and each side keeps its own counter per direction, so every frame has exactly one place where it verifies.
 */
import { WirechatError } from './errors.ts';
import { concat, fromBase64Url, fromUtf8, randomPublicBytes, toBase64Url, utf8, writeU64be } from './bytes.ts';
import type { Fernet } from './fernet.ts';
import type { Mac } from './mac.ts';
import type { RecordFrame } from './protocol.ts';

export type Direction = 'c2s' | 's2c';
const DIRECTION_BYTE: Record<Direction, number> = { c2s: 1, s2c: 2 };
const LABEL = utf8('wirechat-record-v1');

/** Fernet TTL for records: a frame held back longer than this by someone on the path is refused. */
export const RECORD_TTL_SECONDS = 120;

export interface SessionKeys {
  fernet: Fernet;
  mac: Mac;
}

const IV_BYTES = 16;
const textEncoder = new TextEncoder();

/**
 * Built in one buffer: every record sealed or opened needs one, and five small arrays concatenated cost more than
 * the HMAC over them. A token is base64url, so ASCII and one byte a character; a token from the wire that is not
 * (refused later by Fernet, but MACed first) takes the general path, so the bytes MACed are always utf8(token).
 */
export function recordMacInput(direction: Direction, seq: number, sessionId: Uint8Array, token: string): Uint8Array {
  const head = LABEL.length + 1 + 8 + sessionId.length;
  const out = new Uint8Array(head + token.length);
  out.set(LABEL);
  out[LABEL.length] = DIRECTION_BYTE[direction];
  writeU64be(out, LABEL.length + 1, seq);
  out.set(sessionId, LABEL.length + 9);
  const { read, written } = textEncoder.encodeInto(token, out.subarray(head));
  if (read === token.length && written === token.length) return out;
  return concat(out.subarray(0, head), utf8(token));
}

/**
 * A body to be sealed for many recipients (the relay's fan-out of one line to every tab): its JSON text and UTF-8
 * bytes are made once, on first use, instead of once per recipient. Every recipient's record still gets its own
 * Fernet token (own key, fresh IV) and its own MAC; only the plaintext is shared, and nothing writes to it.
 */
export class EncodedBody<T = unknown> {
  readonly body: T;
  #plaintext: Uint8Array | undefined;

  constructor(body: T) {
    this.body = body;
  }

  get plaintext(): Uint8Array {
    return (this.#plaintext ??= utf8(JSON.stringify(this.body)));
  }
}

export interface ChannelOptions {
  /** Seconds since the epoch in the server's time (the page corrects its clock by the welcome's `time`). */
  now?: () => number;
  ttl?: number;
}

/**
 * Seals outgoing bodies and opens incoming records for one side of one session. Calls are chained, so results
 * come out in the order the calls went in: a caller that sends each sealed frame as its promise resolves sends
 * them in sequence order, and incoming frames are checked against the next expected number the moment they
 * arrive, before any await, so a replay is caught even while earlier frames are still being decrypted.
 */
export class RecordChannel {
  readonly #keys: SessionKeys;
  readonly #sessionId: Uint8Array;
  readonly #send: Direction;
  readonly #receive: Direction;
  readonly #now: () => number;
  readonly #ttl: number;
  #sendSeq = 0;
  #receiveSeq = 0;
  #sealing: Promise<unknown> = Promise.resolve();
  #opening: Promise<unknown> = Promise.resolve();

  constructor(keys: SessionKeys, sessionId: Uint8Array, send: Direction, options: ChannelOptions = {}) {
    this.#keys = keys;
    this.#sessionId = sessionId;
    this.#send = send;
    this.#receive = send === 'c2s' ? 's2c' : 'c2s';
    this.#now = options.now ?? (() => Date.now() / 1000);
    this.#ttl = options.ttl ?? RECORD_TTL_SECONDS;
  }

  get nextSendSeq(): number {
    return this.#sendSeq;
  }

  get nextReceiveSeq(): number {
    return this.#receiveSeq;
  }

  seal(body: unknown): Promise<RecordFrame> {
    const seq = this.#sendSeq++;
    const plaintext = body instanceof EncodedBody ? body.plaintext : utf8(JSON.stringify(body));
    const sealed = this.#sealing.then(async () => {
      // A fresh IV for every token, from the pool of public random bytes (bytes.ts: one getRandomValues call per
      // 256 IVs instead of one per token).
      const token = await this.#keys.fernet.encrypt(plaintext, { time: Math.floor(this.#now()), iv: randomPublicBytes(IV_BYTES) });
      const mac = await this.#keys.mac.sign(recordMacInput(this.#send, seq, this.#sessionId, token));
      return { type: 'record', seq, token, mac: toBase64Url(mac) } satisfies RecordFrame;
    });
    this.#sealing = sealed.catch(() => undefined);
    return sealed;
  }

  /**
   * Verifies and decrypts one record, returning its body as parsed JSON (still `unknown`: the caller validates
   * it with the protocol's body parser). Order of checks: sequence (cheap, and names replays plainly), the
   * outer MAC in constant time, and only then Fernet, which checks its own MAC before it decrypts.
   */
  open(frame: RecordFrame): Promise<unknown> {
    const expected = this.#receiveSeq;
    if (frame.seq !== expected) {
      const what = frame.seq < expected ? 'replayed' : 'out of order or after a dropped frame';
      return Promise.reject(
        new WirechatError('RECORD_BAD_SEQUENCE', `record ${frame.seq} is ${what}: expected ${expected}`),
      );
    }
    this.#receiveSeq++;
    const opened = this.#opening.then(async () => {
      let tag: Uint8Array;
      try {
        tag = fromBase64Url(frame.mac);
      } catch {
        throw new WirechatError('RECORD_BAD_MAC', 'the record MAC is not base64url');
      }
      const input = recordMacInput(this.#receive, expected, this.#sessionId, frame.token);
      if (!(await this.#keys.mac.verify(input, tag))) {
        throw new WirechatError('RECORD_BAD_MAC', `record ${expected} failed its HMAC check: tampered, reflected or from another session`);
      }
      const plaintext = await this.#keys.fernet.decrypt(frame.token, { ttl: this.#ttl, now: this.#now() });
      let body: unknown;
      try {
        body = JSON.parse(fromUtf8(plaintext));
      } catch {
        throw new WirechatError('PROTO_BAD_JSON', `record ${expected} does not hold JSON`);
      }
      return body;
    });
    this.#opening = opened.catch(() => undefined);
    return opened;
  }
}
