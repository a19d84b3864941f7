/**
 * The man in the middle's attacks, apart from the plumbing that carries the connections (tools/mitm.ts): every
 * frame of a connection passes through `Attacks.pass`, one at a time per direction, and leaves as it came unless
 * the operator armed an attack:
 *
 *   flip    one bit of the next record's token or mac: the receiver's record MAC check fails;
 *   replay  the last page -> server record sent again: the server's sequence check fails;
 *   swap    the proxy's RSA key in the next hello; the session keys the server wraps for it are unwrapped (and
 *           printed), re-wrapped for the page, and the welcome passed on: the page's signature check fails;
 *   close   a close frame forged to the page, with any code and reason: no MAC covers a close frame.
 */
import WebSocket, { type RawData } from 'ws';
import { concat, fromBase64Url, fromUtf8, toBase64Url, toHex } from '../../shared/bytes.ts';
import { closeCodeText, closeReason, isWirechatError } from '../../shared/errors.ts';
import { createFernet, encodeFernetKey, type Fernet } from '../../shared/fernet.ts';
import {
  exportSpki,
  generateClientKeyPair,
  importClientPublicKey,
  unwrapSessionSecret,
  wrapSessionSecret,
} from '../../shared/handshake.ts';
import type { Direction } from '../../shared/record.ts';
import { printable } from '../../shared/text.ts';
import { readFrame, type Fields } from '../../shared/wire-read.ts';
import { describeFrame, routeText, shortHash } from '../wire-format.ts';

/** Which way a frame goes: up, page to server; down, server to page. The operator's words for c2s and s2c. */
export type Way = 'up' | 'down';
export type FlipField = 'token' | 'mac';

export const WAY_DIRECTION: Readonly<Record<Way, Direction>> = { up: 'c2s', down: 's2c' };

/** One frame as it passed the proxy. */
export interface PassedFrame {
  connection: number;
  way: Way;
  /** The wirechat frame type, or "?" (or "binary"). */
  type: string;
  bytes: number;
  /** What the proxy did to it, if anything. */
  tampered?: 'flip' | 'swap' | 'rewrap';
}

export interface StolenKeys {
  connection: number;
  /** The 44-character Fernet key, as any Fernet library takes it. */
  fernetKey: string;
  /** The record MAC key, hex. */
  macKey: string;
}

/** One page's connection through the proxy: its socket and the server's. */
export interface Link {
  id: number;
  page: WebSocket;
  server: WebSocket;
  /** Frames are handled one at a time per direction, in arrival order (swap awaits RSA). */
  queue: Record<Way, Promise<void>>;
  /** Set when the hello was swapped: the page's own public key, for re-wrapping. */
  pageKey?: string;
  /** Set when the keys were stolen: records on this connection can be read. */
  fernet?: Fernet;
  ended: boolean;
}

/** What the attacks tell the proxy around them. */
export interface AttackHost {
  /** A line for the operator: an attack (shown loud) or a note. Returns the text. */
  say(kind: 'attack' | 'note', text: string): string;
  /** A frame went on its way: recorded in `frames` and printed. `data` is what arrived, before any tampering. */
  passed(link: Link, way: Way, data: string | Buffer, type: string, tampered?: PassedFrame['tampered']): void;
  /** The connections open now. */
  open(): Link[];
}

export interface AttackOptions {
  /** Swap the public key in every hello. */
  swapAll?: boolean;
  /** The proxy's own RSA modulus for swap (3072, like a page's, unless a test wants speed). */
  modulusLength?: number;
}

/** Close codes ws may send; the others (1005, 1006, 1015) are only ever reported, never sent. */
export function sendable(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)
  );
}

export class Attacks {
  readonly stolen: StolenKeys[] = [];
  readonly #host: AttackHost;
  readonly #swapAll: boolean;
  readonly #ownKey: Promise<{ keyPair: CryptoKeyPair; spki: string }>;
  #flip: { way: Way | 'any'; field: FlipField } | undefined;
  #swapNext = false;
  #lastUp: { link: Link; data: string; seq: unknown } | undefined;
  /** The forged close, and how many connections still to come get it as soon as they open. */
  #forged: { code: number; reason: string; next: number } | undefined;

