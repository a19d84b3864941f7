/**
 * A session's channel: what turns bodies into frames and frames back into bodies, one interface for both modes,
 * so that neither session state machine has a secure/plain branch. Two implementations, side by side:
 *
 * - RecordChannel (secure mode): every body a Fernet token plus an HMAC-SHA256 that binds the token to its place
 *   in this session;
 * - PlainChannel (plain mode): the body in the clear, with its sequence number, for the Wireshark comparison.
 *
 * In secure mode the Fernet token alone authenticates its bytes but not their place, so a recorded token could
 * be replayed, reordered, reflected back to its sender or moved into another session. The outer MAC
 * closes those holes by covering:
 *
 *   "wirechat-record-v1" || direction (1 byte) || seq (u64 big-endian) || sessionId (16 bytes) || token (ASCII)
 *
 * and each side keeps its own counter per direction, so every frame has exactly one place where it verifies.
 */
import { WirechatError } from './errors.ts';
import {
  base64UrlLength,
  concat,
  fromAscii,
  fromBase64Url,
  fromUtf8,
  PartView,
  Scratch,
  utf8,
  utf8Length,
  writeBase64Url,
  writeU64be,
} from './bytes.ts';
import type { CryptoBackend } from './crypto-backend.ts';
import { fernetTokenLength, type Fernet } from './fernet.ts';
import type { SessionSecret } from './handshake.ts';
import { bodyJson } from './json-text.ts';
import { MAC_TAG_LENGTH, type Mac } from './mac.ts';
import { andThen, type MaybePromise } from './maybe-promise.ts';
import type { Mode, PlainFrame, RecordFrame } from './protocol.ts';

export type Direction = 'c2s' | 's2c';
const DIRECTION_BYTE: Record<Direction, number> = { c2s: 1, s2c: 2 };
const LABEL = utf8('wirechat-record-v1');

/** Fernet TTL for records: a frame held back longer than this by someone on the path is refused. */
export const RECORD_TTL_SECONDS = 120;

export interface SessionKeys {
  fernet: Fernet;
  mac: Mac;
}

const textEncoder = new TextEncoder();

/**
 * A session id as a channel keeps it: one character per byte (a one-byte string of 16 characters is about a fifth
 * of the heap a Uint8Array of 16 bytes and its ArrayBuffer take, and every idle secure session holds one).
 */
type SessionIdText = string & { readonly sessionIdText: unique symbol };

function sessionIdText(sessionId: Uint8Array): SessionIdText {
  // In one call, so the string is one flat sequence (appending a character at a time would build a rope of parts).
  // Applied, not spread: spreading a Uint8Array walks it with the iterator protocol, about 7,000 instructions for
  // 16 bytes under callgrind (one per secure handshake on the server), several times what apply costs.
  return Reflect.apply(String.fromCharCode, null, sessionId) as SessionIdText;
}

/** The length of the MAC input's fixed part: label ‖ direction (1 byte) ‖ seq (8 bytes) ‖ session id. */
function macHeadLength(sessionId: SessionIdText): number {
  return LABEL.length + 1 + 8 + sessionId.length;
}

/** The MAC input's fixed part, label ‖ direction ‖ seq ‖ session id, written at `offset`; returns its end. */
function writeRecordMacHead(
  out: Uint8Array,
  offset: number,
  direction: Direction,
  seq: number,
  sessionId: SessionIdText,
): number {
  out.set(LABEL, offset);
  out[offset + LABEL.length] = DIRECTION_BYTE[direction];
  writeU64be(out, offset + LABEL.length + 1, seq);
  const idStart = offset + LABEL.length + 9;
  for (let i = 0; i < sessionId.length; i++) out[idStart + i] = sessionId.charCodeAt(i);
  return idStart + sessionId.length;
}

/**
 * Built in one buffer: every record sealed or opened needs one, and five small arrays concatenated cost more than
 * the HMAC over them. A token is base64url, so ASCII and one byte a character; a token from the wire that is not
 * (refused later by Fernet, but MACed first) takes the general path, so the bytes MACed are always utf8(token).
 */
