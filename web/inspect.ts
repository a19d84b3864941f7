/**
 * The wire inspector's model: one frame as it crossed the wire (a WireEvent, with the body the page sent or read
 * and what became of the frame's checks) taken apart into rows a student can read. Each row has the field's
 * name, its value exactly as on the wire or decoded from it, what it is in one sentence, and whether it can be
 * copied. docs/protocol.md sections 4-7 define every field named here.
 *
 * Pure: no DOM, no clock, no crypto calls. The session did the checks; this only reports them. It reads frames
 * through shared/wire-read.ts, as tools/wire-format.ts does for the terminal: leniently, since a frame the session
 * refused is shown all the same (that is the point), so nothing here trusts the wire or throws on it.
 */
import type { HandshakeStep } from '../shared/client-session.ts';
import type { FrameCheck } from '../shared/record.ts';
import { toBase64Url, toHex } from '../shared/bytes.ts';
import type { ErrorCode } from '../shared/errors.ts';
import type { ClientBody, ServerBody } from '../shared/protocol.ts';
import { rsaKeyInfo } from '../shared/rsa-spki.ts';
import { printable, shownLine } from '../shared/text.ts';
import {
  isP256Spki,
  looseBytes,
  readFrame,
  readToken,
  route,
  type Fields,
  type TokenPart,
} from '../shared/wire-read.ts';
import { presenceLines } from './chat-log.ts';
import { STEPS } from './steps.ts';
import type { StepEvent, WireEvent } from './wire-log.ts';

/** How a check came out, as a row or a frame shows it. */
export type Verdict = 'made' | 'verified' | 'failed' | 'unchecked' | 'plain';

export interface CheckView {
  verdict: Verdict;
  /** A few words: "verified", "failed", "made by this page". */
  label: string;
  /** One sentence: what was checked, or what failed. */
  detail: string;
}

export interface FieldRow {
  /** Stable name of the field, for tests and styles: "publicKey", "iv", "hmac", ... */
  key: string;
  label: string;
  /** Exactly what a copy puts on the clipboard. */
  value: string;
  /** What the field is, in one sentence a student understands. */
  explain: string;
  /** Facts about the value: its size, its encoding, what it decodes to. */
  note: string;
  /** Bytes (hex, base64url) and JSON are shown in a fixed-width font; words and dates are not. */
  mono: boolean;
  copyable: boolean;
  /** The value can be read by anyone on the network (a plain frame's body). */
  exposed: boolean;
  /** For a MAC or a signature: what its check said. */
  check: CheckView | undefined;
}

export interface FieldGroup {
  key: 'wire' | 'token' | 'mac' | 'handshake' | 'steps' | 'body';
  title: string;
  /** One sentence about the group as a whole. */
  explain: string;
  rows: FieldRow[];
  /** Token groups only: the token's bytes in order. */
  parts: TokenPart[];
}

/** What a record or plain frame carries, shown beside its fields. */
export interface InsideView {
  /** "Decrypted by this page", "Encrypted by this page", "Readable by anyone on the network", "Not decrypted". */
  label: string;
  /** The chat line itself, or what the body says. Empty when the frame was never opened. */
  text: string;
  /** The body's kind and numbers: "line #0", "receipt for line #0", ... or why there is no text. */
  detail: string;
  /** The body as JSON text; empty when there is none. */
  json: string;
  exposed: boolean;
}

/** Enough to list a frame: one line, cheap to make for hundreds. */
export interface FrameSummary {
  index: number;
  direction: 'out' | 'in';
  /** "page → server" or "server → page". */
  route: string;
  arrow: '→' | '←';
  /** The frame's `type` ("hello", "welcome", "record", "plain"), or "?" when it has none or is not JSON. */
  type: string;
  seq: number | undefined;
  /** "hello", "record 3", ... */
  title: string;
  /** What it carries, in a few words; for a record, what the page read or sealed in it. */
  gist: string;
  at: number;
  /** UTF-8 bytes of the WebSocket payload. */
  size: number;
  connection: number;
  /** A plain frame: its body crossed the network readable by anyone. */
  exposed: boolean;
  check: CheckView;
}

export interface FrameView extends FrameSummary {
  inside: InsideView | undefined;
  groups: FieldGroup[];
}

export const ROUTE = { out: route('c2s'), in: route('s2c') } as const;
const ARROW = { out: '→', in: '←' } as const;

