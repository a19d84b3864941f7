/**
 * The wire protocol: what each side may send, as one discriminated union per direction, and the parsers that
 * turn an incoming frame (`unknown` until proven) into one of them or a typed error. docs/protocol.md is the
 * prose version of this file; keep the two in step.
 *
 * Two layers:
 * - frames: the JSON text of each WebSocket message (`hello`, `welcome`, `record`, `plain`);
 * - bodies: what a `record` carries inside its Fernet token (or a `plain` frame carries in the clear):
 *   chat lines, receipts, who joined and left (`presence`), and the end of the chat.
 */
import { utf8Length } from './bytes.ts';
import { WirechatError } from './errors.ts';
import { CONTROL, printable } from './text.ts';
import { MAX_NAME_CHARS, nameProblem, normalizeName, receivedNameProblem } from './names.ts';

/**
 * 2: joins and leaves are announced in batches (`presence`) instead of one `join` or `leave` body each.
 * 3: every line has its chat-wide number (`line.n`, `receipt.n`); a tab that drops resumes its place (`hello.resume`,
 *    the `resume` body, `seat`, `resumed`, lines replayed with `late`), docs/protocol.md 9.1.
 */
export const PROTOCOL_VERSION = 3;

/** Limits that both sides enforce, so that neither trusts the other to. */
export const LIMITS = {
  /** A chat line, counted in UTF-8 bytes (what the wire carries), not in UTF-16 units. */
  maxLineBytes: 4096,
  /** A name, in code points, once normalized (shared/names.ts). */
  maxNameChars: MAX_NAME_CHARS,
  /** Fits the largest line's token with room to spare, and well under the 64 KiB maxPayload. */
  maxTokenChars: 16384,
  maxSeq: Number.MAX_SAFE_INTEGER,
  /** Changes named in one `presence` body; any more are counted, not named. */
  maxPresenceChanges: 20,
  /** A resume secret (server/resume.ts makes them well under this). */
  maxSecretChars: 512,
  /** A chat log epoch (server/log/log.ts: 16 base64url characters). */
  maxEpochChars: 64,
} as const;

export type Mode = 'secure' | 'plain';

// ---- frames, page -> server -------------------------------------------------------------------------------

/** First frame of every connection: the page's RSA-OAEP public key and a fresh nonce. */
export interface HelloFrame {
  type: 'hello';
  version: typeof PROTOCOL_VERSION;
  /** The name the person asked for; the server may add a suffix to keep names unique. */
  name: string;
  /** base64url of the SPKI DER of an RSA-OAEP (SHA-256) public key. */
  publicKey: string;
  /** base64url of 32 random bytes. */
  nonce: string;
  /** Set only when the person ticked the plain-mode opt-in on the page. */
  acceptPlain: boolean;
  /**
   * Set when the page comes back after a drop and will present its resume secret as its first body, inside the
   * session: the server then waits for that body before it names the page or lets it join.
   */
  resume: boolean;
}

/** One authenticated, encrypted body: a Fernet token and the HMAC-SHA256 that binds it to its place. */
export interface RecordFrame {
  type: 'record';
  seq: number;
  /** The Fernet token, padded base64url as the Fernet spec writes it. */
  token: string;
  /** base64url of HMAC-SHA256(macKey, record MAC input), 32 bytes; see shared/record.ts. */
  mac: string;
}

/** Plain mode's stand-in for a record: the body in the clear, for the Wireshark comparison. */
export interface PlainFrame<B> {
  type: 'plain';
  seq: number;
  body: B;
}

export type ClientFrame = HelloFrame | RecordFrame | PlainFrame<ClientBody>;

// ---- frames, server -> page -------------------------------------------------------------------------------