  constructor(host: AttackHost, options: AttackOptions = {}) {
    this.#host = host;
    this.#swapAll = options.swapAll ?? false;
    this.#ownKey = generateClientKeyPair(options.modulusLength).then(async (keyPair) => ({
      keyPair,
      spki: toBase64Url(await exportSpki(keyPair.publicKey)),
    }));
    this.#ownKey.catch(() => undefined);
  }

  /** Waits for the proxy's own key pair (made at start, used by swap). Returns its SPKI's short hash. */
  async ready(): Promise<string> {
    return shortHash((await this.#ownKey).spki);
  }

  /** Arms a one-bit flip in the next record going `way` (either way by default). */
  flip(way: Way | 'any' = 'any', field: FlipField = 'token'): string {
    this.#flip = { way, field };
    const where = way === 'any' ? 'either way' : routeText(WAY_DIRECTION[way]);
    return this.#host.say('attack', `armed: the next record ${where} gets one bit of its ${field} flipped`);
  }

  /** Re-sends the last page -> server record to the server. */
  replay(): string {
    const last = this.#lastUp;
    if (last === undefined) return this.#host.say('attack', 'nothing to replay: no page has sent a record yet');
    if (last.link.server.readyState !== WebSocket.OPEN) {
      return this.#host.say('attack', `nothing to replay: connection #${last.link.id} has ended`);
    }
    const said = this.#host.say(
      'attack',
      `#${last.link.id} REPLAY: record seq ${String(last.seq)} goes to the server a second time:`,
    );
    last.link.server.send(last.data);
    this.#host.passed(last.link, 'up', last.data, 'record');
    return said;
  }

  /** Arms the key swap for the next hello. */
  swap(): string {
    this.#swapNext = true;
    return this.#host.say('attack', "armed: the next hello gets the proxy's public key instead of the page's");
  }

  /**
   * Forges a close frame with `code` and `reason` to the page of every open connection, and closes the server's
   * side with 1001. With `next`, that many connections opened later get it too as soon as they open, before their
   * handshake (enough of them in a row make the page stop retrying by itself and wait for its person).
   */
  forgeClose(code = 1000, reason = '', next = 0): string {
    if (!sendable(code)) {
      return this.#host.say(
        'note',
        `close takes a code a WebSocket may send (1000-1003, 1007-1014, 3000-4999), not ${code}`,
      );
    }
    this.#forged = { code, reason: closeReason(reason), next };
    const open = this.#host.open();
    for (const link of open) this.#forge(link);
    const later = next > 0 ? `; the next ${next} connection${next === 1 ? '' : 's'} too, as they open` : '';
    return this.#host.say(
      'attack',
      `forged close ${closeCodeText(code)} sent to ${open.length} page${open.length === 1 ? '' : 's'}${later}`,
    );
  }

  /** A connection has just opened: it gets the forged close when more are due. */
  opened(link: Link): void {
    if (this.#forged !== undefined && this.#forged.next > 0) {
      this.#forged.next--;
      this.#forge(link);
    }
  }

  #forge(link: Link): void {
    const forged = this.#forged;
    if (forged === undefined) return;
    link.ended = true;
    const said = forged.reason ? ` "${printable(forged.reason, 120)}"` : '';
    this.#host.say(
      'attack',
      `#${link.id} FORGED CLOSE to the page: ${closeCodeText(forged.code)}${said}; the server's side gets 1001`,
    );
    link.page.close(forged.code, forged.reason);
    link.server.close(1001, 'the man in the middle hung up');
    for (const ws of [link.page, link.server]) setTimeout(() => ws.terminate(), 1000).unref();
  }

  /** A frame that arrived on `link` going `way`: queued behind the ones before it, passed on in order. */
  enqueue(link: Link, way: Way, data: RawData, isBinary: boolean): void {
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    link.queue[way] = link.queue[way]
      .then(() => this.#pass(link, way, bytes, isBinary))
      .catch((error: unknown) => {
        this.#host.say(
          'note',
          `#${link.id} the proxy failed on a frame: ${(error as Error)?.message ?? String(error)}`,
        );
      });
  }

  async #pass(link: Link, way: Way, bytes: Buffer, isBinary: boolean): Promise<void> {
    const to = way === 'up' ? link.server : link.page;
    if (isBinary) {
      this.#host.passed(link, way, bytes, 'binary');
      if (to.readyState === WebSocket.OPEN) to.send(bytes, { binary: true });
      return;
    }
    const original = bytes.toString('utf8');
    let data = original;
    const notes: string[] = [];
    let tampered: PassedFrame['tampered'];
    // Not JSON, or not an object: relayed as it is; the receiver refuses it.
    const { fields: frame, type } = readFrame(original);

    if (frame?.type === 'hello' && way === 'up' && (this.#swapAll || this.#swapNext)) {
      this.#swapNext = false;
      const own = await this.#ownKey;
      link.pageKey = typeof frame.publicKey === 'string' ? frame.publicKey : '';
      frame.publicKey = own.spki;
      data = JSON.stringify(frame);
      tampered = 'swap';
      notes.push(
        `SWAP: the page's public key (sha256 ${shortHash(link.pageKey)}) replaced by the proxy's (sha256 ${shortHash(own.spki)})`,
      );
    }

    if (frame?.type === 'welcome' && way === 'down' && link.pageKey !== undefined) {
      if (await this.#steal(link, frame, notes)) {
        data = JSON.stringify(frame);
        tampered = 'rewrap';
      }
    }

    if (frame?.type === 'record') {
      if (link.fernet !== undefined && typeof frame.token === 'string') {
        try {
          const plaintext = fromUtf8(await link.fernet.decrypt(frame.token));
          notes.push(`READ with the stolen keys: ${printable(plaintext, 200)}`);
        } catch (error) {
          notes.push(`the stolen keys do not open it (${isWirechatError(error) ? error.code : String(error)})`);
        }
      }
      const flip = this.#flip;
      if (flip !== undefined && (flip.way === 'any' || flip.way === way)) {
        this.#flip = undefined;
        notes.push(flipBit(frame, flip.field));
        data = JSON.stringify(frame);
        tampered = 'flip';
      }
      if (way === 'up') this.#lastUp = { link, data: original, seq: frame.seq };
    }

    this.#host.passed(link, way, original, type, tampered);
    for (const note of notes) this.#host.say('attack', `#${link.id} ${note}`);
    if (data !== original && tampered !== 'flip')
      this.#host.say('attack', `#${link.id} passed on instead: ${describeFrame(data).text}`);
    if (to.readyState === WebSocket.OPEN) to.send(data);
  }

  /** The swap's second half: unwrap with the proxy's key, print, re-wrap for the page. Edits `welcome` in place. */
  async #steal(link: Link, welcome: Fields, notes: string[]): Promise<boolean> {
    if (welcome.mode !== 'secure' || typeof welcome.wrappedKeys !== 'string' || welcome.wrappedKeys === '') {
      notes.push('a plain welcome: there are no session keys to steal (and plain mode hides nothing anyway)');
      return false;
    }
    const own = await this.#ownKey;
    try {
      const { fernetKey, macKey } = await unwrapSessionSecret(
        own.keyPair.privateKey,
        fromBase64Url(welcome.wrappedKeys),
      );
      const stolen = { connection: link.id, fernetKey: encodeFernetKey(fernetKey), macKey: toHex(macKey) };
      this.stolen.push(stolen);
      notes.push(
        `STOLEN session keys (the server wrapped them for the proxy's key): fernet key ${stolen.fernetKey}  mac key ${stolen.macKey}`,
      );
      link.fernet = await createFernet(fernetKey.slice());
      const pageKey = await importClientPublicKey(fromBase64Url(link.pageKey ?? ''));
      welcome.wrappedKeys = toBase64Url(await wrapSessionSecret(pageKey, concat(fernetKey, macKey)));
      notes.push(
        "re-wrapped them for the page's own key; but the server's signature covers the proxy's key, not the page's, " +
          'so the page should refuse this welcome (HANDSHAKE_BAD_SIGNATURE)',
      );
      return true;
    } catch (error) {
      notes.push(`could not steal the keys: ${(error as Error)?.message ?? String(error)}`);
      return false;
    }
  }
}