/** The sentences a student reads beside each field. */
export const EXPLAIN = {
  raw: 'Exactly what crossed the network: what Wireshark, or anyone on the path, sees.',
  type: 'Which kind of frame this is; the receiver decides what to do with it from this field.',
  seq: "This direction's frame counter (0, 1, 2, …): a frame arriving with any other number, a replay or a reordering, is refused.",
  version: 'The wirechat protocol version; a peer that speaks another version is refused.',
  helloName: 'The name you asked for, sent in the clear: the handshake does not hide it.',
  publicKey:
    "This tab's public key, made fresh for this connection: the server locks the session keys with it, and only this tab's private key, which never leaves the browser, can unlock them.",
  helloNonce:
    '32 random bytes from this page that make this handshake unlike any other, so an old recorded handshake cannot be played back.',
  acceptPlain: 'Whether you allowed plain mode; when false, the page refuses a server that will not encrypt.',
  mode: '"secure": every frame after this one is encrypted; "plain": none is.',
  welcomeName: 'The name the server gave you (made unique); the signature covers it.',
  sessionId:
    '16 random bytes that name this session; every record HMAC covers them, so a record cannot be moved into another session.',
  welcomeNonce:
    "The server's 32 random bytes; with the page's nonce they make this handshake, and its signature, unique.",
  time: "The server's clock when it answered; the page stamps and checks every token on the server's time.",
  serverKey:
    "The server's long-term public key: its SHA-256 is the fingerprint under Server identity, and it checks the signature below.",
  wrappedKeys:
    "The session keys (64 random bytes) locked with this tab's public key: anyone watching sees only this, and cannot unlock it.",
  signature:
    "The server's signature over the whole handshake (both keys, both nonces, the session id, the wrapped keys): if anyone changed a byte of it, the check fails.",
  token: 'The Fernet token: the encrypted body with its own timestamp, IV and HMAC, in base64url.',
  fernetVersion: "Fernet's format version: always 0x80.",
  timestamp: 'When the token was made; one older than 120 s, or over 60 s ahead, is refused.',
  iv: '16 random bytes that make the same line encrypt differently every time.',
  ciphertext: 'The body encrypted with AES-128-CBC under the session key: without the key, noise.',
  ciphertextB64: 'The same ciphertext bytes in base64url, the way the token spells them.',
  hmac: 'HMAC-SHA256 of the version, timestamp, IV and ciphertext: proves the token was made with the session key and not changed.',
  mac: 'HMAC-SHA256 of the token with its direction, seq and session id: pins the token to its place, so it cannot be replayed, reflected or moved.',
  body: 'The message itself, in the clear: anyone on the network can read it, and change it unnoticed.',
} as const;

