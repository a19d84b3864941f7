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
import { concat, fromBase64Url, fromUtf8, toBase64Url, u64be, utf8 } from './bytes.ts';
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

export function recordMacInput(direction: Direction, seq: number, sessionId: Uint8Array, token: string): Uint8Array {
  return concat(LABEL, Uint8Array.of(DIRECTION_BYTE[direction]), u64be(seq), sessionId, utf8(token));
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
    const plaintext = utf8(JSON.stringify(body));
    const sealed = this.#sealing.then(async () => {
      const token = await this.#keys.fernet.encrypt(plaintext, { time: Math.floor(this.#now()) });
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