export function recordMacInput(direction: Direction, seq: number, sessionId: Uint8Array, token: string): Uint8Array {
  return macInput(direction, seq, sessionIdText(sessionId), token);
}

/** recordMacInput for a channel's own session id; in `scratch` when given (a synchronous open uses it at once). */
function macInput(
  direction: Direction,
  seq: number,
  sessionId: SessionIdText,
  token: string,
  scratch?: Scratch,
): Uint8Array {
  const head = macHeadLength(sessionId);
  if (scratch) {
    // The token's bytes after room for the fixed part, in one call and no view of our own.
    const out = scratch.utf8After(head, token);
    writeRecordMacHead(out, 0, direction, seq, sessionId);
    return out;
  }
  const out = new Uint8Array(head + token.length);
  writeRecordMacHead(out, 0, direction, seq, sessionId);
  const { read, written } = textEncoder.encodeInto(token, out.subarray(head));
  if (read === token.length && written === token.length) return out;
  return concat(out.subarray(0, head), utf8(token));
}

// A record frame's JSON text, as JSON.stringify writes a RecordFrame: {"type":"record","seq":N,"token":"…","mac":"…"}
const FRAME_START = utf8('{"type":"record","seq":');
const FRAME_TOKEN = utf8(',"token":"');
const FRAME_MAC = utf8('","mac":"');
const FRAME_END = utf8('"}');
const MAC_TEXT_LENGTH = base64UrlLength(MAC_TAG_LENGTH);
/** The frame's bytes after the token's text: `","mac":"`, the MAC's text, `"}`. */
const FRAME_TAIL_LENGTH = FRAME_MAC.length + MAC_TEXT_LENGTH + FRAME_END.length;

/** How many decimal digits `seq` has, as String() writes a safe integer (and JSON with it). */
function decimalLength(seq: number): number {
  let digits = 1;
  for (let power = 10; power <= seq; power *= 10) digits++;
  return digits;
}

/** The length of a record frame's JSON start, {"type":"record","seq":N,"token":" */
function frameStartLength(seq: number): number {
  return FRAME_START.length + decimalLength(seq) + FRAME_TOKEN.length;
}

/** `bytes` written into `out` at `offset` (a few constant bytes: a loop, not a call into the runtime); the end. */
function writeBytes(out: Uint8Array, offset: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) out[offset + i] = bytes[i]!;
  return offset + bytes.length;
}

/**
 * What a synchronous seal or open makes and drops within the call (shared/bytes.ts, Scratch): one channel's call
 * runs to completion before any other starts, so every channel in the process can share these. Never used over an
 * asynchronous backend, where a call's bytes must outlive the awaits between its steps.
 */
const plaintextScratch = new Scratch();
const tokenScratch = new Scratch();
const macInputScratch = new Scratch();
const tagScratch = new Scratch();
const layoutScratch = new Scratch();

/**
 * A sealed record laid out in one buffer, around its token's text, written once as base64url where both the MAC
 * input and the frame carry it:
 *
 *   [the MAC input's fixed part | the token's text]            the record MAC's input, one contiguous slice
 *   [the frame's JSON start     | the token's text | the tail] the frame, once the MAC is made
 *
 * The token's text starts after the longer of the fixed part and the frame's start; once the MAC is made,
 * writeRecordFrame writes the frame's start over the fixed part and `","mac":"…"}` after the token. A synchronous
 * seal lays it out in a scratch and copies the frame out in one call; an asynchronous one in memory of its own,
 * whose end is the frame.
 */
class RecordLayout {
  /** Where the token's text starts and ends. */
  readonly tokenStart: number;
  readonly tokenEnd: number;
  /** The layout's whole length: the frame ends there. */
  readonly length: number;

