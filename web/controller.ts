/**
 * Between the connection and the components: turns connection events into one view (`AppView`) and the
 * components' events into calls. It keeps the chat log and its outbox, the handshake steps, and the trust
 * decision; it opens no socket itself (web/connection.ts does) and never sees a key.
 *
 * Data goes one way. Below, the connection reports through callbacks (`ConnectionEvents`); above, web/main.ts
 * turns the components' DOM events into calls here, and every answer goes back down as part of the view (a
 * refused line's reason is `composer.error`), never through the event. It checks what the person typed once,
 * here; the connection and the session below only refuse what breaks their own state.
 */
import type { HandshakeStep, ServerIdentity } from '../shared/client-session.ts';
import { checkLine, isEndWord, type Mode, type ServerBody, type ServerResumed } from '../shared/protocol.ts';
import { printable } from '../shared/text.ts';
import { ChatLog, presenceLines, type ChatEntry } from './chat-log.ts';
import { Connection, type ConnectionOptions, type ConnectionState } from './connection.ts';
import { endSummary, resumedText } from './status-text.ts';
import type { TrustStore } from './trust-store.ts';
import type { StepEvent, WireView } from './wire-log.ts';

export interface StepView {
  step: HandshakeStep;
  ms: number;
}

/** How the fingerprint compared with the one remembered for this host. */
export type TrustNote = 'first' | 'same' | 'replaced';

export interface IdentityView {
  fingerprint: string;
  sessionCode: string;
  mode: Mode;
  /** The name the server gave this page. */
  name: string;
  trust: TrustNote;
}

export interface TrustPrompt {
  host: string;
  pinned: string;
  presented: string;
}

export interface KeyPairView {
  state: 'generating' | 'ready' | 'failed';
  /** How long it took, once ready. */
  ms: number;
}

/** The message field's part of the view: what became of the lines typed into it. */
export interface ComposerView {
  /** Why the last line typed was not taken, shown under the field (which keeps the line); empty once one is. */
  error: string;
  /** Lines taken from the field in this chat: each one empties it. */
  taken: number;
}

export interface AppView {
  stage: 'insecure' | 'join' | 'chat';
  insecureReason: string;
  /** The name offered in the name field. */
  name: string;
  /** Why the server refused the name last asked for, shown by the name field; empty when it did not. */
  nameError: string;
  host: string;
  keyPair: KeyPairView;
  state: ConnectionState;
  /** The steps of the current connection's handshake, in order. */
  steps: readonly StepView[];
  /** Which connection of this chat the steps belong to (0 first, +1 per reconnect). */
  connection: number;
  identity: IdentityView | undefined;
  trustPrompt: TrustPrompt | undefined;
  entries: readonly ChatEntry[];
  composer: ComposerView;
  /** The chat's wire log for the inspector, by reference (it changes without a new view); none before Connect. */
  wire: WireView | undefined;
}

export interface ControllerOptions {
  host: string;
  url: string;
  /** Undefined when the page can do its cryptography here; else why not. */
  insecureReason: string | undefined;
  defaultName: string;
  trustStore: TrustStore;
  generateKeyPair(): Promise<CryptoKeyPair>;
  render(view: AppView): void;
  now?(): number;
  /** Passed through to the connection (tests hand in a socket stand-in and timers). */
  connection?: Partial<ConnectionOptions>;
}

/** The parts of the view that belong to one chat, as they are before it starts. */
function freshChat(): Pick<
  AppView,
  'stage' | 'state' | 'steps' | 'connection' | 'identity' | 'trustPrompt' | 'entries' | 'composer' | 'wire'
> {
  return {
    stage: 'join',
    state: { phase: 'idle' },
    steps: [],
    connection: 0,
    identity: undefined,
    trustPrompt: undefined,
    entries: [],
    composer: { error: '', taken: 0 },
    wire: undefined,
  };
}

export class Controller {
  readonly #options: ControllerOptions;
  #view: AppView;
  #log = new ChatLog();
  #connection: Connection | undefined;
  #keyPair: Promise<CryptoKeyPair> | undefined;
  #pendingTrust: ((ok: boolean) => void) | undefined;
  #everReady = false;
  /** The epoch of the server's chat log, from the last seat: line numbers mean something only within it. */
  #epoch: string | undefined;