/** Where two spellings of a value first differ, shown as a few characters of each around that place. */
function changedAt(before: string, after: string): string {
  let i = 0;
  while (i < before.length && before[i] === after[i]) i++;
  const from = Math.max(0, i - 4);
  return `character ${i}: ...${before.slice(from, i + 5)}... is now ...${after.slice(from, i + 5)}...`;
}

/** Flips the lowest bit of the first ciphertext byte of the token (or of the mac's first byte). Edits `frame`. */
export function flipBit(frame: Fields, field: FlipField): string {
  const value = frame[field];
  if (typeof value !== 'string' || value.length === 0) return `FLIP: the record has no ${field} to flip`;
  let flipped: string;
  let what: string;
  try {
    const bytes = fromBase64Url(value);
    // Byte 25 of a token is its first ciphertext byte (after version, timestamp and IV); byte 0 of a mac.
    const at = field === 'token' ? Math.min(25, bytes.length - 1) : 0;
    bytes[at]! ^= 0x01;
    flipped = toBase64Url(bytes, field === 'token');
    what = `bit 0 of byte ${at}${field === 'token' && at === 25 ? ' (the first ciphertext byte)' : ''}`;
  } catch {
    // Not base64url: change one character instead; the receiver refuses the frame either way.
    const i = Math.floor(value.length / 2);
    flipped = value.slice(0, i) + (value[i] === 'A' ? 'B' : 'A') + value.slice(i + 1);
    what = 'one character';
  }
  frame[field] = flipped;
  return `FLIP: ${what} of record seq ${String(frame.seq)}'s ${field}, still well formed; ${changedAt(value, flipped)}`;
}