  constructor(tokenLength: number, seq: number, sessionId: SessionIdText) {
    this.tokenStart = Math.max(macHeadLength(sessionId), frameStartLength(seq));
    this.tokenEnd = this.tokenStart + base64UrlLength(tokenLength, true);
    this.length = this.tokenEnd + FRAME_TAIL_LENGTH;
  }
}

/**
 * The MAC input's fixed part and the token's text written into `out` (a RecordLayout's length; when `scratch` is
 * given, the view it handed out last, and `token` the one `tokenScratch` did); where the input starts.
 */
function writeMacInput(
  out: Uint8Array,
  at: RecordLayout,
  token: Uint8Array,
  direction: Direction,
  seq: number,
  sessionId: SessionIdText,
  scratch?: Scratch,
): number {
  const inputStart = at.tokenStart - macHeadLength(sessionId);
  writeRecordMacHead(out, inputStart, direction, seq, sessionId);
  if (scratch) scratch.writeBase64Url(out, at.tokenStart, tokenScratch, token, true);
  else writeBase64Url(token, out, at.tokenStart, true);
  return inputStart;
}

/**
 * The frame's start written over the MAC input's fixed part, and the MAC's text after the token: the frame's JSON
 * text exactly as JSON.stringify writes the RecordFrame (test/shared/record.test.ts holds the two to each other byte
 * for byte). `scratch`, when given, is the one `out` is the last view of (the tag then written through it, as the
 * token's text). Returns where the frame starts; it ends at the layout's end.
 */
function writeRecordFrame(out: Uint8Array, at: RecordLayout, tag: Uint8Array, seq: number, scratch?: Scratch): number {
  if (tag.length !== MAC_TAG_LENGTH) throw new RangeError(`a record MAC is ${MAC_TAG_LENGTH} bytes, not ${tag.length}`);
  const frameStart = at.tokenStart - frameStartLength(seq);
  const digitsEnd = writeBytes(out, frameStart, FRAME_START) + decimalLength(seq);
  // The sequence number's digits, last first; JSON writes a safe integer as String() does.
  let rest = seq;
  for (let i = digitsEnd - 1; ; i--) {
    out[i] = 48 + (rest % 10);
    rest = Math.floor(rest / 10);
    if (rest === 0) break;
  }
  writeBytes(out, digitsEnd, FRAME_TOKEN);
  const macStart = writeBytes(out, at.tokenEnd, FRAME_MAC);
  const macEnd = scratch ? scratch.writeBase64Url(out, macStart, tagScratch, tag) : writeBase64Url(tag, out, macStart);
  writeBytes(out, macEnd, FRAME_END);
  return frameStart;
}

/** The MAC input and the frame within a synchronous seal's layout (a scratch's view): views made once per length. */
const sealedMacInput = new PartView();
const sealedFrame = new PartView();

/** The frame object a record frame's bytes carry, for the sequence number `seq` they were sealed at. */
function frameOf(wire: Uint8Array, seq: number): RecordFrame {
  const macStart = wire.length - FRAME_END.length - MAC_TEXT_LENGTH;
  return {
    type: 'record',
    seq,
    token: fromAscii(wire.subarray(frameStartLength(seq), macStart - FRAME_MAC.length)),
    mac: fromAscii(wire.subarray(macStart, macStart + MAC_TEXT_LENGTH)),
  };
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
    return (this.#plaintext ??= utf8(bodyJson(this.body)));
  }
}

export { whenReady, type MaybePromise } from './maybe-promise.ts';

/**
 * A check an incoming frame passed, as the code that ran it reports it (the page's inspector shows these, and
 * never guesses them from the error that ended the chat): its sequence number, the record's outer HMAC, the
 * Fernet token's own HMAC, the welcome's signature.
 */
export type FrameCheck = 'sequence' | 'record-mac' | 'fernet-mac' | 'signature';

/** Told of each check an incoming frame passes, in the order they run. */
export type CheckListener = (check: FrameCheck) => void;

