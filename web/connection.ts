/**
 * The page's connection: one WebSocket at a time around one ClientSession (shared/client-session.ts), and what happens
 * between them. A small state machine:
 *
 *   idle -> connecting -> securing -> secure | plain
 *   connecting | securing | secure | plain -> disconnected (dropped: retry with backoff) -> connecting ...
 *   any -> ended (you typed EXIT/END, the server ended the chat in an authenticated `end`, a frame failed its
 *          checks, you refused a changed server key, or the server's signed welcome is plain mode): never retried
 *
 * A close frame is not covered by any MAC: anyone on the path can forge one. So a close, whatever its code and
 * reason, never ends the chat: it is a disconnection, shown with its code and its reason marked unverified, and
 * retried. Only after REFUSALS_BEFORE_PAUSE refusal-like closes in a row, with no handshake completed between them,
 * does the page stop retrying by itself, and wait for the person's "Reconnect now".
 *
 * Each attempt makes a fresh key pair and a fresh handshake; nothing of a dropped session is reused. Only this
 * module opens sockets: it reports to web/controller.ts through `ConnectionEvents` and writes every frame into
 * its wire log (web/wire-log.ts) for the inspector.
 */
import { ClientSession, type ServerIdentity } from '../shared/client-session.ts';
import {
  Close,
  closeReason,
  fromBrowserCloseCode,
  isWirechatError,
  toBrowserCloseCode,
  WirechatError,
  type ErrorCode,
} from '../shared/errors.ts';
import { ResumePlace } from '../shared/outbox.ts';
import type { ServerBody, ServerEnd, ServerResumed } from '../shared/protocol.ts';
import { backoffDelay } from './backoff.ts';
import { WireLog, type StepEvent, type WireView } from './wire-log.ts';

/** The part of the browser's WebSocket this module uses, so that tests can hand it a stand-in. */
export interface SocketLike {
  /** WebSocket.OPEN (1) while frames can be sent. */
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
}

export type EndReason =
  /** The person typed EXIT or END. */
  | { by: 'you'; word: string }
  /**
   * The server sent an `end` body (the console typed END, kicked this page, is stopping, or refused something this
   * page sent), with its stable `code`. `verified`: it came in a record, authenticated; false in plain mode, where
   * nothing is.
   */
  | { by: 'server'; code: string; reason: string; verified: boolean }
  /** The server's signed welcome says it runs in plain mode, which the person did not allow. */
  | { by: 'plain-refused' }
  /**
   * The server refused the name in the hello (close 4100, NAME_REFUSED): the person picks another. `reason` is the
   * close frame's, unauthenticated like everything before the welcome (a forged one only sends the person back to
   * the name field, name kept).
   */
  | { by: 'name'; reason: string }
  /** A frame failed a check: the session was closed with `closeCode` and the frame was never shown. */
  | { by: 'integrity'; code: ErrorCode; message: string; closeCode: number; sentCode: number }
  /** The server presented a changed key and the person chose to disconnect. */
  | { by: 'trust'; fingerprint: string }
  /** Something this page did not expect (a bug, or Web Crypto failing). */
  | { by: 'error'; message: string };

export type ConnectionState =
  | { phase: 'idle' }
  | { phase: 'connecting'; attempt: number }
  | { phase: 'securing'; attempt: number }
  | { phase: 'secure' | 'plain'; attempt: number; identity: ServerIdentity; clockOffsetMs: number }
  | Disconnected
  | { phase: 'ended'; end: EndReason };

/**
 * Dropped, with the close code and reason it dropped with. `unverified`: the reason came in the peer's close frame,
 * which nothing authenticates (false when the page closed for a reason of its own, such as no answer to hello).
 * `attempt` is the next attempt (1 for the first retry); it starts at `retryAt` (ms since the epoch), or, when
 * `paused`, when the person says so.
 */
export type Disconnected = {
  phase: 'disconnected';
  code: number;
  reason: string;
  unverified: boolean;
  attempt: number;
} & ({ paused: false; delayMs: number; retryAt: number } | { paused: true });