/** The server's answer to `hello`, signed with its long-term identity key. */
export interface WelcomeFrame {
  type: 'welcome';
  version: typeof PROTOCOL_VERSION;
  mode: Mode;
  /** The name the server gave this participant (the asked-for one, made unique). */
  name: string;
  /** base64url of 16 random bytes naming this session; every record MAC covers it. */
  sessionId: string;
  /** base64url of 32 random bytes. */
  nonce: string;
  /** The server's clock in milliseconds since the epoch, so the page can stamp tokens in the server's time. */
  time: number;
  /** base64url of the SPKI DER of the server's ECDSA P-256 identity key. */
  serverKey: string;
  /** Secure mode only: base64url of RSA-OAEP(page's public key, fernetKey || macKey). Empty in plain mode. */
  wrappedKeys: string;
  /** base64url of the ECDSA P-256 / SHA-256 signature (IEEE P1363, 64 bytes) over the handshake transcript. */
  signature: string;
}

export type ServerFrame = WelcomeFrame | RecordFrame | PlainFrame<ServerBody>;

// ---- bodies ----------------------------------------------------------------------------------------------

/** A chat line from the page. `id` numbers the page's own lines so that receipts can name them. */
export interface ClientLine {
  kind: 'line';
  id: number;
  text: string;
}

/** The page leaves (EXIT or END typed in the tab). Authenticated, so nobody can forge or drop it unseen. */
export interface ClientBye {
  kind: 'bye';
  word: string;
}

/**
 * The first body after a welcome answered to a `hello` with `resume: true`: the page's resume secret (from its last
 * `seat`; empty when it has none to give, as in plain mode), and the position it has: the log's epoch and the
 * number of the last line it has. The server answers with the lines missed (`late`), a `resumed` body and a new
 * `seat`.
 */
export interface ClientResume {
  kind: 'resume';
  secret: string;
  epoch: string;
  last: number;
}

export type ClientBody = ClientLine | ClientBye | ClientResume;

export interface ServerLine {
  kind: 'line';
  from: string;
  text: string;
  /** Milliseconds since the epoch, when the server accepted the line. */
  at: number;
  /** Set on a `/msg` from the console: only this participant received it. */
  direct: boolean;
  /** The line's chat-wide number (1, 2, 3, ...): every tab sees the same line under the same number. */
  n: number;
  /** Replayed after a resume: said while this page was away, shown in its place and marked so. */
  late: boolean;
}

export interface ServerReceipt {
  kind: 'receipt';
  id: number;
  status: 'delivered' | 'failed';
  /** Why a line failed, for the person who typed it. Empty when delivered. */
  reason: string;
  /** The line's chat-wide number once delivered (the server's log has it); 0 when failed. */
  n: number;
}

/**
 * The page's place in the chat, sent inside the secure session once it has joined (and after every resume): the
 * resume secret to present after a drop (single use: each `seat` replaces the last), and the log position it
 * starts from. In plain mode `secret` is empty: a secret would cross the network in the clear, and nobody resumes
 * there; the position still lets the server tell a tab that comes back how many lines it missed.
 */
export interface ServerSeat {
  kind: 'seat';
  /** Opaque to the page; at most LIMITS.maxSecretChars. */
  secret: string;
  /** The chat log's epoch: line numbers mean something only within it. */
  epoch: string;
  /** The number of the chat's last line when this seat was given. */
  last: number;
}

/**
 * The answer to a `resume`, after the lines replayed. `recovered`: the page has its old place back (its participant
 * identity, so lines it sends again are recognised, and its name) and every line it missed, unless `reason` is
 * `ahead` (the server lost lines it had confirmed). Not recovered: the page joined as a new participant, was given
 * no history, and `reason` says why: `unknown` (the secret is not one this chat gave, or was already used, or was
 * revoked by EXIT or a kick), `plain` (plain mode resumes nobody), `trimmed` (away longer than the log keeps),
 * `epoch` (the server lost its history). `gone` counts the lines it missed and will not get, where known.
 */
export interface ServerResumed {
  kind: 'resumed';
  /** The name the page has now (its old one when resumed). */
  name: string;
  recovered: boolean;
  reason: '' | ResumeRefusal;
  /** Lines between the page's last and the first one replayed that can never be given back. */
  gone: number;
  /** Lines sent again, marked `late`, just before this body. */
  replayed: number;
}

export const RESUME_REFUSALS = ['unknown', 'plain', 'trimmed', 'epoch', 'ahead'] as const;
export type ResumeRefusal = (typeof RESUME_REFUSALS)[number];