/** Which steps each handshake frame shows: the ones that lead to sending it, or follow from receiving it. */
const FRAME_STEPS: Record<string, readonly HandshakeStep[]> = {
  hello: ['keypair', 'hello'],
  welcome: ['welcome', 'verified', 'trusted', 'unwrapped', 'ready'],
};

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** "2026-11-27 15:59:06 UTC" from milliseconds since the epoch; the milliseconds too when asked. */
export function utcDate(ms: number, withMs = false): string {
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return 'not a date';
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, withMs ? 23 : 19)} UTC`;
}

/** HH:MM:SS.mmm in this machine's time zone, for the frame list. */
export function clockTime(at: number): string {
  const d = new Date(at);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** 1 234 bytes. */
export function byteCount(n: number): string {
  return `${n.toLocaleString('en-US').replace(/,/g, ' ')} ${n === 1 ? 'byte' : 'bytes'}`;
}

// ---- rows ---------------------------------------------------------------------------------------------------

function row(key: string, label: string, value: string, explain: string, extra: Partial<FieldRow> = {}): FieldRow {
  return {
    key,
    label,
    value,
    explain,
    note: '',
    mono: true,
    copyable: true,
    exposed: false,
    check: undefined,
    ...extra,
  };
}

function words(key: string, label: string, value: string, explain: string, extra: Partial<FieldRow> = {}): FieldRow {
  return row(key, label, value, explain, { mono: false, ...extra });
}

/** A string field from the wire shown as it is, or what stands there instead. */
function text(value: unknown): string {
  if (typeof value === 'string') return value;
  return value === undefined ? '(missing)' : JSON.stringify(value);
}

/** A base64url field: its bytes as hex, with the wire spelling in the note. */
function hexRow(key: string, label: string, b64: unknown, explain: string, extra: Partial<FieldRow> = {}): FieldRow {
  const bytes = looseBytes(b64);
  if (bytes === undefined) return row(key, label, text(b64), explain, { note: 'not base64url', ...extra });
  return row(key, label, toHex(bytes), explain, {
    note: `${byteCount(bytes.length)}, hex (base64url on the wire: ${text(b64).length} characters)`,
    ...extra,
  });
}

/** A base64url field shown as on the wire, its size in the note. */
function b64Row(
  key: string,
  label: string,
  b64: unknown,
  explain: string,
  what: string,
  extra: Partial<FieldRow> = {},
): FieldRow {
  const bytes = looseBytes(b64);
  const note =
    bytes === undefined ? 'not base64url' : `${byteCount(bytes.length)}${what === '' ? '' : `, ${what}`}; base64url`;
  return row(key, label, text(b64), explain, { note, ...extra });
}

function rawGroup(event: WireEvent, frame: Fields | undefined): FieldGroup {
  const rows = [
    row('raw', 'Frame', event.data, EXPLAIN.raw, {
      note: `${byteCount(event.size)} of ${frame === undefined ? 'text' : 'JSON text'}`,
    }),
  ];
  return { key: 'wire', title: 'On the wire', explain: 'What was sent, byte for byte.', rows, parts: [] };
}

function seqRow(seq: unknown): FieldRow {
  return words('seq', 'seq', text(seq), EXPLAIN.seq, {
    note: typeof seq === 'number' ? `frame ${seq + 1} this way` : '',
  });
}

// ---- checks -------------------------------------------------------------------------------------------------

const MADE: CheckView = {
  verdict: 'made',
  label: 'made by this page',
  detail: 'This page computed it with the session key; the server checks it.',
};

/** The check whose own failure each code is; any other code that ended the chat is another check's. */
const FAILED_CHECK: Partial<Record<ErrorCode, FrameCheck>> = {
  RECORD_BAD_SEQUENCE: 'sequence',
  RECORD_BAD_MAC: 'record-mac',
  FERNET_BAD_MAC: 'fernet-mac',
  HANDSHAKE_BAD_SIGNATURE: 'signature',
};

/**
 * What became of one check of an incoming frame, from what the session reported (WireEvent.passed) and the error,
 * if any, that ended the chat on this frame: passed; failed (the error is this check's own); or not run, because
 * the chat ended first on another check. Nothing here depends on the order the checks run in.
 */
function checkOutcome(
  event: WireEvent,
  which: FrameCheck,
  passed: string,
  failedToo: readonly ErrorCode[] = [],
): CheckView {
  const check = event.check;
  if (check.state === 'made') return MADE;
  if (event.passed.includes(which)) {
    const later = check.state === 'failed' ? ` A later check failed (${check.code}).` : '';
    return { verdict: 'verified', label: 'verified', detail: passed + later };
  }
  if (check.state === 'failed') {
    return FAILED_CHECK[check.code] === which || failedToo.includes(check.code)
      ? { verdict: 'failed', label: 'failed', detail: `${check.code}: ${check.message}` }
      : {
          verdict: 'unchecked',
          label: 'not checked',
          detail: `Not checked: another check failed first (${check.code}).`,
        };
  }
  return { verdict: 'unchecked', label: 'not checked', detail: 'Not checked (yet): the chat may have ended first.' };
}

/** What became of a record's outer MAC or its Fernet HMAC. */
export function recordMacCheck(event: WireEvent, which: 'record-mac' | 'fernet-mac'): CheckView {
  const name = which === 'record-mac' ? 'record HMAC' : 'Fernet HMAC';
  return checkOutcome(event, which, `The ${name} matched, computed again with the session key.`);
}

/** The frame's outcome as one verdict, for the list. */
function frameCheck(event: WireEvent, type: string): CheckView {
  const check = event.check;
  if (type === 'plain') {
    return check.state === 'failed'
      ? { verdict: 'failed', label: 'refused', detail: `${check.code}: ${check.message}` }
      : {
          verdict: 'plain',
          label: event.direction === 'out' ? 'sent in the clear' : 'not protected',
          detail: 'A plain frame has no MAC: nothing can show whether someone on the way read or changed it.',
        };
  }
  switch (check.state) {
    case 'made':
      return type === 'record'
        ? {
            verdict: 'made',
            label: 'made by this page',
            detail: 'Sealed here with the session keys; the server checks both HMACs.',
          }
        : {
            verdict: 'made',
            label: 'sent by this page',
            detail: 'Nothing in it is secret; the server signs what it answers.',
          };
    case 'pending':
      return {
        verdict: 'unchecked',
        label: 'not checked',
        detail: 'Not checked (yet): the chat may have ended first.',
      };
    case 'passed':
      return type === 'welcome'
        ? {
            verdict: 'verified',
            label: 'signature verified',
            detail: "The server's signature over the handshake checked out.",
          }
        : { verdict: 'verified', label: 'verified', detail: 'Both HMACs matched, then the page decrypted it.' };
    case 'failed':
      return { verdict: 'failed', label: 'failed', detail: `${check.code}: ${check.message}` };
  }
}

/** The welcome's signature; a server key that cannot be read (HANDSHAKE_BAD_KEY before it) fails it too. */
function signatureCheck(event: WireEvent): CheckView {
  return checkOutcome(event, 'signature', 'Checked with the server key above, over the transcript this page rebuilt.', [
    'HANDSHAKE_BAD_KEY',
  ]);
}

// ---- bodies -------------------------------------------------------------------------------------------------

/** What a body says, for a person: the line itself, or what happened. */
export function bodyText(body: ClientBody | ServerBody): { text: string; detail: string } {
  switch (body.kind) {
    case 'line':
      if ('from' in body) {
        const how = `${body.direct ? ', direct message' : ''}${body.late ? ', said while you were away' : ''}`;
        return { text: shownLine(body.text), detail: `line #${body.n} of the chat, from ${body.from}${how}` };
      }
      return { text: shownLine(body.text), detail: `line #${body.id}` };
    case 'bye':
      return { text: body.word, detail: 'bye: you left the chat' };
    case 'receipt':
      return {
        text:
          body.status === 'delivered'
            ? `your line #${body.id} was delivered, as line #${body.n} of the chat`
            : `your line #${body.id} failed: ${printable(body.reason, 256)}`,
        detail: `receipt for line #${body.id}`,
      };
    case 'presence': {
      const joined = body.changes.filter((c) => c.change === 'joined').length + body.moreJoined;
      const left = body.changes.length + body.moreJoined + body.moreLeft - joined;
      return { text: presenceLines(body).join(' '), detail: `presence: ${joined} joined, ${left} left` };
    }
    case 'end':
      return {
        text: body.reason === '' ? 'the chat is over' : `${printable(body.reason, 256)} (${body.code})`,
        detail: 'end of the chat',
      };
    case 'resume':
      return {
        text: `back after a drop, with line #${body.last}`,
        detail: 'resume: the secret from the last seat, inside this session',
      };
    case 'seat':
      return {
        text: `your resume secret, from line #${body.last}`,
        detail: 'seat: single use, for the next reconnect',
      };
    case 'resumed':
      return {
        text: body.recovered
          ? `back as ${body.name}: ${body.replayed} lines replayed`
          : `joined as ${body.name}: nothing recovered (${body.reason})`,
        detail: 'resumed: the answer to the resume',
      };
  }
}