/** What the connection tells its owner, as ClientEvents tells the connection. */
export interface ConnectionEvents {
  state?(state: ConnectionState): void;
  /** A step of the current attempt's handshake. */
  step?(event: StepEvent): void;
  /** A verified body, in order; `end` bodies too (the state then moves to ended). */
  body?(body: ServerBody): void;
  /**
   * Lines sent before a drop (by the ids `sendLine` gave them) that nobody can confirm now: the resume did not
   * recover this participant, so they are not sent again (shared/outbox.ts).
   */
  unconfirmed?(ids: readonly number[]): void;
}

export interface ConnectionOptions {
  url: string;
  name: string;
  acceptPlain: boolean;
  /** Decides on the server's identity; may wait for the person. Nothing is sent until it resolves. */
  trust(identity: ServerIdentity): Promise<boolean>;
  /** The first attempt's key pair, already being made (the page starts it as it loads). */
  keyPair: Promise<CryptoKeyPair>;
  /** Makes a fresh key pair for every later attempt. */
  generateKeyPair(): Promise<CryptoKeyPair>;
  createSocket?(url: string): SocketLike;
  /** Timers and randomness, replaceable in tests. */
  setTimer?(run: () => void, ms: number): unknown;
  clearTimer?(timer: unknown): void;
  now?(): number;
  random?(): number;
  events?: ConnectionEvents;
  /** How many frames the wire log keeps (oldest dropped first); WIRE_LIMIT unless set. */
  wireLimit?: number;
  /** How long the server has to answer hello before the attempt counts as dropped. */
  handshakeTimeoutMs?: number;
}

/**
 * Closes that say "not like this" rather than "not now": a frame refused, a policy (a rate limit, a handshake that
 * took too long), data that cannot be taken. A close is unauthenticated, so these are retried like any drop; but a
 * server (or someone on the path) that answers every attempt with one of them before the handshake completes is
 * not knocked at forever: after REFUSALS_BEFORE_PAUSE of them in a row the page waits for the person.
 */
export const REFUSAL_CODES: ReadonlySet<number> = new Set([
  Close.PROTOCOL_ERROR,
  Close.UNSUPPORTED_DATA,
  Close.INVALID_PAYLOAD,
  Close.POLICY_VIOLATION,
  Close.MESSAGE_TOO_BIG,
]);
export const REFUSALS_BEFORE_PAUSE = 5;
export const HANDSHAKE_TIMEOUT_MS = 15_000;

/** WebSocket.OPEN, which Node's tests have no global for. */
const OPEN = 1;

export class Connection {
  readonly #options: ConnectionOptions;
  #state: ConnectionState = { phase: 'idle' };
  #socket: SocketLike | undefined;
  #session: ClientSession | undefined;
  /** Bumped whenever a socket is let go of, so that late callbacks from it are recognised and ignored. */
  #generation = 0;
  /** Connections opened so far in this chat. */
  #connections = 0;
  /** Drops since the last secure (or plain) session; sets the backoff. */
  #failures = 0;
  /** Refusal-like closes (REFUSAL_CODES) since the last secure (or plain) session. */
  #refusals = 0;
  #keyPair: Promise<CryptoKeyPair>;
  #retryTimer: unknown;
  #handshakeTimer: unknown;
  #refusedFingerprint: string | undefined;
  readonly #wire: WireLog;
  /**
   * What this page needs to come back to its place after a drop: its outbox (lines sent and not yet receipted,
   * numbered for the whole chat: the exactly-once rule), its newest seat, its highest line number.
   */
  readonly #place = new ResumePlace();
  /** Whether a session of this chat ever opened: every later one resumes (hello.resume). */
  #joinedOnce = false;