/** One change in a `presence` body: a name that joined, or one that left and why. */
export type PresenceChange = { change: 'joined'; name: string } | { change: 'left'; name: string; reason: string };

/**
 * Who joined and who left since the last `presence` body this page received, in the order it happened (the page's
 * own join is never in it). The first changes are named; the rest are only counted, so that a flood of joins
 * costs the server one body per tab and interval, and the body stays small.
 */
export interface ServerPresence {
  kind: 'presence';
  /** Milliseconds since the epoch, when the server sent the batch. */
  at: number;
  /** At most LIMITS.maxPresenceChanges, oldest first. */
  changes: PresenceChange[];
  /** Joins and leaves after the named ones, counted. */
  moreJoined: number;
  moreLeft: number;
}

/**
 * The chat is over for this participant: the console typed END, kicked them, the server is stopping, or the server
 * refused something this page sent. Only an authenticated `end` ends a chat; a bare close frame is a disconnection.
 */
export interface ServerEnd {
  kind: 'end';
  /** A stable code: one of shared/errors.ts's END_CLOSE or ERROR_CLOSE keys (upper case, digits, underscores). */
  code: string;
  /** The server's words, for the person. */
  reason: string;
}

export type ServerBody = ServerLine | ServerReceipt | ServerPresence | ServerEnd | ServerSeat | ServerResumed;

// ---- parsing ---------------------------------------------------------------------------------------------

type Obj = Record<string, unknown>;

function fail(message: string): never {
  throw new WirechatError('PROTO_BAD_SHAPE', message);
}