function inside(event: WireEvent, type: string): InsideView | undefined {
  if (type !== 'record' && type !== 'plain') return undefined;
  const exposed = type === 'plain';
  const body = event.body;
  if (body === undefined) {
    const why =
      event.check.state === 'failed'
        ? 'It failed its checks, so the page never decrypted it: a frame is opened only once both HMACs match.'
        : 'The chat ended before the page got to it.';
    return { label: exposed ? 'Not accepted' : 'Not decrypted', text: '', detail: why, json: '', exposed };
  }
  const label = exposed
    ? 'Readable by anyone on the network'
    : event.direction === 'out'
      ? 'Encrypted by this page'
      : 'Decrypted by this page';
  return { label, ...bodyText(body), json: JSON.stringify(body), exposed };
}

// ---- frames -------------------------------------------------------------------------------------------------

function gist(event: WireEvent, type: string, frame: Fields | undefined): string {
  if (frame === undefined) return event.check.state === 'failed' ? 'unreadable: refused' : 'unreadable';
  switch (type) {
    case 'hello': {
      const key = looseBytes(frame.publicKey);
      const info = key && rsaKeyInfo(key);
      return `public key (RSA ${info?.bits ?? '?'}) and nonce`;
    }
    case 'welcome':
      return `${text(frame.mode)}: server key, ${frame.mode === 'plain' ? 'no keys' : 'wrapped keys'}, signature`;
    case 'record':
    case 'plain': {
      if (event.body === undefined) return event.check.state === 'failed' ? 'refused, never opened' : 'not opened';
      const { text: said, detail } = bodyText(event.body);
      return event.body.kind === 'line' ? `${detail}: “${said}”` : said;
    }
    default:
      return `unknown type ${text(frame.type)}`;
  }
}