  constructor(options: ConnectionOptions) {
    this.#options = options;
    this.#keyPair = options.keyPair;
    this.#wire = new WireLog({ limit: options.wireLimit, now: options.now });
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** This chat's frames and handshake steps, for the inspector: the log itself, not a copy. */
  get wire(): WireView {
    return this.#wire;
  }

  connect(): void {
    if (this.#state.phase !== 'idle') throw new Error(`connect() while ${this.#state.phase}`);
    this.#open();
  }

  /** Skips the rest of the backoff wait, or goes on after the page paused. */
  retryNow(): void {
    if (this.#state.phase !== 'disconnected') return;
    this.#clearTimer('retry');
    this.#open();
  }

  /**
   * Sends one chat line, already checked by the caller (web/controller.ts); resolves with the id its receipt will
   * name. Rejects with PROTO_UNEXPECTED unless the chat is ready, as the session does.
   */
  sendLine(text: string): Promise<number> {
    const phase = this.#state.phase;
    if ((phase !== 'secure' && phase !== 'plain') || this.#session === undefined) {
      return Promise.reject(new WirechatError('PROTO_UNEXPECTED', `nothing can be sent while the chat is ${phase}`));
    }
    const session = this.#session;
    const id = this.#place.outbox.add(text);
    // A line that could not be sealed before the socket went is still in the outbox: sent again on resume.
    return session.sendLine(text, id).then(
      () => id,
      () => id,
    );
  }

  /** The person typed EXIT or END: say bye inside the channel if there is one, close with 1000, never retry. */
  async end(word: string): Promise<void> {
    if (this.#state.phase === 'ended') return;
    const ready = this.#state.phase === 'secure' || this.#state.phase === 'plain';
    const session = this.#session;
    const socket = this.#socket;
    this.#release();
    this.#setState({ phase: 'ended', end: { by: 'you', word } });
    if (ready && session !== undefined) {
      try {
        await session.bye(word);
      } catch {
        // the chat is over either way; the close below tells the server
      }
    }
    session?.close();
    socket?.close(Close.NORMAL, closeReason(`${word} typed in the page`));
  }

  #open(): void {
    this.#clearTimer('retry');
    const generation = ++this.#generation;
    const live = () => generation === this.#generation;
    const attempt = this.#failures;
    let socket: SocketLike;
    try {
      socket = (this.#options.createSocket ?? ((url: string) => new WebSocket(url)))(this.#options.url);
    } catch (error) {
      // A malformed URL throws synchronously; retrying would throw again.
      this.#setState({ phase: 'ended', end: { by: 'error', message: describe(error) } });
      return;
    }
    const session = this.#newSession(socket, this.#connections++, attempt, live);
    this.#socket = socket;
    this.#session = session;
    this.#setState({ phase: 'connecting', attempt });
    this.#listen(socket, session, attempt, live);
  }

  /** One attempt's session: it reports to this machine while it is `live`, and every frame to the wire log. */
  #newSession(socket: SocketLike, connection: number, attempt: number, live: () => boolean): ClientSession {
    const wire = this.#wire;
    const session: ClientSession = new ClientSession({
      keyPair: this.#keyPair,
      name: this.#options.name,
      acceptPlain: this.#options.acceptPlain,
      send: (data) => socket.send(data),
      trust: (identity) => this.#trust(live, identity),
      // After a drop the page asks for its place back, inside the new session (the secret never crosses in the
      // clear: in plain mode the session sends an empty one).
      resume: this.#joinedOnce ? () => this.#place.claim() : undefined,
      events: {
        // What crossed the wire: a frame handed to the open socket (the bye after EXIT too), a frame that arrived.
        wire: (direction, data, frame, body) => {
          if (direction === 'out' && socket.readyState === OPEN) wire.recordOut(connection, data, body);
          if (direction === 'in' && live()) wire.recordIn(connection, data, frame);
        },
        checked: (check) => {
          if (live()) wire.checked(check);
        },
        step: (step, ms) => {
          if (!live()) return;
          if (step === 'welcome') this.#clearTimer('handshake');
          if (step === 'verified') wire.settle({ state: 'passed' });
          const event = { step, ms, connection };
          wire.step(event);
          this.#options.events?.step?.(event);
          // A resuming session is ready once the server has said what became of its place (`resumed`).
          if (step === 'ready' && !session.resuming) this.#ready(session, attempt);
        },
        body: (body) => {
          if (!live()) return;
          wire.settle({ state: 'passed' }, body);
          this.#place.track(body);
          this.#options.events?.body?.(body);
          if (body.kind === 'end') this.#serverEnded(body);
          if (body.kind === 'resumed') this.#resumed(session, attempt, body);
        },
      },
    });
    return session;
  }

  #listen(socket: SocketLike, session: ClientSession, attempt: number, live: () => boolean): void {
    socket.onopen = () => {
      if (!live()) return;
      this.#setState({ phase: 'securing', attempt });
      this.#handshakeTimer = this.#setTimer(() => {
        if (live())
          this.#dropped(Close.POLICY_VIOLATION, 'the server did not answer hello in time', {
            closeIt: true,
            unverified: false,
          });
      }, this.#options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS);
      session.begin().catch((error: unknown) => {
        if (live()) this.#failed(error, 'no frame');
      });
    };
    socket.onmessage = (event) => {
      if (!live()) return;
      if (typeof event.data !== 'string') {
        this.#failed(
          new WirechatError('PROTO_BINARY', 'the server sent a binary frame; wirechat frames are text'),
          'no frame',
        );
        return;
      }
      // The session handles frames one at a time: a failure is its verdict on the newest frame in the wire log.
      session.receive(event.data).catch((error: unknown) => {
        if (live()) this.#failed(error, 'newest frame');
      });
    };
    socket.onclose = (event) => {
      if (live()) this.#closed(event.code, event.reason);
    };
    socket.onerror = () => {
      // A close event always follows with the code; nothing to do until then.
    };
  }

  async #trust(live: () => boolean, identity: ServerIdentity): Promise<boolean> {
    // While a person decides, the handshake timer does not run: the server has its own, and says so by closing.
    const ok = await this.#options.trust(identity);
    if (!ok && live()) this.#refusedFingerprint = identity.fingerprint;
    return ok && live();
  }

  /**
   * The server's answer to this page's resume: its old place back (the lines still unconfirmed go again, under
   * their own ids, and the server delivers each exactly once), or a new place (they are reported unconfirmed, and
   * the old secret is forgotten: the next seat replaces it).
   */
  #resumed(session: ClientSession, attempt: number, body: ServerResumed): void {
    const { resend, unconfirmed } = this.#place.resumed(body);
    for (const { id, text } of resend) session.sendLine(text, id).catch(() => undefined);
    if (unconfirmed.length > 0) this.#options.events?.unconfirmed?.(unconfirmed);
    this.#ready(session, attempt);
  }

  #ready(session: ClientSession, attempt: number): void {
    this.#joinedOnce = true;
    const identity = session.identity;
    if (identity === undefined) return;
    this.#failures = 0;
    this.#refusals = 0;
    this.#setState({
      phase: identity.mode === 'plain' ? 'plain' : 'secure',
      attempt,
      identity,
      clockOffsetMs: session.clockOffsetMs,
    });
  }

  /** An `end` body: the only thing that ends the chat from the server's side. */
  #serverEnded(body: ServerEnd): void {
    const socket = this.#socket;
    const verified = this.#state.phase === 'secure';
    this.#session?.close();
    this.#release();
    this.#setState({ phase: 'ended', end: { by: 'server', code: body.code, reason: body.reason, verified } });
    socket?.close(Close.NORMAL, 'the server ended the chat');
  }

  /**
   * The session refused a frame (or could not go on): close with the mapped code and never retry. When the
   * failure is a check of the `newest frame` that arrived, the wire log marks that frame failed.
   */
  #failed(error: unknown, blame: 'newest frame' | 'no frame'): void {
    const socket = this.#socket;
    this.#session?.close();
    this.#release();
    let end: EndReason;
    let code: number = Close.INTERNAL_ERROR;
    let reason: string;
    if (this.#refusedFingerprint !== undefined) {
      end = { by: 'trust', fingerprint: this.#refusedFingerprint };
      code = Close.POLICY_VIOLATION;
      reason = 'the person did not trust the changed server key';
    } else if (isWirechatError(error, 'HANDSHAKE_PLAIN_REFUSED')) {
      code = error.closeCode;
      end = { by: 'plain-refused' };
      if (blame === 'newest frame') this.#wire.settle({ state: 'failed', code: error.code, message: error.message });
      reason = `${code} ${error.code}: ${error.message}`;
    } else if (isWirechatError(error)) {
      code = error.closeCode;
      end = {
        by: 'integrity',
        code: error.code,
        message: error.message,
        closeCode: code,
        sentCode: toBrowserCloseCode(code),
      };
      if (blame === 'newest frame') this.#wire.settle({ state: 'failed', code: error.code, message: error.message });
      reason = `${code} ${error.code}: ${error.message}`;
    } else {
      end = { by: 'error', message: describe(error) };
      reason = `${code} page error: ${describe(error)}`;
    }
    this.#setState({ phase: 'ended', end });
    socket?.close(toBrowserCloseCode(code), closeReason(reason));
  }

  /**
   * The socket closed while this page still meant to chat, without an `end` body: a disconnection, whatever the
   * close says (1000 "normal" included), since nothing authenticates a close frame.
   */
  #closed(code: number, reason: string): void {
    // Only an answer to the hello: a 4100 after the welcome is nobody's word for anything.
    if (code === Close.NAME_REFUSED && (this.#state.phase === 'connecting' || this.#state.phase === 'securing')) {
      this.#session?.close();
      this.#release();
      this.#setState({ phase: 'ended', end: { by: 'name', reason: reason.replace(/^NAME_REFUSED: /, '') } });
      return;
    }
    const ready = this.#state.phase === 'secure' || this.#state.phase === 'plain';
    if (!ready && REFUSAL_CODES.has(fromBrowserCloseCode(code))) this.#refusals++;
    this.#dropped(code, reason, { closeIt: false, unverified: true });
  }

  #dropped(code: number, reason: string, how: { closeIt: boolean; unverified: boolean }): void {
    const socket = this.#socket;
    this.#session?.close();
    this.#release();
    if (how.closeIt) socket?.close(toBrowserCloseCode(code), closeReason(reason));
    this.#failures++;
    // The next attempt's key pair is made while the backoff runs.
    this.#keyPair = this.#options.generateKeyPair();
    this.#keyPair.catch(() => undefined);
    const dropped = {
      phase: 'disconnected',
      code,
      reason,
      unverified: how.unverified,
      attempt: this.#failures,
    } as const;
    if (this.#refusals >= REFUSALS_BEFORE_PAUSE) {
      this.#setState({ ...dropped, paused: true });
      return;
    }
    const delayMs = backoffDelay(this.#failures, this.#options.random);
    this.#setState({ ...dropped, paused: false, delayMs, retryAt: this.#now() + delayMs });
    this.#retryTimer = this.#setTimer(() => this.#open(), delayMs);
  }

  /**
   * Lets go of the current socket and session: their late callbacks are ignored from here on. The session is
   * not closed here, so that end() can still say bye through it; every other path closes it.
   */
  #release(): void {
    this.#generation++;
    this.#clearTimer('retry');
    this.#clearTimer('handshake');
    this.#session = undefined;
    if (this.#socket !== undefined) {
      this.#socket.onopen = this.#socket.onmessage = this.#socket.onclose = this.#socket.onerror = null;
    }
    this.#socket = undefined;
  }

  #setState(state: ConnectionState): void {
    this.#state = state;
    this.#options.events?.state?.(state);
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }

  #setTimer(run: () => void, ms: number): unknown {
    return (this.#options.setTimer ?? ((f: () => void, t: number) => setTimeout(f, t)))(run, ms);
  }

  #clearTimer(which: 'retry' | 'handshake'): void {
    const timer = which === 'retry' ? this.#retryTimer : this.#handshakeTimer;
    if (timer === undefined) return;
    (this.#options.clearTimer ?? ((t: unknown) => clearTimeout(t as number)))(timer);
    if (which === 'retry') this.#retryTimer = undefined;
    else this.#handshakeTimer = undefined;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