/**
 * Memory for a frame, exactly `length` bytes, as the caller of sealWire wants it made. The frame sealWire returns
 * is that memory, every byte of it written, and nothing else is kept in it.
 */
export type Allocate = (length: number) => Uint8Array;

/** The frames a channel carries bodies of type `B` in. */
export type ChannelFrame<B> = RecordFrame | PlainFrame<B>;

/**
 * One side of one session, in either mode: `Out` is what this side sends, `In` what it receives. Both calls keep
 * order: frames come out of seal in the order bodies went in, and open takes frames in arrival order, checking
 * the sequence number before anything else. Results may be values or promises (MaybePromise): a caller that
 * handles both (whenReady, or await) works unchanged when a channel becomes synchronous.
 */
export interface Channel<Out, In> {
  readonly mode: Mode;
  /** The frame that carries `body` next. An EncodedBody is one body serialized once for many recipients. */
  seal(body: Out | EncodedBody<Out>): MaybePromise<ChannelFrame<Out>>;
  /**
   * seal, as the frame's UTF-8 JSON text ready for a text frame on the socket (what the server sends). The
   * frame's memory comes from `allocate` where the frame is laid out within the call (a synchronous channel;
   * otherwise it is ignored); the caller chooses where its frames live (server/session.ts). Every byte of the
   * frame is written, so `allocate` may hand out memory that held something else.
   */
  sealWire(body: Out | EncodedBody<Out>, allocate?: Allocate): MaybePromise<Uint8Array>;
  /** seal, as the frame's JSON text, exactly JSON.stringify of seal's frame (what the page sends). */
  sealText(body: Out | EncodedBody<Out>): MaybePromise<string>;
  /** The body the next incoming frame carries, checked; a frame of the other mode is PROTO_UNEXPECTED. */
  open(frame: ChannelFrame<In>, checked?: CheckListener): MaybePromise<In>;
}

/** Turns a record's decrypted JSON into a body: the protocol's parser for the receiving side. */
export type BodyParser<In> = (value: unknown) => In;

export interface ChannelOptions<In = unknown> {
  /** Seconds since the epoch in the server's time (the page corrects its clock by the welcome's `time`). */
  now?: () => number;
  ttl?: number;
  /** Required unless `In` is unknown: without it a record's JSON is handed out unvalidated (tests, tools). */
  parse?: BodyParser<In>;
}

/** The options argument: a parser must come with any `In` but unknown. */
type OptionsArgument<In> = unknown extends In
  ? [options?: ChannelOptions<In>]
  : [options: ChannelOptions<In> & { parse: BodyParser<In> }];

function checkSequence(what: string, seq: number, expected: number): void {
  if (seq !== expected) {
    const why = seq < expected ? 'replayed' : 'out of order or after a dropped frame';
    throw new WirechatError('RECORD_BAD_SEQUENCE', `${what} ${seq} is ${why}: expected ${expected}`);
  }
}

/** The defaults, made once rather than a closure per channel. */
const wallClock = (): number => Date.now() / 1000;
const asIs = (value: unknown): unknown => value;

/**
 * Seals outgoing bodies and opens incoming records for one side of one secure session, in call order.
 *
 * Over a synchronous backend (node:crypto: every primitive answers at once) a call does all its work before it
 * returns and returns a value or throws: no promise per record. Over an asynchronous one (Web Crypto, the page)
 * calls are chained, so results come out in the order the calls went in: a caller that sends each sealed frame
 * as its promise resolves sends them in sequence order. Either way the steps are the same code (andThen), and an
 * incoming frame's sequence number is checked the moment it arrives, before anything else, so a replay is caught
 * even while earlier frames are still being decrypted.
 */