/** One line about a frame, for the list. */
export function summarize(event: WireEvent): FrameSummary {
  const { fields: frame, type, seq } = readFrame(event.data);
  return {
    index: event.index,
    direction: event.direction,
    route: ROUTE[event.direction],
    arrow: ARROW[event.direction],
    type,
    seq,
    title: seq === undefined ? type : `${type} ${seq}`,
    gist: gist(event, type, frame),
    at: event.at,
    size: event.size,
    connection: event.connection,
    exposed: type === 'plain',
    check: frameCheck(event, type),
  };
}

/** A frame taken apart: every field with what it is, and what the page read from it. */
export function inspect(event: WireEvent, steps: readonly StepEvent[] = []): FrameView {
  const summary = summarize(event);
  const frame = readFrame(event.data).fields;
  const groups = [rawGroup(event, frame)];
  if (frame !== undefined) {
    switch (summary.type) {
      case 'hello':
        groups.push(helloGroup(frame));
        break;
      case 'welcome':
        groups.push(welcomeGroup(event, frame));
        break;
      case 'record':
        groups.push(tokenGroup(event, frame.token), macGroup(event, frame.seq, frame.mac));
        break;
      case 'plain':
        groups.push(plainGroup(frame.seq, frame.body));
        break;
      default:
        break;
    }
  }
  const timing = stepGroup(event, summary.type, steps);
  if (timing !== undefined) groups.push(timing);
  return { ...summary, inside: inside(event, summary.type), groups };
}

function helloGroup(frame: Fields): FieldGroup {
  const key = looseBytes(frame.publicKey);
  const info = key && rsaKeyInfo(key);
  const keyNote = info === undefined ? 'not an RSA key' : `RSA-OAEP ${info.bits}, e=${info.exponent}`;
  return {
    key: 'handshake',
    title: 'Hello: what this page offers',
    explain: 'Nothing here is secret: a public key is made to be seen.',
    rows: [
      words('version', 'version', text(frame.version), EXPLAIN.version),
      words('name', 'name', text(frame.name), EXPLAIN.helloName),
      b64Row('publicKey', 'public key', frame.publicKey, EXPLAIN.publicKey, `SPKI DER, ${keyNote}`),
      hexRow('nonce', 'nonce', frame.nonce, EXPLAIN.helloNonce),
      words('acceptPlain', 'accept plain', text(frame.acceptPlain), EXPLAIN.acceptPlain),
    ],
    parts: [],
  };
}

function welcomeGroup(event: WireEvent, frame: Fields): FieldGroup {
  const serverKey = looseBytes(frame.serverKey);
  const keyNote = serverKey === undefined ? '' : isP256Spki(serverKey) ? 'SPKI DER, ECDSA P-256' : 'not a P-256 key';
  const wrapped = looseBytes(frame.wrappedKeys);
  const time = typeof frame.time === 'number' ? frame.time : NaN;
  return {
    key: 'handshake',
    title: "Welcome: the server's answer, signed",
    explain: 'The page uses none of it until the signature checks out.',
    rows: [
      words('mode', 'mode', text(frame.mode), EXPLAIN.mode),
      words('name', 'name', text(frame.name), EXPLAIN.welcomeName),
      hexRow('sessionId', 'session id', frame.sessionId, EXPLAIN.sessionId),
      hexRow('nonce', 'nonce', frame.nonce, EXPLAIN.welcomeNonce),
      words('time', 'time', utcDate(time, true), EXPLAIN.time, { note: `${text(frame.time)} ms since 1970` }),
      b64Row('serverKey', 'server key', frame.serverKey, EXPLAIN.serverKey, keyNote),
      wrapped !== undefined && wrapped.length === 0
        ? words('wrappedKeys', 'wrapped keys', '(empty: plain mode has no keys)', EXPLAIN.wrappedKeys, {
            copyable: false,
          })
        : b64Row('wrappedKeys', 'wrapped keys', frame.wrappedKeys, EXPLAIN.wrappedKeys, 'RSA-OAEP ciphertext'),
      hexRow('signature', 'signature', frame.signature, EXPLAIN.signature, { check: signatureCheck(event) }),
    ],
    parts: [],
  };
}

