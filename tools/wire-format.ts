/**
 * One frame, described the way a person reading the wire wants it: what kind of frame, its sequence number, and
 * what can be read from outside (a name, a chat line in plain mode) or cannot (a Fernet token: its version,
 * timestamp, IV and lengths are public, the line inside is not). `npm run capture` and `npm run mitm` print
 * frames through it.
 *
 * It reads frames leniently: a tampered or malformed frame is still described (the receiver's own parser is what
 * refuses it), so nothing here trusts the wire or throws on it.
 */
import { createHash } from 'node:crypto';
import { fromBase64Url } from '../shared/bytes.ts';
import { parseToken } from '../shared/fernet.ts';
import { closeName, fromBrowserCloseCode, isWirechatError } from '../shared/errors.ts';
import { printable } from '../shared/text.ts';

export type Direction = 'c2s' | 's2c';

/** The arrow and the words for each direction, as both tools print them. */
export const DIRECTION_LABEL: Record<Direction, string> = { c2s: 'page -> server', s2c: 'server -> page' };

export interface FrameSummary {
  /** The frame's `type` ("hello", "welcome", "record", "plain"), or "?" when it has none or is not JSON. */
  type: string;
  seq: number | undefined;
  /** One line, no control characters, at most about `max` characters. */
  text: string;
}

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Text from the wire, safe to print on a terminal: control characters escaped, cut at `max` characters. */
export function preview(text: string, max = 48): string {
  return printable(text, max);
}

/** A string field quoted for printing, or the JSON type of whatever is there instead. */
function quoted(value: unknown, max = 40): string {
  if (typeof value === 'string') return `"${preview(value, max)}"`;
  if (value === undefined) return '(missing)';
  return typeof value === 'object' ? (Array.isArray(value) ? '[array]' : '{object}') : preview(String(value), max);
}

/** The first and last few characters of a long value, and its length: enough to tell two values apart. */
export function ends(value: string, keep = 8): string {
  return value.length <= keep * 2 + 1 ? value : `${value.slice(0, keep)}…${value.slice(-keep)}`;
}

/** The first 8 hex digits of SHA-256 of a base64url value's bytes, to tell keys apart at a glance. */
export function shortHash(b64: unknown): string {
  if (typeof b64 !== 'string') return '?';
  try {
    return createHash('sha256').update(fromBase64Url(b64)).digest('hex').slice(0, 8);
  } catch {
    return 'not base64url';
  }
}

function byteLength(b64: unknown): string {
  if (typeof b64 !== 'string') return '?';
  try {
    return `${fromBase64Url(b64).length} B`;
  } catch {
    return 'not base64url';
  }
}

function clock(seconds: number): string {
  return Number.isFinite(seconds) && seconds < 8.64e12 ? new Date(seconds * 1000).toISOString().slice(11, 19) : String(seconds);
}

/**
 * What the outside of a Fernet token says: everything but the line, which is in the ciphertext. `brief` keeps
 * the token's ends and length only.
 */
export function describeToken(token: unknown, brief = false): string {
  if (typeof token !== 'string') return `token ${quoted(token)}`;
  if (brief) return `token ${preview(ends(token, 10), 32)} (${token.length} chars)`;
  try {
    const t = parseToken(token);
    const hex = Buffer.from(t.iv).toString('hex');
    return (
      `token ${ends(token, 10)} (${token.length} chars; Fernet v0x${t.version.toString(16)}, ` +
      `stamped ${clock(t.timestamp)} UTC, IV ${hex.slice(0, 8)}…, ${t.ciphertext.length} B of AES-CBC ciphertext, HMAC)`
    );
  } catch (error) {
    return `token ${preview(ends(token, 10), 32)} (${token.length} chars, unreadable: ${isWirechatError(error) ? error.code : 'error'})`;
  }
}