export class RecordChannel<Out = unknown, In = unknown> implements Channel<Out, In> {
  readonly #fernet: Fernet;
  readonly #mac: Mac;
  /** The session id's bytes, one character each (copied: the caller's array may change, this does not). */
  readonly #sessionId: SessionIdText;
  readonly #send: Direction;
  readonly #now: () => number;
  readonly #ttl: number;
  readonly #parse: BodyParser<In>;
  /** Chosen once: both the Fernet and the MAC backend answer without promises. */
  readonly #synchronous: boolean;
  #sendSeq = 0;
  #receiveSeq = 0;
  /** The last seal and open over an asynchronous backend, settled either way; none yet (or ever, when synchronous). */
  #sealing: Promise<unknown> | undefined;
  #opening: Promise<unknown> | undefined;

  constructor(keys: SessionKeys, sessionId: Uint8Array, send: Direction, ...[given]: OptionsArgument<In>) {
    const options: ChannelOptions<In> = given ?? {};
    this.#fernet = keys.fernet;
    this.#mac = keys.mac;
    this.#sessionId = sessionIdText(sessionId);
    this.#send = send;
    this.#now = options.now ?? wallClock;
    this.#ttl = options.ttl ?? RECORD_TTL_SECONDS;
    // Without a parser `In` is unknown (ParseOption), so the JSON is handed out as the unknown it is.
    this.#parse = options.parse ?? (asIs as BodyParser<In>);
    this.#synchronous = keys.fernet.synchronous && keys.mac.synchronous === true;
  }

  /** A getter, not a field: nothing per channel. */
  get mode(): 'secure' {
    return 'secure';
  }

  /** Whether seal and open return values (and throw) rather than promises. */
  get synchronous(): boolean {
    return this.#synchronous;
  }

  get nextSendSeq(): number {
    return this.#sendSeq;
  }

  get nextReceiveSeq(): number {
    return this.#receiveSeq;
  }

