/**
 * The page's side of the protocol, independent of where it runs: the browser tab (web/connection.ts) and the
 * Node tools and tests (tools/client.ts) drive the same code, so what the tests prove is what the page does.
 * It owns the page's keys and sequence numbers; nothing else touches them.
 *
 * It does not open sockets: it is handed a `send` function and fed each incoming text frame through
 * `receive`, and it reports through `ClientEvents`.
 */
import { WirechatError } from './errors.ts';
import { webCryptoBackend, type CryptoBackend } from './crypto-backend.ts';
import {
  buildHello,
  checkWrappedKeys,
  exportSpki,
  fingerprint,
  sessionCode,
  unwrapWelcome,
  verifyWelcome,
} from './handshake.ts';
import {
  parseServerBody,
  parseServerFrame,
  type ClientBody,
  type ClientResume,
  type HelloFrame,
  type Mode,
  type ServerBody,
  type ServerFrame,
  type WelcomeFrame,
} from './protocol.ts';
import { createChannel, type Channel, type CheckListener, type FrameCheck } from './record.ts';
import { SETTLED } from './maybe-promise.ts';
import { InOrder } from './in-order.ts';

export type HandshakeStep = 'keypair' | 'hello' | 'welcome' | 'verified' | 'trusted' | 'unwrapped' | 'ready';

/** What the person is shown about the server before anything is sent: its key and how it compares. */
export interface ServerIdentity {
  serverKey: Uint8Array;
  fingerprint: string;
  sessionCode: string;
  mode: Mode;
  name: string;
}

export interface ClientEvents {
  /** A step of the handshake finished, `ms` after the session began. */
  step?(step: HandshakeStep, ms: number): void;
  /**
   * Every frame as it crossed the wire, for the inspector and for tests. An outgoing record or plain frame comes
   * with the `body` it carries (a record's as it was before sealing); an incoming frame's body is known only
   * once its checks pass, and comes through `body`, before the next frame is reported here.
   */
  wire?(direction: 'out' | 'in', data: string, frame: ServerFrame | undefined, body?: ClientBody): void;
  /**
   * A check the last incoming frame (the last one reported on `wire`) passed, as it passes: its sequence number,
   * the record HMAC, the Fernet HMAC, the welcome's signature. Told by the code that ran the check, so what the
   * inspector shows cannot drift from the order the checks run in.
   */
  checked?(check: FrameCheck): void;
  /** A body arrived, verified and decrypted (or plain). */
  body?(body: ServerBody): void;
}
export interface ClientOptions {
  keyPair: CryptoKeyPair | Promise<CryptoKeyPair>;
  name: string;
  acceptPlain: boolean;
  send(data: string): void;
  /**
   * Decides whether to go on with this server, after its signature has verified and before any key is used or
   * anything else is sent. The page compares the fingerprint with the one it pinned; it may wait for a person.
   */
  trust(identity: ServerIdentity): Promise<boolean>;
  events?: ClientEvents;
  backend?: CryptoBackend;
  /**
   * Set when this session comes back after a drop: what to claim (the secret from the last `seat`, the log epoch
   * and the last line number this page has), asked once the session is open and sent as its first body. In plain
   * mode the secret is left out (sent empty): it would cross the network in the clear.
   */
  resume?: () => Omit<ClientResume, 'kind'>;
}

/** Where the session is: `secure` and `plain` are the open chat, in the mode its channel speaks. */
export type ClientPhase = 'new' | 'hello' | 'verifying' | Mode | 'ended';

type State =
  | { phase: 'new' }
  | { phase: 'hello'; hello: HelloFrame; privateKey: CryptoKey }
  | { phase: 'verifying' }
  | { phase: 'open'; channel: Channel<ClientBody, ServerBody> }
  | { phase: 'ended' };

