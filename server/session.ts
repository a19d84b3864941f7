/**
 * One connection's state machine: awaiting `hello`, then secure (or plain), then ended. It is the only place on
 * the server that holds a session's keys and sequence numbers. Everything from the wire is parsed and checked
 * here before the relay sees it; any failure ends this session alone, with the close code its error maps to.
 */
import type { Socket } from 'node:net';
import type { WebSocket, RawData } from 'ws';
import {
  Close,
  closeCodeText,
  closeReason,
  endCloseCode,
  fromBrowserCloseCode,
  isWirechatError,
  WirechatError,
  type EndCode,
} from '../shared/errors.ts';
import { utf8Length } from '../shared/bytes.ts';
import type { CryptoBackend } from '../shared/crypto-backend.ts';
import { prepareWelcome, signWelcome, type ServerHandshake } from '../shared/handshake.ts';
import {
  parseClientBody,
  parseClientFrame,
  type ClientBody,
  type ClientResume,
  type ClientFrame,
  type HelloFrame,
  type ServerBody,
  type ServerReceipt,
} from '../shared/protocol.ts';
import { createChannel, whenReady, type Channel, type EncodedBody } from '../shared/record.ts';
import { SETTLED } from '../shared/maybe-promise.ts';
import { normalizeName } from '../shared/names.ts';
import { printable } from '../shared/text.ts';
import { InOrder } from '../shared/in-order.ts';
import { slabFrame } from './frame-slab.ts';
import { nodeServerHandshake } from './node-handshake.ts';
import type { Identity } from './identity.ts';
import { TokenBucket } from './limits.ts';
import type { ServerOptions } from './options.ts';

/** `refused`: a page that does not allow plain mode was sent the signed plain welcome and is expected to close. */
export type SessionPhase = 'hello' | 'handshaking' | 'refused' | 'secure' | 'plain' | 'ended';

/** What became of a line the session handed its host: what the sender's receipt says (a reason when failed). */
export type LineOutcome = Omit<ServerReceipt, 'kind' | 'id'>;

/**
 * What a session tells the relay, and the relay's answers. The relay never sees keys, tokens, sequence numbers or
 * frames: the session owns the wire, and sends every receipt and every `end` itself.
 */
export interface SessionHost {
  /** A unique name for a newcomer, derived from the one asked for; throws NAME_REFUSED. */
  claimName(session: ServerSession, requested: string): string | Promise<string>;
  joined(session: ServerSession): void;
  /**
   * A page that said `resume` in its hello presents its claim (the first body it sends): the host names it and
   * joins it (or makes it a new participant), replaying what it missed. `asked`: the name its hello asked for.
   * The session handles its next frame only once this resolves.
   */
  resume(session: ServerSession, claim: ClientResume, asked: string): Promise<void>;
  /**
   * A line the session accepted from its tab (`id`: the tab's number for it). The answer may come later (a
   * promise); the session goes on with the tab's next frames meanwhile (so the lines of one read share the
   * log's batch) and sends the receipts in the order of the lines all the same.
   */
  line(session: ServerSession, id: number, text: string): LineOutcome | Promise<LineOutcome>;
  /** The session is over: `code` how it closed, `reason` why, for the console. */
  left(session: ServerSession, code: number, reason: string): void;
}

export interface SessionContext {
  identity: Identity;
  options: ServerOptions;
  backend: CryptoBackend;
  host: SessionHost;
  /** Import, wrap and sign (server/node-handshake.ts); node:crypto unless a test or benchmark picks Web Crypto. */
  handshake?: ServerHandshake;
}

/**
 * Where the session is. Joined (secure or plain), the state is the channel itself: the session holds a channel
 * exactly while it is joined, with no second field that could say otherwise.
 */
type State = 'hello' | 'handshaking' | 'refused' | 'ended' | Channel<ServerBody, ClientBody>;

/** #flags: four booleans in one field (every idle session holds them). */
const FAILED = 1;
const CORKED = 2;
const ALIVE = 4;
const SAID_BYE = 8;

