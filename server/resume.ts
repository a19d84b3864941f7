/**
 * Resume secrets: how a tab that dropped gets back its place (its participant identity, its name, the lines it
 * missed) and nobody else's. docs/protocol.md 9.1 has the records, docs/security.md the threat analysis.
 *
 * A secret is a seat, sealed by the server for itself: who the participant is, the serial of this secret, the
 * log position and epoch it was given at, the name, and 128 random bits; then an HMAC-SHA256 (cut to 128 bits)
 * under a key derived from the chat key (HKDF, its own label). So a secret needs no table on the server, and with
 * `--history` it outlives a crash exactly as long as the log it points into. What makes it single use is the log
 * itself: resuming with seat (P, k) appends a `join` entry whose origin is (`seat:P`, k), and the log stores an
 * origin once (server/log/log.ts), so a second use of the same secret finds its entry there and is refused. EXIT
 * and kick append a `leave` with the same origin, which spends the secret the tab holds. A seat given before the
 * oldest entry the log still holds might have had its spending entry trimmed: such a secret is refused too.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Origin, Position } from './log/log.ts';

const KEY_INFO = 'wirechat resume secret v1';
const MAC_BYTES = 16;
const VERSION = 1;

/** What a resume secret stands for. */
export interface Seat {
  /** The participant identity: 128 random bits, base64url; the origin of every line the tab sends. */
  participant: string;
  /** 1 for the seat given at join, +1 at every resume. */
  serial: number;
  /** The log's epoch when the seat was given: the secret means nothing under another. */
  epoch: string;
  /** The log's last line number when the seat was given. */
  issuedAfter: number;
  /** The name the tab had. */
  name: string;
}

/** A fresh participant identity: 128 random bits. */
export function newParticipant(): string {
  return randomBytes(16).toString('base64url');
}

/** The log origin that spends seat (P, k): a resume appends it, EXIT and kick append it to revoke. */
export function seatOrigin(seat: Pick<Seat, 'participant' | 'serial'>): Origin {
  return { identity: `seat:${seat.participant}`, lineId: seat.serial };
}

export class SeatKeeper {
  readonly #key: Buffer;

  /** `chatKey`: the chat key's 32 bytes (left as they are: the log's sealer zeroes its own copy). */
  constructor(chatKey: Uint8Array) {
    this.#key = Buffer.from(hkdfSync('sha256', chatKey, new Uint8Array(0), KEY_INFO, 32));
  }

  /** The secret for `seat`: base64url(JSON) "." base64url(MAC); a fresh 128-bit nonce in every one. */
  issue(seat: Seat): string {
    const nonce = randomBytes(16).toString('base64url');
    const payload = Buffer.from(
      JSON.stringify([VERSION, seat.participant, seat.serial, seat.epoch, seat.issuedAfter, seat.name, nonce]),
    ).toString('base64url');
    return `${payload}.${this.#mac(payload).toString('base64url')}`;
  }

  /** The seat a secret stands for, or undefined when this chat did not make it (any other text, any change). */
  open(secret: string): Seat | undefined {
    const dot = secret.indexOf('.');
    if (dot <= 0 || dot !== secret.lastIndexOf('.')) return undefined;
    const payload = secret.slice(0, dot);
    // Compared as text: base64url decoders ignore the spare bits of a last character, so two texts can decode
    // to the same bytes, and a secret must be one exact text.
    const mac = Buffer.from(secret.slice(dot + 1));
    const expected = Buffer.from(this.#mac(payload).toString('base64url'));
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return undefined;
    let fields: unknown;
    try {
      fields = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    if (!Array.isArray(fields) || fields.length !== 7 || fields[0] !== VERSION) return undefined;
    const [, participant, serial, epoch, issuedAfter, name] = fields as unknown[];
    if (typeof participant !== 'string' || typeof epoch !== 'string' || typeof name !== 'string') return undefined;
    if (!Number.isSafeInteger(serial) || !Number.isSafeInteger(issuedAfter)) return undefined;
    return { participant, serial: serial as number, epoch, issuedAfter: issuedAfter as number, name };
  }

  #mac(payload: string): Buffer {
    return createHmac('sha256', this.#key).update(payload).digest().subarray(0, MAC_BYTES);
  }
}

/** Why a seat cannot be resumed before the log is asked to spend it, or undefined when it may be tried. */
export function seatProblem(seat: Seat | undefined, position: Position): 'unknown' | 'epoch' | 'trimmed' | undefined {
  if (seat === undefined) return 'unknown';
  if (seat.epoch !== position.epoch) return 'epoch';
  // The entry that would show this seat spent comes after it was given: if the log dropped anything after that
  // point, the entry may be gone, and the secret could be used twice. Retention bounds a secret's life.
  if (seat.issuedAfter < position.first - 1) return 'trimmed';
  return undefined;
}

/**
 * Lines a page at (epoch, last) missed and will never get, when it does not resume (a new participant is given no
 * history): what the log numbered since, when the epoch is the same; unknown (0, told as such) after a change.
 */
export function missedWithoutResume(claim: { epoch: string; last: number }, position: Position): number {
  if (claim.epoch !== position.epoch) return 0;
  return Math.max(0, position.last - claim.last);
}