/** Its frames are handled one at a time, in arrival order (shared/in-order.ts); those behind a failed one fail with it. */
export class ClientSession extends InOrder {
  readonly #options: ClientOptions;
  readonly #started = Date.now();
  #state: State = { phase: 'new' };
  #nextLineId = 0;
  #offsetMs = 0;
  #identity: ServerIdentity | undefined;
  /** Told each check an incoming frame passes (undefined when nobody listens: then no closure per record). */
  readonly #checked: CheckListener | undefined;
  readonly #body = (body: ServerBody): void => this.#options.events?.body?.(body);

  constructor(options: ClientOptions) {
    super();
    this.#options = options;
    const events = options.events;
    this.#checked = events?.checked && ((check) => events.checked?.(check));
  }

  get phase(): ClientPhase {
    const state = this.#state;
    return state.phase === 'open' ? state.channel.mode : state.phase;
  }

  /** Whether this session asked for its place back: it is open only once the server's `resumed` answer came. */
  get resuming(): boolean {
    return this.#options.resume !== undefined;
  }

  get identity(): ServerIdentity | undefined {
    return this.#identity;
  }

  /** Milliseconds the server's clock is ahead of this one, from the welcome. */
  get clockOffsetMs(): number {
    return this.#offsetMs;
  }

  #step(step: HandshakeStep): void {
    this.#options.events?.step?.(step, Date.now() - this.#started);
  }

  #send(data: string, body?: ClientBody): void {
    this.#options.events?.wire?.('out', data, undefined, body);
    this.#options.send(data);
  }

  /** Sends `hello` once the key pair is ready (it may still be generating when the socket opens). */
  async begin(): Promise<void> {
    if (this.#state.phase !== 'new') throw new WirechatError('PROTO_UNEXPECTED', 'the handshake has already begun');
    const keyPair = await this.#options.keyPair;
    this.#step('keypair');
    const publicKey = await exportSpki(keyPair.publicKey);
    const hello = buildHello({
      name: this.#options.name,
      publicKey,
      acceptPlain: this.#options.acceptPlain,
      resume: this.#options.resume !== undefined,
    });
    this.#state = { phase: 'hello', hello, privateKey: keyPair.privateKey };
    this.#send(JSON.stringify(hello));
    this.#step('hello');
  }

  /**
   * Feeds one incoming text frame. Frames are processed strictly in arrival order. Rejects with a
   * WirechatError whose `closeCode` the caller closes the socket with; the session is then ended.
   *
   * With nothing still being processed, the frame is handled now, in the caller's event: over a synchronous
   * channel (node:crypto, or plain mode) a record is checked, opened and its body reported before this returns,
   * with no promise made for it. A frame whose handling has to wait (the welcome's checks, any Web Crypto step)
   * makes the frames behind it wait in turn, as every frame did before; the checks and their order are the same
   * code either way.
   */
  receive(data: string): Promise<void> {
    try {
      return this.inOrder(this.#receive, data) ?? SETTLED;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** One frame, checked and handled: nothing returned where nothing had to wait, a promise where something did. */
  #receive(data: string): void | Promise<void> {
    if (this.#state.phase === 'ended') return;
    let frame: ServerFrame;
    try {
      frame = parseServerFrame(data);
    } catch (error) {
      this.#options.events?.wire?.('in', data, undefined);
      throw this.#end(error);
    }
    this.#options.events?.wire?.('in', data, frame);
    let handled: void | Promise<void>;
    try {
      handled = this.#handle(frame);
    } catch (error) {
      throw this.#end(error);
    }
    if (handled instanceof Promise) {
      return handled.catch((error: unknown) => {
        throw this.#end(error);
      });
    }
  }

  #end(error: unknown): unknown {
    this.#state = { phase: 'ended' };
    return error;
  }

  #handle(frame: ServerFrame): void | Promise<void> {
    const state = this.#state;
    switch (frame.type) {
      case 'welcome':
        if (state.phase !== 'hello') throw new WirechatError('PROTO_UNEXPECTED', 'a second welcome');
        return this.#welcome(state, frame);
      case 'record':
      case 'plain': {
        if (state.phase !== 'open')
          throw new WirechatError('PROTO_UNEXPECTED', `a ${frame.type} frame before the chat is open`);
        const opened = state.channel.open(frame, this.#checked);
        if (opened instanceof Promise) return opened.then(this.#body);
        this.#body(opened);
        return;
      }
      default: {
        const unreachable: never = frame;
        throw new WirechatError('PROTO_UNKNOWN_TYPE', `unknown frame ${String(unreachable)}`);
      }
    }
  }

  async #welcome(state: Extract<State, { phase: 'hello' }>, welcome: WelcomeFrame): Promise<void> {
    this.#step('welcome');
    this.#state = { phase: 'verifying' };
    // The signature is checked before anything in the welcome is used: until then it is an anonymous claim.
    const verified = await verifyWelcome(state.hello, welcome);
    this.#options.events?.checked?.('signature');
    this.#step('verified');
    checkWrappedKeys(verified);
    this.#identity = {
      serverKey: verified.serverKey,
      fingerprint: await fingerprint(verified.serverKey),
      sessionCode: await sessionCode(verified.transcript),
      mode: verified.mode,
      name: verified.name,
    };
    this.#offsetMs = verified.time - Date.now();
    if (!(await this.#options.trust(this.#identity))) {
      throw new WirechatError('HANDSHAKE_BAD_KEY', 'the server key was not trusted');
    }
    this.#step('trusted');
    // Only now is "this server runs in plain mode" the server's own word: signed, and by the key this page trusts
    // (an impostor's signed plain welcome meets the changed-key check first). The server sends it on purpose to a
    // page that did not allow plain mode, so that the refusal is authenticated and final.
    if (verified.mode === 'plain' && !this.#options.acceptPlain) {
      throw new WirechatError(
        'HANDSHAKE_PLAIN_REFUSED',
        'the server runs in plain mode, which this page did not allow',
      );
    }
    const secret = await unwrapWelcome(verified, state.privateKey);
    if (secret !== undefined) this.#step('unwrapped');
    const offset = this.#offsetMs;
    const channel = await createChannel<ClientBody, ServerBody>({
      mode: verified.mode,
      secret,
      sessionId: verified.sessionId,
      send: 'c2s',
      backend: this.#options.backend ?? webCryptoBackend,
      parse: parseServerBody,
      now: () => (Date.now() + offset) / 1000,
    });
    this.#state = { phase: 'open', channel };
    const resume = this.#options.resume;
    if (resume !== undefined) {
      const claim = resume();
      await this.#sendBody({ kind: 'resume', ...claim, secret: verified.mode === 'plain' ? '' : claim.secret });
    }
    this.#step('ready');
  }

  /**
   * Sends one chat line and returns its id, which the server's receipt will name. The caller has checked the line
   * (the page's controller, with checkLine); the server checks it again, as it checks everything from the wire.
   * `id`: the page's own number for the line when it keeps them across reconnects (shared/outbox.ts; a line sent
   * again keeps its id); else this session numbers its lines 0, 1, 2, ...
   */
  async sendLine(text: string, id: number = this.#nextLineId++): Promise<number> {
    await this.#sendBody({ kind: 'line', id, text });
    return id;
  }

  /** Says goodbye inside the authenticated channel, so the server knows the tab left on purpose. */
  async bye(word: string): Promise<void> {
    await this.#sendBody({ kind: 'bye', word });
    this.#state = { phase: 'ended' };
  }

  async #sendBody(body: ClientBody): Promise<void> {
    const state = this.#state;
    if (state.phase !== 'open')
      throw new WirechatError('PROTO_UNEXPECTED', `nothing can be sent while the chat is ${this.phase}`);
    // A plain frame goes out at once; a record once sealed, in the order the bodies came. The frame's text is the
    // record's own bytes (shared/record.ts), not a frame object made from them and serialized again.
    const sealed = state.channel.sealText(body);
    this.#send(sealed instanceof Promise ? await sealed : sealed, body);
  }

  close(): void {
    this.#state = { phase: 'ended' };
  }
}