let nextSessionNumber = 1;

/** The session a socket belongs to, set on the socket itself so that its listeners need no closure. */
const SESSION = Symbol('wirechat.session');
type SessionSocket = WebSocket & { [SESSION]: ServerSession };
const sessionOf = (ws: WebSocket): ServerSession => (ws as SessionSocket)[SESSION];

/** Its frames are handled one at a time, in arrival order (shared/in-order.ts); a failure of any ends it. */
export class ServerSession extends InOrder {
  /** A small number for logs, before the session has a name. */
  readonly number = nextSessionNumber++;
  readonly connectedAt = Date.now();
  readonly #ws: WebSocket;
  readonly #ctx: SessionContext;
  #state: State = 'hello';
  #handshakeTimer: NodeJS.Timeout | undefined;
  /**
   * Made with the first line: a bucket starts full and stays full until taken from, so one made now behaves as one
   * made at connection time, and an idle session (most of them) holds none.
   */
  #bucket: TokenBucket | undefined;
  /** Lines refused by the rate limit since the last accepted one; too many and the sender is cut off. */
  #excess = 0;
  /**
   * FAILED: the server dropped this connection for a failure (as opposed to the peer leaving); CORKED: this
   * socket's writes are held until the end of the tick (#corkUntilNextTick); ALIVE: the peer answered the last ping
   * (see heartbeat); SAID_BYE: the tab said goodbye inside the channel.
   */
  #flags = ALIVE;
  #departure = '';
  #name = '';
  #code = '';
  /** Set between the welcome and the `resume` body of a page whose hello said `resume`: it has not joined yet. */
  #resuming: { asked: string } | undefined;
  /**
   * Receipts owed, oldest first, each with its outcome once the host has it. A receipt leaves only when every
   * line before it has had its own: the host may answer a later line first, the tab still hears them in order.
   */
  #owed: Array<{ id: number; outcome: LineOutcome | undefined }> | undefined;
  /** Called once `#owed` is empty again (a `bye` waits for the receipts of the lines before it). */
  #whenReceipted: (() => void) | undefined;

  constructor(ws: WebSocket, ctx: SessionContext) {
    super();
    this.#ws = ws;
    this.#ctx = ctx;
    this.#handshakeTimer = setTimeout(ServerSession.#handshakeTimedOut, ctx.options.handshakeTimeoutMs, this);
    this.#handshakeTimer.unref();
    // The listeners are made once for every session (#socketListeners): ws calls them with the socket as `this`,
    // and the socket names its session. Closures made here would be held by every idle session for its life.
    (ws as SessionSocket)[SESSION] = this;
    const listen = ServerSession.#socketListeners;
    ws.on('message', listen.message);
    ws.on('pong', listen.pong);
    ws.on('close', listen.close);
    ws.on('error', listen.error);
  }