  constructor(options: ControllerOptions) {
    this.#options = options;
    this.#view = {
      ...freshChat(),
      stage: options.insecureReason === undefined ? 'join' : 'insecure',
      insecureReason: options.insecureReason ?? '',
      name: options.defaultName,
      nameError: '',
      host: options.host,
      keyPair: { state: 'generating', ms: 0 },
    };
    if (options.insecureReason === undefined) this.#makeKeyPair();
  }

  get view(): AppView {
    return this.#view;
  }

  /** The person picked a name (and maybe allowed plain mode): open the connection. */
  connect(name: string, acceptPlain: boolean): void {
    if (this.#view.stage !== 'join' || this.#keyPair === undefined) return;
    const connection = new Connection({
      url: this.#options.url,
      name: name.trim(),
      acceptPlain,
      keyPair: this.#keyPair,
      generateKeyPair: () => this.#options.generateKeyPair(),
      trust: (identity) => this.#trust(identity),
      ...this.#options.connection,
      events: {
        state: (state) => this.#onState(connection, state),
        step: (event) => this.#onStep(connection, event),
        body: (body) => this.#onBody(connection, body),
        unconfirmed: (ids) => this.#unconfirmed(connection, ids),
      },
    });
    this.#connection = connection;
    this.#everReady = false;
    this.#epoch = undefined;
    this.#set({ stage: 'chat', name: name.trim(), nameError: '', wire: connection.wire });
    connection.connect();
    // Read the pin now, while the socket opens, and throw the answer away: the browser loads a page's storage on
    // its first read, synchronously (milliseconds), and that first read would otherwise come in the middle of the
    // handshake, between the signature check and the unwrap. The trust check itself reads again then.
    this.#options.trustStore.pinned(this.#options.host);
  }

  /**
   * A line from the message field. EXIT or END ends the chat; any other line is checked (this is the only place
   * that checks it), queued, and sent as soon as the chat is ready. The verdict comes down as `composer`.
   */
  send(text: string): void {
    const problem = this.#take(text);
    const { taken } = this.#view.composer;
    const composer = problem === undefined ? { error: '', taken: taken + 1 } : { error: problem, taken };
    this.#set({ composer, entries: this.#log.entries });
  }

  /** Takes a line from the field, or says why not. */
  #take(text: string): string | undefined {
    if (this.#connection === undefined || this.#view.state.phase === 'ended') return 'the chat has ended';
    if (isEndWord(text)) {
      void this.#connection.end(text.trim().toUpperCase());
      return undefined;
    }
    const problem = checkLine(text);
    if (problem !== undefined) return problem;
    this.#log.own(this.#ownName(), text, this.#now());
    this.#flush();
    return undefined;
  }

  /** Sends a not-delivered line again, as a new line at the end of the log. */
  resend(key: number): void {
    if (this.#view.state.phase === 'ended') return;
    if (this.#log.resend(key, this.#now()) === undefined) return;
    this.#flush();
    this.#set({ entries: this.#log.entries });
  }

  /** The person's answer to the changed-key warning. */
  decideTrust(trust: boolean): void {
    const prompt = this.#view.trustPrompt;
    const resolve = this.#pendingTrust;
    if (prompt === undefined || resolve === undefined) return;
    if (trust) this.#options.trustStore.pin(prompt.host, prompt.presented);
    this.#pendingTrust = undefined;
    this.#set({ trustPrompt: undefined });
    resolve(trust);
  }

  retryNow(): void {
    this.#connection?.retryNow();
  }

  /** Back to the name form with a fresh key pair, once the chat has ended. */
  newChat(): void {
    if (this.#view.state.phase !== 'ended') return;
    this.#connection = undefined;
    this.#log = new ChatLog();
    this.#makeKeyPair();
    this.#set(freshChat());
  }

  /** The server refused the name: back to the name form, the name still in it, the server's reason beside it. */
  #nameRefused(reason: string): void {
    this.#connection = undefined;
    this.#log = new ChatLog();
    this.#makeKeyPair();
    const why = printable(reason, 200).trim();
    this.#set({
      ...freshChat(),
      nameError: `Pick another name: the server refused this one${why === '' ? '' : ` (${why})`}.`,
    });
  }

  #makeKeyPair(): void {
    const started = this.#now();
    const keyPair = this.#options.generateKeyPair();
    this.#keyPair = keyPair;
    this.#set({ keyPair: { state: 'generating', ms: 0 } });
    keyPair.then(
      () => {
        if (this.#keyPair === keyPair) this.#set({ keyPair: { state: 'ready', ms: this.#now() - started } });
      },
      () => {
        if (this.#keyPair === keyPair) this.#set({ keyPair: { state: 'failed', ms: this.#now() - started } });
      },
    );
  }

  /** Trust on first use; a changed key waits for the person (ClientSession sends nothing until this resolves). */
  #trust(identity: ServerIdentity): Promise<boolean> {
    const store = this.#options.trustStore;
    const host = this.#options.host;
    const check = store.check(host, identity.fingerprint);
    if (check.kind !== 'changed') {
      if (check.kind === 'unknown') store.pin(host, identity.fingerprint);
      this.#setIdentity(identity, check.kind === 'unknown' ? 'first' : 'same');
      return Promise.resolve(true);
    }
    this.#cancelTrustPrompt();
    return new Promise<boolean>((resolve) => {
      this.#pendingTrust = (ok) => {
        if (ok) this.#setIdentity(identity, 'replaced');
        resolve(ok);
      };
      this.#set({ trustPrompt: { host, pinned: check.pinned, presented: identity.fingerprint } });
    });
  }

  #setIdentity(identity: ServerIdentity, trust: TrustNote): void {
    const { fingerprint, sessionCode, mode, name } = identity;
    this.#set({ identity: { fingerprint, sessionCode, mode, name, trust } });
  }

  /** A prompt whose connection went away is answered "no" for it; a new attempt asks again. */
  #cancelTrustPrompt(): void {
    const resolve = this.#pendingTrust;
    this.#pendingTrust = undefined;
    if (this.#view.trustPrompt !== undefined) this.#set({ trustPrompt: undefined });
    resolve?.(false);
  }

  /** The handshake panel shows the current connection's steps; a reconnect starts them again. */
  #onStep(connection: Connection, { step, ms, connection: n }: StepEvent): void {
    if (connection !== this.#connection) return;
    const steps = n === this.#view.connection ? this.#view.steps : [];
    this.#set({ steps: [...steps, { step, ms }], connection: n });
  }

  #onState(connection: Connection, state: ConnectionState): void {
    if (connection !== this.#connection) return;
    const previous = this.#view.state.phase;
    const at = this.#now();
    switch (state.phase) {
      case 'secure':
      case 'plain':
        if (this.#everReady) {
          this.#log.system(
            `Reconnected: ${state.phase === 'secure' ? 'secure' : 'PLAIN MODE'} again, session ${state.identity.sessionCode}.`,
            at,
          );
        }
        this.#everReady = true;
        break;
      case 'disconnected':
        this.#cancelTrustPrompt();
        if (previous === 'secure' || previous === 'plain') {
          this.#log.system(
            'Connection lost. Reconnecting: lines not yet confirmed are sent again once this page has its place back.',
            at,
          );
        }
        break;
      case 'ended':
        this.#cancelTrustPrompt();
        if (state.end.by === 'name') return this.#nameRefused(state.end.reason);
        this.#log.ended();
        this.#log.system(`${endSummary(state.end)}.`, at);
        break;
      default:
        break;
    }
    if (state.phase === 'secure' || state.phase === 'plain') this.#flush(state.phase);
    this.#set({ state, entries: this.#log.entries });
  }

  #onBody(connection: Connection, body: ServerBody): void {
    if (connection !== this.#connection) return;
    const state = this.#view.state;
    const offset = state.phase === 'secure' || state.phase === 'plain' ? state.clockOffsetMs : 0;
    switch (body.kind) {
      case 'line':
        this.#log.line(body.from, body.text, body.at - offset, body.direct, body.n, body.late);
        break;
      case 'receipt':
        this.#log.receipt(body.id, body.status, printable(body.reason, 256), body.n);
        break;
      case 'seat':
        // The connection keeps the secret. A seat of another epoch: the server's numbers started again.
        if (this.#epoch !== undefined && this.#epoch !== body.epoch) this.#log.newEpoch();
        this.#epoch = body.epoch;
        break;
      case 'resumed':
        this.#resumed(body);
        break;
      case 'presence':
        for (const text of presenceLines(body)) this.#log.system(text, body.at - offset);
        break;
      case 'end':
        // The connection moves to ended and says why; #onState logs it.
        break;
      default: {
        const unreachable: never = body;
        return unreachable;
      }
    }
    this.#set({ entries: this.#log.entries });
  }

  /** What became of this page's place after a reconnect, in words; lines nobody can confirm are marked so. */
  #resumed(body: ServerResumed): void {
    const at = this.#now();
    const identity = this.#view.identity;
    if (identity !== undefined && identity.name !== body.name)
      this.#set({ identity: { ...identity, name: body.name } });
    this.#log.system(resumedText(body), at);
  }

  /** Lines sent before a drop that the resume could not confirm (it did not recover this participant). */
  #unconfirmed(connection: Connection, ids: readonly number[]): void {
    if (connection !== this.#connection || ids.length === 0) return;
    this.#log.unconfirmed(ids);
    this.#set({ entries: this.#log.entries });
  }

  /**
   * Hands every queued line to the session, oldest first, once the chat is ready. The caller shows the lines now
   * sending; the ids and refusals that come back later are shown as they come.
   */
  #flush(phase: ConnectionState['phase'] = this.#view.state.phase): void {
    const connection = this.#connection;
    if (connection === undefined || (phase !== 'secure' && phase !== 'plain')) return;
    const log = this.#log;
    // After "Start a new chat" the old log is gone from view; its late results must not come back into it.
    const show = () => {
      if (log === this.#log) this.#set({ entries: log.entries });
    };
    for (const line of log.queued) {
      log.sending(line.key);
      connection.sendLine(line.text).then(
        (id) => {
          log.sent(line.key, id);
          show();
        },
        (error: unknown) => {
          log.notSent(line.key, error instanceof Error ? error.message : String(error));
          show();
        },
      );
    }
  }

  #ownName(): string {
    return this.#view.identity?.name ?? this.#view.name;
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }

  /** A new view and a render, unless nothing in `change` differs (a line marked sent changes no entry). */
  #set(change: Partial<AppView>): void {
    const keys = Object.keys(change) as (keyof AppView)[];
    if (keys.every((key) => this.#view[key] === change[key])) return;
    this.#view = { ...this.#view, ...change };
    this.#options.render(this.#view);
  }
}