  seal(body: Out | EncodedBody<Out>): MaybePromise<RecordFrame> {
    const seq = this.#sendSeq;
    return andThen(this.#seal(body, undefined), (wire) => frameOf(wire, seq));
  }

  sealWire(body: Out | EncodedBody<Out>, allocate?: Allocate): MaybePromise<Uint8Array> {
    // Over an asynchronous backend the frame is laid out after awaits, when the caller's choice may be stale.
    return this.#seal(body, this.#synchronous ? allocate : undefined);
  }

  sealText(body: Out | EncodedBody<Out>): MaybePromise<string> {
    return andThen(this.#seal(body, undefined), fromAscii); // the frame's bytes are ASCII
  }

  /** The frame's bytes for `body`, the next in sequence (RecordLayout). */
  #seal(body: Out | EncodedBody<Out>, allocate: Allocate | undefined): MaybePromise<Uint8Array> {
    const seq = this.#sendSeq++;
    if (this.#synchronous) {
      // The plaintext, the token and the MAC input are gone once the frame is laid out, so they are made in the
      // scratches; the frame never is (it goes to a socket that may hold it): it is the caller's memory
      // (`allocate`) or new.
      return this.#sealNow(
        body instanceof EncodedBody ? body.plaintext : plaintextScratch.utf8(bodyJson(body)),
        seq,
        allocate,
      );
    }
    const plaintext = body instanceof EncodedBody ? body.plaintext : utf8(bodyJson(body));
    return this.#inOrder('seal', () =>
      // A fresh IV for every token: sealToken draws it (shared/fernet.ts).
      andThen(this.#fernet.sealToken(plaintext, { time: Math.floor(this.#now()) }), (token) => {
        const at = new RecordLayout(token.length, seq, this.#sessionId);
        const out = new Uint8Array(at.length);
        const input = out.subarray(writeMacInput(out, at, token, this.#send, seq, this.#sessionId), at.tokenEnd);
        return andThen(this.#mac.sign(input), (tag) => out.subarray(writeRecordFrame(out, at, tag, seq)));
      }),
    );
  }

  /**
   * #seal over a synchronous backend: the same steps in the same order (the token, its MAC input, the MAC, the
   * frame), each answered at once, so no closure and no promise is made for them. Everything made and dropped
   * within the call is a scratch's; the frame is copied out of its layout in one call into the caller's memory
   * (`allocate`) or new, never a scratch (it goes to a socket that may hold it).
   */
  #sealNow(plaintext: Uint8Array, seq: number, allocate: Allocate | undefined): Uint8Array {
    // A fresh IV for every token: sealToken draws it (shared/fernet.ts).
    const token = this.#fernet.sealToken(
      plaintext,
      { time: Math.floor(this.#now()) },
      tokenScratch.take(fernetTokenLength(plaintext.length)),
    ) as Uint8Array;
    const sessionId = this.#sessionId;
    const at = new RecordLayout(token.length, seq, sessionId);
    const layout = layoutScratch.take(at.length);
    const inputStart = writeMacInput(layout, at, token, this.#send, seq, sessionId, layoutScratch);
    const input = sealedMacInput.of(layout, inputStart, at.tokenEnd);
    const mac = this.#mac;
    let tag: Uint8Array;
    if (mac.signInto !== undefined) {
      tag = tagScratch.take(MAC_TAG_LENGTH);
      mac.signInto(input, tag, 0);
    } else {
      tag = mac.sign(input) as Uint8Array;
    }
    const frameStart = writeRecordFrame(layout, at, tag, seq, layoutScratch);
    const length = at.length - frameStart;
    const frame = allocate ? allocate(length) : new Uint8Array(length);
    if (frame.length !== length) throw new RangeError(`a record frame of ${length} bytes, not ${frame.length}`);
    frame.set(sealedFrame.of(layout, frameStart, at.length));
    return frame;
  }

  /**
   * Verifies and decrypts one record and returns its body, through the channel's parser. Order of checks:
   * sequence (cheap, and names replays plainly), the outer MAC in constant time, and only then Fernet, which
   * checks its own MAC before it decrypts; `checked` hears of each as it passes.
   */
  open(frame: ChannelFrame<In>, checked?: CheckListener): MaybePromise<In> {
    if (frame.type !== 'record')
      return this.#refuse(new WirechatError('PROTO_UNEXPECTED', 'a plain frame in a secure chat'));
    const expected = this.#receiveSeq;
    try {
      checkSequence('record', frame.seq, expected);
    } catch (error) {
      return this.#refuse(error);
    }
    this.#receiveSeq++;
    checked?.('sequence');
    return this.#inOrder('open', () => {
      const synchronous = this.#synchronous;
      let tag: Uint8Array;
      try {
        // Over a synchronous backend the tag is checked within this call, so it is decoded into a scratch; only
        // a tag's length of text, so that no text off the wire makes a scratch grow and stay grown.
        tag =
          synchronous && frame.mac.length === MAC_TEXT_LENGTH
            ? tagScratch.base64Url(frame.mac)
            : fromBase64Url(frame.mac);
      } catch {
        throw new WirechatError('RECORD_BAD_MAC', 'the record MAC is not base64url');
      }
      const receive = this.#send === 'c2s' ? 's2c' : 'c2s';
      const scratch = synchronous ? macInputScratch : undefined;
      const input = macInput(receive, expected, this.#sessionId, frame.token, scratch);
      return andThen(this.#mac.verify(input, tag), (verified) => {
        if (!verified) {
          throw new WirechatError(
            'RECORD_BAD_MAC',
            `record ${expected} failed its HMAC check: tampered, reflected or from another session`,
          );
        }
        checked?.('record-mac');
        const plaintext = this.#fernet.openToken(frame.token, {
          ttl: this.#ttl,
          now: this.#now(),
          macVerified: checked && (() => checked('fernet-mac')),
        });
        return andThen(plaintext, (bytes) => {
          let body: unknown;
          try {
            body = JSON.parse(fromUtf8(bytes));
          } catch {
            throw new WirechatError('PROTO_BAD_JSON', `record ${expected} does not hold JSON`);
          }
          return this.#parse(body);
        });
      });
    });
  }

  /**
   * Runs `step` now over a synchronous backend; over an asynchronous one, after every earlier call of the same
   * kind has settled, so results come out in call order (a failed call does not stop the ones after it).
   */
  #inOrder<T>(kind: 'seal' | 'open', step: () => MaybePromise<T>): MaybePromise<T> {
    if (this.#synchronous) return step();
    const result = ((kind === 'seal' ? this.#sealing : this.#opening) ?? Promise.resolve()).then(step);
    const settled = result.catch(() => undefined);
    if (kind === 'seal') this.#sealing = settled;
    else this.#opening = settled;
    return result;
  }

  /** A refusal in the form this channel answers in: thrown when synchronous, a rejected promise otherwise. */
  #refuse(error: unknown): never | Promise<never> {
    if (this.#synchronous) throw error;
    return Promise.reject(error);
  }
}

/**
 * Plain mode's channel: each body goes out in the clear with its sequence number, and comes in only with the next
 * one expected. Nothing here is protected (the mode exists to show that); the numbers still refuse a frame that
 * is replayed or out of order, as a record's would. Synchronous: nothing to wait for.
 */
export class PlainChannel<Out, In> implements Channel<Out, In> {
  get mode(): 'plain' {
    return 'plain';
  }

  #sendSeq = 0;
  #receiveSeq = 0;

  seal(body: Out | EncodedBody<Out>): PlainFrame<Out> {
    return {
      type: 'plain',
      seq: this.#sendSeq++,
      body: body instanceof EncodedBody ? body.body : body,
    } satisfies PlainFrame<Out>;
  }

  sealWire(body: Out | EncodedBody<Out>, allocate?: Allocate): Uint8Array {
    const text = this.sealText(body);
    if (allocate === undefined) return utf8(text);
    const out = allocate(utf8Length(text));
    // The memory may hold anything (a pool's): every byte of it is written, or nothing is sent.
    const { read, written } = textEncoder.encodeInto(text, out);
    if (read !== text.length || written !== out.length)
      throw new RangeError(`a plain frame of ${out.length} bytes was written ${written}`);
    return out;
  }

  sealText(body: Out | EncodedBody<Out>): string {
    return JSON.stringify(this.seal(body));
  }

  /** The body of a plain frame, already parsed with the frame (shared/protocol.ts). */
  open(frame: ChannelFrame<In>, checked?: CheckListener): In {
    if (frame.type !== 'plain') throw new WirechatError('PROTO_UNEXPECTED', 'a record in a plain chat');
    checkSequence('plain frame', frame.seq, this.#receiveSeq);
    this.#receiveSeq++;
    checked?.('sequence');
    return frame.body;
  }
}

export interface ChannelSetup<In> {
  mode: Mode;
  /** Secure mode's keys, from the handshake; zeroed once imported. Undefined in plain mode. */
  secret: SessionSecret | undefined;
  sessionId: Uint8Array;
  /** The direction this side sends in. */
  send: Direction;
  backend: CryptoBackend;
  parse: BodyParser<In>;
  now?: () => number;
}

/** The channel a handshake ends in: records under the secret's keys in secure mode, plain frames in plain mode. */
export async function createChannel<Out, In>(setup: ChannelSetup<In>): Promise<Channel<Out, In>> {
  if (setup.mode === 'plain') return new PlainChannel<Out, In>();
  if (setup.secret === undefined) throw new WirechatError('PROTO_BAD_SHAPE', 'a secure session without keys');
  // createFernet and createMac zero the raw bytes once imported.
  const keys = {
    fernet: await setup.backend.createFernet(setup.secret.fernetKey),
    mac: await setup.backend.createMac(setup.secret.macKey),
  };
  const options: ChannelOptions<In> & { parse: BodyParser<In> } = { parse: setup.parse };
  if (setup.now) options.now = setup.now;
  return new RecordChannel<Out, In>(keys, setup.sessionId, setup.send, options);
}