function tokenGroup(event: WireEvent, token: unknown): FieldGroup {
  const title = 'Fernet token, taken apart';
  const anatomy = readToken(text(token));
  if (!anatomy.readable) {
    const why = anatomy.code === undefined ? anatomy.why : `${anatomy.code}: ${anatomy.why}`;
    return {
      key: 'token',
      title,
      explain: `The token cannot be taken apart (${why}).`,
      rows: [row('token', 'token', text(token), EXPLAIN.token, { note: `${text(token).length} characters` })],
      parts: [],
    };
  }
  const { token: parsed, parts, bytes: total } = anatomy;
  return {
    key: 'token',
    title,
    explain: `The token field decoded from base64url: ${total} bytes, laid out as the Fernet spec says.`,
    rows: [
      row('version', 'version', `0x${parsed.version.toString(16)}`, EXPLAIN.fernetVersion, { note: '1 byte' }),
      words('timestamp', 'timestamp', utcDate(parsed.timestamp * 1000), EXPLAIN.timestamp, {
        note: `8 bytes: ${parsed.timestamp} s since 1970`,
      }),
      row('iv', 'IV', toHex(parsed.iv), EXPLAIN.iv, { note: '16 bytes, hex' }),
      row('ciphertext', 'ciphertext', toHex(parsed.ciphertext), EXPLAIN.ciphertext, {
        note: `${byteCount(parsed.ciphertext.length)} (${plural(parsed.ciphertext.length / 16, 'AES block')}), hex`,
      }),
      row('hmac', 'Fernet HMAC', toHex(parsed.hmac), EXPLAIN.hmac, {
        note: '32 bytes, hex',
        check: recordMacCheck(event, 'fernet-mac'),
      }),
      row('ciphertextB64', 'ciphertext (base64url)', toBase64Url(parsed.ciphertext), EXPLAIN.ciphertextB64, {
        note: `${byteCount(parsed.ciphertext.length)}, base64url`,
      }),
      row('token', 'whole token', text(token), EXPLAIN.token, {
        note: `${text(token).length} characters = ${byteCount(total)}`,
      }),
    ],
    parts,
  };
}

function macGroup(event: WireEvent, seq: unknown, mac: unknown): FieldGroup {
  return {
    key: 'mac',
    title: 'Its place in the session, and the record HMAC',
    explain: 'The HMAC wirechat adds around the token, checked before the token is even decoded.',
    rows: [seqRow(seq), hexRow('mac', 'record HMAC', mac, EXPLAIN.mac, { check: recordMacCheck(event, 'record-mac') })],
    parts: [],
  };
}

function plainGroup(seq: unknown, body: unknown): FieldGroup {
  let json: string;
  try {
    json = JSON.stringify(body) ?? '(missing)';
  } catch {
    json = '(unreadable)';
  }
  return {
    key: 'body',
    title: 'Body, in the clear',
    explain: 'Plain mode sends the body as it is: no encryption, no MAC.',
    rows: [seqRow(seq), row('body', 'body', json, EXPLAIN.body, { exposed: true, note: 'JSON, not encrypted' })],
    parts: [],
  };
}

function stepGroup(event: WireEvent, type: string, steps: readonly StepEvent[]): FieldGroup | undefined {
  const wanted = FRAME_STEPS[type];
  if (wanted === undefined) return undefined;
  const mine = steps.filter((s) => s.connection === event.connection);
  const rows: FieldRow[] = [];
  for (const step of wanted) {
    const at = mine.findIndex((s) => s.step === step);
    const found = mine[at];
    if (found === undefined) continue;
    const took = found.ms - (mine[at - 1]?.ms ?? 0);
    rows.push(
      words(`step-${step}`, STEPS[step].label, `${took} ms`, STEPS[step].explain, {
        note: `done ${found.ms} ms after the connection began`,
      }),
    );
  }
  if (rows.length === 0) return undefined;
  return {
    key: 'steps',
    title: type === 'hello' ? 'Time taken before it was sent' : 'Time taken once it arrived',
    explain: 'How long each handshake step took on this page.',
    rows,
    parts: [],
  };
}
