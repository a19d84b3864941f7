/**
 * One frame in one terminal line, the way a person reading the wire wants it: what kind of frame, its sequence
 * number, and what can be read from outside (a name, a chat line in plain mode) or cannot (a Fernet token: its
 * version, timestamp, IV and lengths are public, the line inside is not). `npm run capture` and `npm run mitm`
 * print frames through it.
 *
 * The reading is shared/wire-read.ts's, the inspector's too: lenient, so a tampered or malformed frame is still
 * described (the receiver's own parser is what refuses it), and nothing here trusts the wire or throws on it.
 * What is here is the terminal's wording: fields quoted, control characters escaped, ASCII arrows.
 */
import { createHash } from 'node:crypto';
import type { Direction } from '../shared/record.ts';
import { printable } from '../shared/text.ts';
import { isFields, looseBytes, readFrame, readToken, route, type Fields } from '../shared/wire-read.ts';

/** A direction as the tools print it: "page -> server", "server -> page". */
export function routeText(direction: Direction): string {
  return route(direction, '->');
}

export interface FrameLine {
  /** The frame's `type` ("hello", "welcome", "record", "plain"), or "?" when it has none or is not JSON. */
  type: string;
  seq: number | undefined;
  /** One line, no control characters, at most about `max` characters. */
  text: string;
}

/** A string field quoted for printing, or the JSON type of whatever is there instead. */
function quoted(value: unknown, max = 40): string {
  if (typeof value === 'string') return `"${printable(value, max)}"`;
  if (value === undefined) return '(missing)';
  return typeof value === 'object' ? (Array.isArray(value) ? '[array]' : '{object}') : printable(String(value), max);
}

/** The first and last few characters of a long value, and its length: enough to tell two values apart. */
export function ends(value: string, keep = 8): string {
  return value.length <= keep * 2 + 1 ? value : `${value.slice(0, keep)}…${value.slice(-keep)}`;
}

/** The first 8 hex digits of SHA-256 of a base64url value's bytes, to tell keys apart at a glance. */
export function shortHash(b64: unknown): string {
  const bytes = looseBytes(b64);
  if (bytes === undefined) return typeof b64 === 'string' ? 'not base64url' : '?';
  return createHash('sha256').update(bytes).digest('hex').slice(0, 8);
}

function byteLength(b64: unknown): string {
  const bytes = looseBytes(b64);
  if (bytes === undefined) return typeof b64 === 'string' ? 'not base64url' : '?';
  return `${bytes.length} B`;
}

function clock(seconds: number): string {
  return Number.isFinite(seconds) && seconds < 8.64e12
    ? new Date(seconds * 1000).toISOString().slice(11, 19)
    : String(seconds);
}

/**
 * What the outside of a Fernet token says: everything but the line, which is in the ciphertext. `brief` keeps
 * the token's ends and length only.
 */
export function describeToken(token: unknown, brief = false): string {
  if (typeof token !== 'string') return `token ${quoted(token)}`;
  const outside = `token ${printable(ends(token, 10), 32)} (${token.length} chars`;
  if (brief) return `${outside})`;
  const anatomy = readToken(token);
  if (!anatomy.readable) return `${outside}, unreadable: ${anatomy.code ?? 'error'})`;
  const t = anatomy.token;
  const hex = Buffer.from(t.iv).toString('hex');
  return (
    `${outside}; Fernet v0x${t.version.toString(16)}, ` +
    `stamped ${clock(t.timestamp)} UTC, IV ${hex.slice(0, 8)}…, ${t.ciphertext.length} B of AES-CBC ciphertext, HMAC)`
  );
}

/** A presence body: each change named ("+alice", "-bob (reason)"), then the counted ones. Read leniently. */
function describePresence(body: Fields): string {
  const changes = Array.isArray(body.changes) ? body.changes : [];
  const shown = changes.slice(0, 8).map((c: unknown) => {
    if (!isFields(c)) return quoted(c);
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
  if (!isFields(body)) return `body ${quoted(body)}`;
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
export function describeFrame(data: string, brief = false): FrameLine {
  const { json, fields: frame, type, seq } = readFrame(data);
  if (frame === undefined)
    return { type, seq, text: `${json ? 'JSON but not a frame' : 'not JSON'}: ${printable(data, 60)}` };
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
        text: `record seq ${String(frame.seq)}: ${describeToken(frame.token, brief)}, mac ${typeof frame.mac === 'string' ? printable(ends(frame.mac, 6), 24) : quoted(frame.mac)}`,
      };
    case 'plain':
      return { type, seq, text: `plain seq ${String(frame.seq)}: ${describeBody(frame.body)}` };
    default:
      return { type, seq, text: `type ${quoted(frame.type, 16)}: ${printable(data, 60)}` };
  }
}