function object(value: unknown, what: string): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${what} must be a JSON object`);
  return value as Obj;
}

/** Extra fields are refused: a frame means exactly what its type says, nothing smuggled beside it. */
function exactKeys(obj: Obj, keys: readonly string[], what: string): void {
  for (const key of Object.keys(obj)) if (!keys.includes(key)) fail(`${what} has an unknown field ${describe(key)}`);
  for (const key of keys) if (!(key in obj)) fail(`${what} lacks the field "${key}"`);
}

function str(obj: Obj, key: string, what: string, max: number): string {
  const value = obj[key];
  if (typeof value !== 'string') fail(`${what}.${key} must be a string`);
  if (value.length > max) fail(`${what}.${key} is longer than ${max} characters`);
  return value;
}

const B64URL = /^[A-Za-z0-9_-]*={0,2}$/;

function b64(obj: Obj, key: string, what: string, max: number): string {
  const value = str(obj, key, what, max);
  if (!B64URL.test(value)) throw new WirechatError('BAD_BASE64', `${what}.${key} is not base64url`);
  return value;
}

/** A resume secret: base64url pieces joined by dots (server/resume.ts), opaque to the page. */
function b64dot(obj: Obj, key: string, what: string, max: number): string {
  const value = str(obj, key, what, max);
  if (!/^[A-Za-z0-9_.-]*$/.test(value)) throw new WirechatError('BAD_BASE64', `${what}.${key} is not base64url pieces`);
  return value;
}

/** A `seat` or a `resume`: the same three fields, a secret and a position in the chat log. */
function place(obj: Obj, what: 'seat' | 'resume'): { secret: string; epoch: string; last: number } {
  exactKeys(obj, ['kind', 'secret', 'epoch', 'last'], what);
  return {
    secret: b64dot(obj, 'secret', what, LIMITS.maxSecretChars),
    epoch: b64(obj, 'epoch', what, LIMITS.maxEpochChars),
    last: uint(obj, 'last', what),
  };
}

/** A line's chat-wide number: 1 or more. */
function lineNumber(obj: Obj, what: string): number {
  const n = uint(obj, 'n', what);
  if (n < 1) fail(`${what}.n must be 1 or more`);
  return n;
}

function uint(obj: Obj, key: string, what: string): number {
  const value = obj[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    fail(`${what}.${key} must be a non-negative integer`);
  }
  return value;
}

function bool(obj: Obj, key: string, what: string): boolean {
  const value = obj[key];
  if (typeof value !== 'boolean') fail(`${what}.${key} must be true or false`);
  return value;
}

// What lines, names and words may not contain, and how wire text is shown: one home, shared/text.ts.
export { printable };

/** A value from the wire, named for an error message without trusting it (see printable). */
function describe(value: unknown): string {
  if (typeof value === 'string') return `"${printable(value, 32)}"`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined)
    return String(value);
  // Never JSON.stringify it: a deeply nested array would overflow the stack.
  return Array.isArray(value) ? 'an array' : 'an object';
}

/**
 * Why a name the server sends (welcome, line, join, leave) is not one, or undefined: shared/names.ts's rules as a
 * receiver can judge them (receivedNameProblem), and the normal form the server keeps names in. A hello's name is
 * the person's own typing: see helloName.
 */
export function checkName(name: string): string | undefined {
  // A chat's lines come from a few names, again and again: one that passed is not judged again. The answer is a
  // function of the string alone, so remembering it changes no answer; the set is bounded, whatever a peer sends.
  if (namesPassed.has(name)) return undefined;
  const problem = receivedNameProblem(name);
  if (problem !== undefined) return problem;
  if (normalizeName(name) !== name) return 'a name is sent in its normal form (see shared/names.ts)';
  if (namesPassed.size >= NAMES_REMEMBERED) namesPassed.clear();
  namesPassed.add(name);
  return undefined;
}

/** Names checkName passed (a name is at most 64 characters): at most this many, then forgotten all at once. */
const NAMES_REMEMBERED = 256;
const namesPassed = new Set<string>();

/** The name a hello asks for, as typed (the server normalizes it). Refused with NAME_REFUSED, for the name field. */
function helloName(obj: Obj): string {
  const value = str(obj, 'name', 'hello', 64);
  const problem = nameProblem(value);
  if (problem !== undefined) throw new WirechatError('NAME_REFUSED', problem);
  return value;
}

/** Why a chat line cannot be sent, or undefined when it can. Tabs and newlines are refused like other controls. */
export function checkLine(text: string): string | undefined {
  // A line of spaces says nothing: the console skips one typed there, and no side sends or relays one.
  if (text.trim() === '') return 'an empty line is not sent';
  // A UTF-16 code unit is at most 3 bytes of UTF-8: a line of up to a third of the limit in units is not counted.
  if (text.length > LIMITS.maxLineBytes / 3) {
    const bytes = utf8Length(text);
    if (bytes > LIMITS.maxLineBytes)
      return `a line has at most ${LIMITS.maxLineBytes} bytes of UTF-8 (this one has ${bytes})`;
  }
  if (CONTROL.test(text)) return 'a line cannot contain control characters';
  return undefined;
}

/** A stable code (`LIMIT_RATE`, `KICKED`): safe to show as it is, and a page may word known ones itself. */
function checkCode(code: string): string | undefined {
  return /^[A-Z][A-Z0-9_]*$/.test(code) ? undefined : 'a code is upper-case letters, digits and underscores';
}

function checkWord(word: string): string | undefined {
  return CONTROL.test(word) ? 'a word cannot contain control characters' : undefined;
}

function text(obj: Obj, key: string, what: string, check: (value: string) => string | undefined, max: number): string {
  const value = str(obj, key, what, max);
  const problem = check(value);
  if (problem !== undefined) fail(`${what}.${key}: ${problem}`);
  return value;
}

/** Parses a WebSocket text frame's JSON. Anything but an object with a known `type` is an error. */
function frameObject(data: string): Obj {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    throw new WirechatError('PROTO_BAD_JSON', 'the frame is not JSON');
  }
  return object(value, 'a frame');
}

function seqFrame(obj: Obj): { seq: number } {
  return { seq: uint(obj, 'seq', obj.type as string) };
}

function recordFrame(obj: Obj): RecordFrame {
  exactKeys(obj, ['type', 'seq', 'token', 'mac'], 'record');
  return {
    type: 'record',
    ...seqFrame(obj),
    token: b64(obj, 'token', 'record', LIMITS.maxTokenChars),
    mac: b64(obj, 'mac', 'record', 64),
  };
}

function version(obj: Obj, what: string): typeof PROTOCOL_VERSION {
  const value = obj.version;
  if (value !== PROTOCOL_VERSION) {
    throw new WirechatError(
      'HANDSHAKE_VERSION',
      `${what} speaks version ${describe(value)}, this side speaks ${PROTOCOL_VERSION}`,
    );
  }
  return PROTOCOL_VERSION;
}

export function parseClientFrame(data: string): ClientFrame {
  const obj = frameObject(data);
  switch (obj.type) {
    case 'hello':
      // The version first: a later version may have other fields, and its peer deserves to hear "version".
      version(obj, 'hello');
      exactKeys(obj, ['type', 'version', 'name', 'publicKey', 'nonce', 'acceptPlain', 'resume'], 'hello');
      return {
        type: 'hello',
        version: PROTOCOL_VERSION,
        name: helloName(obj),
        publicKey: b64(obj, 'publicKey', 'hello', 4096),
        nonce: b64(obj, 'nonce', 'hello', 64),
        acceptPlain: bool(obj, 'acceptPlain', 'hello'),
        resume: bool(obj, 'resume', 'hello'),
      };
    case 'record':
      return recordFrame(obj);
    case 'plain':
      exactKeys(obj, ['type', 'seq', 'body'], 'plain');
      return { type: 'plain', ...seqFrame(obj), body: parseClientBody(obj.body) };
    default:
      throw new WirechatError('PROTO_UNKNOWN_TYPE', `unknown frame type ${describe(obj.type)}`);
  }
}

export function parseServerFrame(data: string): ServerFrame {
  const obj = frameObject(data);
  switch (obj.type) {
    case 'welcome': {
      version(obj, 'welcome');
      exactKeys(
        obj,
        ['type', 'version', 'mode', 'name', 'sessionId', 'nonce', 'time', 'serverKey', 'wrappedKeys', 'signature'],
        'welcome',
      );
      const mode = obj.mode;
      if (mode !== 'secure' && mode !== 'plain') fail('welcome.mode must be "secure" or "plain"');
      return {
        type: 'welcome',
        version: PROTOCOL_VERSION,
        mode,
        name: text(obj, 'name', 'welcome', checkName, 64),
        sessionId: b64(obj, 'sessionId', 'welcome', 64),
        nonce: b64(obj, 'nonce', 'welcome', 64),
        time: uint(obj, 'time', 'welcome'),
        serverKey: b64(obj, 'serverKey', 'welcome', 1024),
        wrappedKeys: b64(obj, 'wrappedKeys', 'welcome', 4096),
        signature: b64(obj, 'signature', 'welcome', 256),
      };
    }
    case 'record':
      return recordFrame(obj);
    case 'plain':
      exactKeys(obj, ['type', 'seq', 'body'], 'plain');
      return { type: 'plain', ...seqFrame(obj), body: parseServerBody(obj.body) };
    default:
      throw new WirechatError('PROTO_UNKNOWN_TYPE', `unknown frame type ${describe(obj.type)}`);
  }
}

export function parseClientBody(value: unknown): ClientBody {
  const obj = object(value, 'a body');
  switch (obj.kind) {
    case 'line':
      exactKeys(obj, ['kind', 'id', 'text'], 'line');
      return {
        kind: 'line',
        id: uint(obj, 'id', 'line'),
        text: text(obj, 'text', 'line', checkLine, LIMITS.maxLineBytes),
      };
    case 'bye':
      exactKeys(obj, ['kind', 'word'], 'bye');
      // The server prints the word on its console and relays it to the other tabs: no control characters.
      return { kind: 'bye', word: text(obj, 'word', 'bye', checkWord, 16) };
    case 'resume':
      return { kind: 'resume', ...place(obj, 'resume') };
    default:
      return fail(`unknown body kind ${describe(obj.kind)}`);
  }
}

export function parseServerBody(value: unknown): ServerBody {
  const obj = object(value, 'a body');
  switch (obj.kind) {
    case 'line':
      exactKeys(obj, ['kind', 'from', 'text', 'at', 'direct', 'n', 'late'], 'line');
      return {
        kind: 'line',
        from: text(obj, 'from', 'line', checkName, 64),
        text: text(obj, 'text', 'line', checkLine, LIMITS.maxLineBytes),
        at: uint(obj, 'at', 'line'),
        direct: bool(obj, 'direct', 'line'),
        n: lineNumber(obj, 'line'),
        late: bool(obj, 'late', 'line'),
      };
    case 'receipt': {
      exactKeys(obj, ['kind', 'id', 'status', 'reason', 'n'], 'receipt');
      const status = obj.status;
      if (status !== 'delivered' && status !== 'failed') fail('receipt.status must be "delivered" or "failed"');
      const n = uint(obj, 'n', 'receipt');
      // A delivered line has its place; a failed one has none.
      if ((status === 'delivered') !== n > 0) fail("receipt.n is the line's number when delivered, 0 when failed");
      return { kind: 'receipt', id: uint(obj, 'id', 'receipt'), status, reason: str(obj, 'reason', 'receipt', 256), n };
    }
    case 'seat':
      return { kind: 'seat', ...place(obj, 'seat') };
    case 'resumed': {
      exactKeys(obj, ['kind', 'name', 'recovered', 'reason', 'gone', 'replayed'], 'resumed');
      const recovered = bool(obj, 'recovered', 'resumed');
      const reason = obj.reason;
      const known = (RESUME_REFUSALS as readonly unknown[]).includes(reason);
      // A new participant lost everything it missed; only a recovered one can have been told "ahead".
      const fits = recovered ? reason === '' || reason === 'ahead' : known && reason !== 'ahead';
      if (!fits)
        fail(`resumed.reason is "" or "ahead" when recovered, else one of ${RESUME_REFUSALS.join(', ')} but "ahead"`);
      return {
        kind: 'resumed',
        name: text(obj, 'name', 'resumed', checkName, 64),
        recovered,
        reason: reason as ServerResumed['reason'],
        gone: uint(obj, 'gone', 'resumed'),
        replayed: uint(obj, 'replayed', 'resumed'),
      };
    }
    case 'presence':
      return presence(obj);
    case 'end':
      exactKeys(obj, ['kind', 'code', 'reason'], 'end');
      return { kind: 'end', code: text(obj, 'code', 'end', checkCode, 40), reason: str(obj, 'reason', 'end', 256) };
    default:
      return fail(`unknown body kind ${describe(obj.kind)}`);
  }
}

function presence(obj: Obj): ServerPresence {
  exactKeys(obj, ['kind', 'at', 'changes', 'moreJoined', 'moreLeft'], 'presence');
  const at = uint(obj, 'at', 'presence');
  const list = obj.changes;
  if (!Array.isArray(list)) fail('presence.changes must be an array');
  if (list.length > LIMITS.maxPresenceChanges)
    fail(`presence.changes has more than ${LIMITS.maxPresenceChanges} entries`);
  const changes = list.map((value: unknown): PresenceChange => {
    const entry = object(value, 'a presence change');
    switch (entry.change) {
      case 'joined':
        exactKeys(entry, ['change', 'name'], 'presence.changes[]');
        return { change: 'joined', name: text(entry, 'name', 'presence.changes[]', checkName, 64) };
      case 'left':
        exactKeys(entry, ['change', 'name', 'reason'], 'presence.changes[]');
        return {
          change: 'left',
          name: text(entry, 'name', 'presence.changes[]', checkName, 64),
          reason: str(entry, 'reason', 'presence.changes[]', 256),
        };
      default:
        return fail(`presence.changes[].change must be "joined" or "left", not ${describe(entry.change)}`);
    }
  });
  const moreJoined = uint(obj, 'moreJoined', 'presence');
  const moreLeft = uint(obj, 'moreLeft', 'presence');
  if (changes.length === 0 && moreJoined === 0 && moreLeft === 0) fail('presence says nobody joined or left');
  return { kind: 'presence', at, changes, moreJoined, moreLeft };
}

/** EXIT or END as a whole line, any letter case, spaces around ignored. */
export function isEndWord(line: string): boolean {
  const word = line.trim().toUpperCase();
  return word === 'EXIT' || word === 'END';
}