  /** What the socket's events do, one function each for all sessions; `this` is the socket (ws calls them so). */
  static readonly #socketListeners = {
    message(this: WebSocket, data: RawData, isBinary: boolean): void {
      sessionOf(this).#onMessage(data, isBinary);
    },
    pong(this: WebSocket): void {
      sessionOf(this).#flags |= ALIVE;
    },
    close(this: WebSocket, code: number, reason: Buffer): void {
      const session = sessionOf(this);
      const why = session.#state === 'refused' ? PLAIN_REFUSED_WHY : reasonForClose(code, reason.toString());
      // The others hear the code alone: the close's reason text is the tab's own words.
      const departure = isNormalClose(code) ? 'left' : `disconnected (${closeCodeText(code)})`;
      session.#ended(fromBrowserCloseCode(code), why, departure);
    },
    error(this: WebSocket, error: Error & { code?: string }): void {
      // ws checks the framing itself (invalid UTF-8, oversize messages, too many fragments) and has already sent
      // the close frame with the status RFC 6455 asks for when it reports the failure here. Ending the session
      // now names the failure on the console at once, instead of "disconnected" whenever the peer answers.
      const { name, status } = framingFailure(error);
      sessionOf(this).#drop(status, name, error.message);
    },
  };

  static #handshakeTimedOut(session: ServerSession): void {
    const ms = session.#ctx.options.handshakeTimeoutMs;
    session.fail(new WirechatError('HANDSHAKE_TIMEOUT', `no handshake within ${ms} ms`));
  }

  get phase(): SessionPhase {
    const state = this.#state;
    return typeof state === 'string' ? state : state.mode;
  }

  /** The channel while joined; undefined in every other state. */
  get #channel(): Channel<ServerBody, ClientBody> | undefined {
    const state = this.#state;
    return typeof state === 'string' ? undefined : state;
  }

  get ended(): boolean {
    return this.#state === 'ended';
  }

  /** The name the relay gave this tab; empty until it joins. */
  get name(): string {
    return this.#name;
  }

  /** The session code both sides show (shared/handshake.ts); empty until the welcome is out. */
  get code(): string {
    return this.#code;
  }

  /** Whether the tab said goodbye (EXIT or END) inside the channel. */
  get saidBye(): boolean {
    return (this.#flags & SAID_BYE) !== 0;
  }

  /** The name the relay gives a resuming page (its old one, or a new one), before it joins. */
  seated(name: string): void {
    this.#name = name;
  }

  get label(): string {
    return this.#name || `connection #${this.number}`;
  }

  /**
   * Why this session left, in the words the other tabs get in its `leave` body: only what the server itself knows
   * (left, disconnected with a close code, dropped with an error code, removed by the operator), never the tab's
   * own words, such as its bye word or its close reason. Empty until the session ends.
   */
  get departure(): string {
    return this.#departure;
  }

  /** Whether the server dropped this connection for a failure (as opposed to the peer leaving). */
  get failed(): boolean {
    return (this.#flags & FAILED) !== 0;
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#state === 'ended') return;
    if (isBinary) {
      this.fail(new WirechatError('PROTO_BINARY', 'binary frames are not part of the protocol'));
      return;
    }
    // Nothing may follow the hello until the welcome is out (the page has no keys before it). Refused at once
    // rather than queued: the hello's handshake waits (for the event loop's next poll, and for a host that may
    // answer later, e.g. Redis), and a peer could otherwise pile up frames of up to maxPayload each in memory for as
    // long as that wait lasts.
    if (this.framesPending > 0 && this.#channel === undefined) {
      this.fail(new WirechatError('PROTO_UNEXPECTED', 'a frame before the welcome'));
      return;
    }
    // Joined, a frame waits its turn behind one whose handling waits (a bye for its receipts, a resume, with
    // --redis for Redis): held in memory meanwhile, so only so many. An honest page sends nothing after its bye or
    // its claim until answered, and a burst of lines that a slower channel opens one by one is cut at twice --burst
    // by the rate limit anyway.
    const waiting = 2 * this.#ctx.options.burst + 2;
    if (this.framesPending >= waiting) {
      this.fail(new WirechatError('LIMIT_RATE', `more than ${waiting} frames waiting for their turn`));
      return;
    }
    // One frame at a time, in arrival order: sequence numbers and receipts depend on it. With nothing in flight
    // the frame is handled now, in this event: over node:crypto a record opens without a promise and the line
    // goes to the relay at once, so no promise is made per frame. Whatever has to wait (the hello's handshake,
    // a host that answers later) makes the frames behind it wait, as every frame did before.
    void this.inOrder(this.#handle, data.toString(), this.fail);
  }

  /** One frame, checked and handled: a value where nothing had to wait, a promise where something did. */
  #handle(text: string): void | Promise<void> {
    if (this.#state === 'ended') return;
    const frame: ClientFrame = parseClientFrame(text);
    const state = this.#state;
    switch (frame.type) {
      case 'hello':
        if (state !== 'hello') throw new WirechatError('PROTO_UNEXPECTED', 'a second hello');
        return this.#hello(frame);
      case 'record':
      case 'plain': {
        if (state === 'refused') throw new WirechatError('HANDSHAKE_PLAIN_REFUSED', PLAIN_REFUSED_MESSAGE);
        if (typeof state === 'string') {
          throw new WirechatError('PROTO_UNEXPECTED', `a ${frame.type} frame while the session is ${state}`);
        }
        // Joined: the state is the channel. The sequence number is checked first, inside open, before anything else.
        const opened = state.open(frame);
        return opened instanceof Promise ? opened.then((body) => this.#body(body)) : this.#body(opened);
      }
      default: {
        const unreachable: never = frame;
        throw new WirechatError('PROTO_UNKNOWN_TYPE', `unknown frame ${String(unreachable)}`);
      }
    }
  }

  async #hello(hello: HelloFrame): Promise<void> {
    const { options, identity, backend, host } = this.#ctx;
    const handshake = this.#ctx.handshake ?? nodeServerHandshake;
    this.#state = 'handshaking';
    const mode = options.plain ? 'plain' : 'secure';
    // A page that did not allow plain mode still gets the signed plain welcome and refuses it itself: a close
    // frame is not authenticated, so it could only show as a disconnection (and be retried), while the signed
    // welcome is the server's own word that it runs in plain mode (docs/protocol.md 8).
    const refusePlain = mode === 'plain' && !hello.acceptPlain;
    const draft = await prepareWelcome(handshake, hello, mode);
    const channel = await createChannel<ServerBody, ClientBody>({
      mode,
      secret: draft.secret,
      sessionId: draft.sessionId,
      send: 's2c',
      backend,
      parse: parseClientBody,
    });
    // Each await here may outlive the connection (the peer vanished, the handshake timed out, and the relay has
    // already been told it left): a session that ended meanwhile must not claim a name or join, or a ghost
    // would hold both for good.
    if (this.ended) return;
    // A page coming back asks for its place in its first body, inside the session: until then it has no name of
    // its own, and the welcome carries the name it asked for (a new participant's would be claimed from it).
    const name = hello.resume ? normalizeName(hello.name) : await host.claimName(this, hello.name);
    // With many relays the name is claimed chat-wide, in Redis (server/cluster-relay.ts): the session may end meanwhile.
    if (this.ended) return;
    const welcome = await signWelcome(handshake, draft, {
      publicKey: identity.publicKey,
      signingKey: identity.signingKey,
      name,
      time: Date.now(),
    });
    // Nor must one whose peer has already hung up: joining it would announce a tab that is gone. The event loop
    // goes through its I/O poll once first, so that an end of stream that came in behind the hello is read
    // before the welcome goes out (the node:crypto handshake can finish before the loop has read it).
    await afterNextPoll();
    if (this.ended || this.#ws.readyState !== this.#ws.OPEN) return;
    // A page coming back has not finished until its claim is in (#body): until then it is welcomed but unnamed, out
    // of /who's and /kick's reach, and the timer is all that keeps it from holding its seat for good.
    if (!hello.resume || refusePlain) this.#stopHandshakeTimer();
    if (refusePlain) {
      // Not joined and never announced: it waits for the page's own close (held like a joined tab meanwhile,
      // since the page may first ask its person about a changed key), and refuses any frame the page sends.
      this.#flags |= FAILED;
      this.#state = 'refused';
      this.#sendFrame(welcome.text);
      return;
    }
    this.#code = welcome.sessionCode;
    this.#state = channel;
    this.#sendFrame(welcome.text);
    if (hello.resume) {
      this.#resuming = { asked: hello.name };
      return;
    }
    this.#name = name;
    host.joined(this);
  }

  #stopHandshakeTimer(): void {
    clearTimeout(this.#handshakeTimer);
    // Not held for the session's life: the timer and its closure are about 0.3 KiB of every idle session.
    this.#handshakeTimer = undefined;
  }

  /**
   * Whether the connection is still in its handshake, for the admission's per-address count: before its welcome;
   * for a page coming back, until its resume claim is in; and refused (plain mode it did not allow), until it
   * closes. None of these is named or joined, so none is in /who or within /kick's reach: an address holds at most
   * --max-pending-per-address of them.
   */
  get inHandshake(): boolean {
    const state = this.#state;
    return state === 'hello' || state === 'handshaking' || state === 'refused' || this.#resuming !== undefined;
  }

  #body(body: ClientBody): void | Promise<void> {
    const resuming = this.#resuming;
    if (resuming !== undefined) {
      if (body.kind !== 'resume')
        throw new WirechatError('PROTO_UNEXPECTED', `a ${body.kind} before the resume this page announced`);
      this.#resuming = undefined;
      this.#stopHandshakeTimer();
      return this.#ctx.host.resume(this, body, resuming.asked);
    }
    switch (body.kind) {
      case 'resume':
        throw new WirechatError('PROTO_UNEXPECTED', 'a resume from a page that did not announce one in its hello');
      case 'line': {
        const { options, host } = this.#ctx;
        if (!(this.#bucket ??= new TokenBucket(options.rate, options.burst)).take()) {
          this.#excess++;
          if (this.#excess > options.burst) {
            throw new WirechatError('LIMIT_RATE', `more than ${options.rate} lines a second, for too long`);
          }
          return this.#receiptInTurn(body.id, {
            status: 'failed',
            reason: `not sent: at most ${options.rate} lines a second`,
            n: 0,
          });
        }
        this.#excess = 0;
        // Within the protocol's limit (longer lines never parse) but over this server's: the sender is told why.
        // A UTF-16 code unit is at most 3 bytes of UTF-8, so a line of up to a third of the limit is not counted.
        const bytes = body.text.length * 3 <= options.maxLine ? 0 : utf8Length(body.text);
        if (bytes > options.maxLine) {
          const reason = `not sent: this server takes lines of at most ${options.maxLine} bytes (this one has ${bytes})`;
          return this.#receiptInTurn(body.id, { status: 'failed', reason, n: 0 });
        }
        // Not waited for: the next frame is handled now, and the receipt goes out in its turn (#receiptInTurn),
        // after the line's own frames to the other tabs, even when the host answers at once (the memory log).
        return this.#receiptInTurn(body.id, host.line(this, body.id, body.text), true);
      }
      case 'bye':
        // The lines before the bye are receipted first, as they were said.
        if (this.#owed !== undefined) {
          return new Promise<void>((resolve) => (this.#whenReceipted = resolve)).then(() => this.#bye());
        }
        return this.#bye();
      default: {
        const unreachable: never = body;
        throw new WirechatError('PROTO_BAD_SHAPE', `unknown body ${String(unreachable)}`);
      }
    }
  }

  #bye(): void {
    this.#flags |= SAID_BYE;
    // The word is the tab's own (any 16 characters the parser lets through): nobody is shown it.
    this.#finish(Close.NORMAL, `${this.label} left`, 'left', undefined, 'left');
  }

  /**
   * The receipt for line `id`, sent once `outcome` is known and every earlier line has had its receipt. The host's
   * failure ends the session, as a failure of any frame does. `afterFanOut`: the host's answer is the line's
   * (stored, and fanned out to the other tabs if it was new): the receipt is sealed only after those frames have
   * left (#sendOwedAfterFanOut), even when the answer came at once.
   */
  #receiptInTurn(id: number, outcome: LineOutcome | Promise<LineOutcome>, afterFanOut = false): void {
    if (!(outcome instanceof Promise) && this.#owed === undefined && !afterFanOut) {
      this.#receipt(id, outcome);
      return;
    }
    const slot = { id, outcome: outcome instanceof Promise ? undefined : outcome };
    (this.#owed ??= []).push(slot);
    if (!(outcome instanceof Promise)) {
      if (afterFanOut) process.nextTick(ServerSession.#sendOwedAfterFanOut, this);
    } else {
      outcome.then(
        (answer) => {
          slot.outcome = answer;
          // Sealed after the line's own frames have left: see #sendOwedAfterFanOut.
          process.nextTick(ServerSession.#sendOwedAfterFanOut, this);
        },
        (error: unknown) => this.fail(error),
      );
    }
  }

  /**
   * The host usually answers a line only after it has fanned it out (LocalHub, with the entries in order, emits
   * the entry, and the relay seals it for every other tab, before the append resolves; a duplicate is fanned out
   * to nobody, and a relay of many fans out later, from Redis's stream), and each of those frames leaves when its
   * socket is uncorked, in a tick callback queued as it was sealed (#corkUntilNextTick). Sending the receipts in
   * a tick callback queued after the answer puts the receipt's seal after those writes: the other tabs, who are
   * waiting for the line, get it without waiting for the sender's receipt to be sealed first. An ordering for
   * latency only: receipts leave in line order either way. Static, with the session as argument: no closure per
   * line, and no field in every idle session.
   */
  static #sendOwedAfterFanOut(session: ServerSession): void {
    session.#sendOwed();
  }

  /** Sends the receipts at the head of `#owed` whose outcomes are known, stopping at the first still awaited. */
  #sendOwed(): void {
    const owed = this.#owed;
    if (owed === undefined) return;
    let sent = 0;
    for (const slot of owed) {
      if (slot.outcome === undefined) break;
      this.#receipt(slot.id, slot.outcome);
      sent++;
    }
    owed.splice(0, sent);
    if (owed.length > 0) return;
    // Nothing owed: none held, as for the idle session (most of them) that never had a line in flight.
    this.#owed = undefined;
    const resolve = this.#whenReceipted;
    this.#whenReceipted = undefined;
    resolve?.();
  }

  /** Every receipt goes out here: what became of the tab's line `id`, delivered or failed and why. */
  #receipt(id: number, outcome: LineOutcome): void {
    void this.send({ kind: 'receipt', id, status: outcome.status, reason: outcome.reason, n: outcome.n });
  }

  /**
   * Sends one body: sealed in secure mode, in the clear in plain mode. Resolves once the frame is handed to the
   * socket (or dropped because the session ended), so a caller can close right after its last word. A body going
   * to many tabs comes as an EncodedBody, serialized once for all of them.
   */
  send(body: ServerBody | EncodedBody<ServerBody>): Promise<void> {
    const channel = this.#channel;
    if (channel === undefined) return SETTLED;
    // The frame's bytes, built in one buffer (shared/record.ts); over node:crypto a value at once, no promise.
    let sealed: Uint8Array | Promise<Uint8Array>;
    try {
      sealed = channel.sealWire(body, this.#ws.bufferedAmount === 0 ? slabFrame : undefined);
    } catch (error) {
      this.fail(error);
      return SETTLED;
    }
    if (sealed instanceof Promise) {
      return sealed.then(
        (frame) => this.#sendFrame(frame),
        (error: unknown) => this.fail(error),
      );
    }
    this.#sendFrame(sealed);
    return SETTLED;
  }

  /** One frame to the socket: the JSON text as a string, or as its UTF-8 bytes (sent as a text frame all the same). */
  #sendFrame(data: string | Uint8Array): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    // A reader that does not keep up must not make the server hold unbounded memory for it.
    if (this.#ws.bufferedAmount + data.length > this.#ctx.options.maxBuffered) {
      this.fail(
        new WirechatError('LIMIT_SLOW_READER', `more than ${this.#ctx.options.maxBuffered} bytes waiting to be read`),
      );
      return;
    }
    this.#corkUntilNextTick();
    this.#ws.send(data, { binary: false });
  }

  /**
   * Holds this socket's writes until the current tick's work is done, then lets them go together: a burst (the
   * frames a fan-out, a receipt and the lines of a pipelined read put on one socket in one tick) leaves in one
   * writev instead of one write per frame. Nothing waits longer than the tick that sent it. ws keeps the
   * net.Socket as `_socket` (ws 8); a socket without cork (a test's stand-in) is written to as before.
   */
  #corkUntilNextTick(): void {
    if ((this.#flags & CORKED) !== 0) return;
    const socket = (this.#ws as unknown as { _socket?: Partial<Pick<Socket, 'cork' | 'uncork'>> })._socket;
    if (typeof socket?.cork !== 'function' || typeof socket.uncork !== 'function') return;
    this.#flags |= CORKED;
    socket.cork();
    process.nextTick(ServerSession.#uncork, this, socket);
  }

  /** The end of #corkUntilNextTick's tick. Static, as the receipts' tick callback: no closure per socket per tick. */
  static #uncork(session: ServerSession, socket: Pick<Socket, 'uncork'>): void {
    session.#flags &= ~CORKED;
    socket.uncork();
  }

  /**
   * Ends the session because of an error. A WirechatError (from the wire, or a limit) is told as it is: its stable
   * code and our own words, to the peer and the console alike. Anything else is a bug of ours, not the peer's
   * doing: the peer gets SERVER_ERROR and fixed words, never a library's message; the console gets the detail.
   * Where the session has keys, the page hears it in an authenticated `end` first, so that it knows the server
   * refused it: a close frame alone is only a disconnection.
   */
  fail(error: unknown): void {
    if (this.#state === 'ended') return;
    this.#flags |= FAILED;
    if (isWirechatError(error)) {
      const { code, message } = error;
      // A slow reader has no room for one more frame; the others are told why.
      const end = code === 'LIMIT_SLOW_READER' ? undefined : { code, reason: message };
      this.#finish(error.closeCode, `${code}: ${message}`, `dropped: ${code}: ${message}`, end, `dropped (${code})`);
      return;
    }
    const end = { code: 'SERVER_ERROR', reason: INTERNAL_MESSAGE } as const;
    const why = `dropped: internal error: ${describeError(error)}`;
    this.#finish(endCloseCode(end.code), `${end.code}: ${end.reason}`, why, end, `dropped (${end.code})`);
  }

  /** The framing failures ws reports: it has already sent its close frame, so only the console hears of it. */
  #drop(code: number, cause: string, message: string): void {
    if (this.#state === 'ended') return;
    this.#flags |= FAILED;
    this.#finish(code, `${cause}: ${message}`, `dropped: ${cause}: ${message}`, undefined, `dropped (${cause})`);
  }

  /**
   * Ends the chat for this participant from the server's side: an authenticated `end` body with its stable code
   * (the page can tell a real end from a cut cable), then the close frame that code maps to.
   */
  end(code: EndCode, reason: string, departure = 'left as the chat ended'): void {
    this.#finish(endCloseCode(code), reason, reason, { code, reason }, departure);
  }

  /** Closes without an `end` (a connection still in its handshake has no keys to say one with). */
  close(code: number, reason: string, why: string): void {
    this.#finish(code, reason, why);
  }

  /**
   * The one way a session ends from this side: the relay hears at once (`why`, for the console; `departure`, what
   * the other tabs are told), the `end` body goes out sealed (or plain) where the session has a channel, then the
   * close frame with `reason`.
   */
  #finish(
    code: number,
    reason: string,
    why: string,
    end?: { code: EndCode; reason: string },
    departure?: string,
  ): void {
    if (this.#state === 'ended') return;
    // Read before #ended lets the channel go.
    const channel = this.#channel;
    this.#ended(code, why, departure);
    const ws = this.#ws;
    const close = () => {
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, closeReason(reason));
      // A peer that never answers the close frame (ours, or the one ws sent for a framing error) is not allowed to
      // hold the socket open; ws's own close timeout is 30 s.
      if (ws.readyState !== ws.CLOSED) setTimeout(() => ws.terminate(), 2000).unref();
    };
    if (end === undefined || ws.readyState !== ws.OPEN || channel === undefined) return close();
    // Sealed after every body already queued on the channel, so it is the last frame the page reads.
    let sealed;
    try {
      sealed = channel.sealWire({ kind: 'end', code: end.code, reason: end.reason });
    } catch {
      return close();
    }
    whenReady(
      sealed,
      (frame) => {
        if (ws.readyState === ws.OPEN) ws.send(frame, { binary: false });
        close();
      },
      () => close(),
    );
  }

  /**
   * One beat of the heartbeat (the relay calls it for every connection each --heartbeat interval): a peer that did
   * not answer the last ping is dropped and false returned; any other is pinged again. ws answers pings by itself,
   * so a live page always answers.
   */
  heartbeat(): boolean {
    if (this.#state === 'ended') return false;
    if ((this.#flags & ALIVE) === 0) {
      this.#ended(1006, VANISHED, VANISHED);
      this.#ws.terminate();
      return false;
    }
    this.#flags &= ~ALIVE;
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.ping();
    return true;
  }

  #ended(code: number, why: string, departure?: string): void {
    if (this.#state === 'ended') return;
    const wasJoined = this.#channel !== undefined;
    const refused = this.#state === 'refused';
    this.#state = 'ended';
    // A close from the peer says no more than its code: its reason text is the tab's own words.
    this.#departure = departure ?? (isNormalClose(code) ? 'left' : `disconnected (${closeCodeText(code)})`);
    clearTimeout(this.#handshakeTimer);
    this.#ctx.host.left(this, code, wasJoined || refused ? why : `${why} (before the handshake finished)`);
  }
}

/**
 * Resolves once the event loop has been through a whole I/O poll phase: setImmediate callbacks run just after the
 * poll phase, so the second one runs after the next poll has read whatever sockets had waiting.
 */
function afterNextPoll(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

const INTERNAL_MESSAGE = 'the server could not go on with this session';

const VANISHED = 'vanished (no answer to heartbeats)';
const PLAIN_REFUSED_MESSAGE = 'this server runs in plain mode, which this page did not allow';
const PLAIN_REFUSED_WHY =
  'refused: the page does not allow plain mode (HANDSHAKE_PLAIN_REFUSED), told so in a signed welcome';

function describeError(error: unknown): string {
  return printable(error instanceof Error ? error.message : String(error), 200);
}

/**
 * The peer's own close code and reason, for the console. The reason is up to 123 bytes of anything, unauthenticated:
 * it is shown quoted as the peer's words and made printable. A page's 4008 reads as the 1008 it stands for.
 */
function isNormalClose(code: number): boolean {
  const rfc = fromBrowserCloseCode(code);
  return rfc === Close.NORMAL || rfc === Close.GOING_AWAY;
}

function reasonForClose(code: number, peerReason: string): string {
  const said = peerReason === '' ? '' : `its close said "${printable(peerReason)}"`;
  if (isNormalClose(code)) return said ? `left (${said})` : 'left';
  return `disconnected (${closeCodeText(code)}${said ? `; ${said}` : ''})`;
}

/**
 * ws's framing checks, in wirechat's words where it has them: the name the console shows and the status ws
 * closed with (ws keeps that status on a private symbol, so it is restated here from ws's error codes).
 */
function framingFailure(error: Error & { code?: string }): { name: string; status: number } {
  switch (error.code) {
    case 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH':
    case 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH':
      return { name: 'PROTO_TOO_BIG', status: Close.MESSAGE_TOO_BIG };
    case 'WS_ERR_INVALID_UTF8':
      return { name: 'BAD_UTF8', status: Close.INVALID_PAYLOAD };
    case 'WS_ERR_TOO_MANY_BUFFERED_PARTS':
      // ws's cap on fragments (16384) or buffered chunks: no wirechat code of its own, so ws's name.
      return { name: error.code, status: Close.POLICY_VIOLATION };
    default:
      return { name: error.code ?? 'WS_ERROR', status: Close.PROTOCOL_ERROR };
  }
}