/** A presence body: each change named ("+alice", "-bob (reason)"), then the counted ones. Read leniently. */
function describePresence(body: Obj): string {
  const changes = Array.isArray(body.changes) ? body.changes : [];
  const shown = changes.slice(0, 8).map((c: unknown) => {
    if (!isObject(c)) return quoted(c);
    if (c.change === 'joined') return `+${quoted(c.name, 24)}`;
    if (c.change === 'left') return `-${quoted(c.name, 24)} ${quoted(c.reason)}`;
    return `${quoted(c.change, 16)} ${quoted(c.name, 24)}`;
  });
  if (changes.length > shown.length) shown.push(`… ${changes.length - shown.length} more named`);
  const more = [
    typeof body.moreJoined === 'number' && body.moreJoined > 0 ? `+${body.moreJoined} more joined` : '',
    typeof body.moreLeft === 'number' && body.moreLeft > 0 ? `-${body.moreLeft} more left` : '',
  ].filter((m) => m !== '');
  return `presence ${[...shown, ...more].join(', ') || '(empty)'}`;
}

function describeBody(body: unknown): string {
  if (!isObject(body)) return `body ${quoted(body)}`;
  switch (body.kind) {
    case 'line':
      return 'from' in body
        ? `line from ${quoted(body.from, 24)}${body.direct === true ? ' (direct)' : ''}: ${quoted(body.text, 60)}`
        : `line #${String(body.id)}: ${quoted(body.text, 60)}`;
    case 'receipt':
      return `receipt #${String(body.id)} ${String(body.status)}${typeof body.reason === 'string' && body.reason ? `: ${quoted(body.reason)}` : ''}`;
    case 'presence':
      return describePresence(body);
    case 'end':
      return `end ${quoted(body.code, 40)} ${quoted(body.reason)}`;
    case 'bye':
      return `bye ${quoted(body.word, 16)}`;
    default:
      return `body kind ${quoted(body.kind, 16)}`;
  }
}

/**
 * Describes one WebSocket text message of the wirechat protocol (or anything else, as what it is). `brief` leaves
 * out the hashes and the token's inner fields, for narrow columns.
 */
export function describeFrame(data: string, brief = false): FrameSummary {
  let frame: unknown;
  try {
    frame = JSON.parse(data);
  } catch {
    return { type: '?', seq: undefined, text: `not JSON: ${preview(data, 60)}` };
  }
  if (!isObject(frame)) return { type: '?', seq: undefined, text: `JSON but not a frame: ${preview(data, 60)}` };
  const type = typeof frame.type === 'string' ? frame.type : '?';
  const seq = typeof frame.seq === 'number' ? frame.seq : undefined;
  switch (frame.type) {
    case 'hello':
      return {
        type,
        seq,
        text:
          `hello name ${quoted(frame.name, 24)}, publicKey ${byteLength(frame.publicKey)}` +
          (brief ? '' : ` sha256 ${shortHash(frame.publicKey)}, nonce ${byteLength(frame.nonce)}`) +
          `, acceptPlain ${String(frame.acceptPlain)}`,
      };
    case 'welcome':
      return {
        type,
        seq,
        text:
          `welcome ${String(frame.mode)} name ${quoted(frame.name, 24)}, ` +
          (brief ? '' : `serverKey sha256 ${shortHash(frame.serverKey)}, `) +
          `wrappedKeys ${byteLength(frame.wrappedKeys)}, signature ${byteLength(frame.signature)}`,
      };
    case 'record':
      return {
        type,
        seq,
        text: `record seq ${String(frame.seq)}: ${describeToken(frame.token, brief)}, mac ${typeof frame.mac === 'string' ? preview(ends(frame.mac, 6), 24) : quoted(frame.mac)}`,
      };
    case 'plain':
      return { type, seq, text: `plain seq ${String(frame.seq)}: ${describeBody(frame.body)}` };
    default:
      return { type, seq, text: `type ${quoted(frame.type, 16)}: ${preview(data, 60)}` };
  }
}

/** RFC 6455 close codes in words (shared/errors.ts's table), and wirechat's 4000 + n that browsers send for n. */
export function closeMeaning(code: number): string {
  const rfc = fromBrowserCloseCode(code);
  return rfc === code ? closeName(code) : `a browser's ${rfc}, ${closeName(code)}`;
}
