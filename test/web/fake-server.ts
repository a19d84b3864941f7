/**
 * Test support for test/web: a WebSocket stand-in wired to a minimal wirechat server made of the shared
 * handshake and record code, so that the page's connection and controller run real handshakes in Node.
 */
import assert from 'node:assert/strict';
import { randomBytes, toBase64Url } from '../../shared/bytes.ts';
import { webCryptoBackend } from '../../shared/crypto-backend.ts';
import {
  exportSpki,
  generateClientKeyPair,
  prepareWelcome,
  signWelcome,
  webCryptoServerHandshake,
} from '../../shared/handshake.ts';
import { createMac, type Mac } from '../../shared/mac.ts';
import {
  parseClientBody,
  parseClientFrame,
  type ClientBody,
  type HelloFrame,
  type ServerBody,
} from '../../shared/protocol.ts';
import { createChannel, recordMacInput, type Channel } from '../../shared/record.ts';
import type { ConnectionOptions, SocketLike } from '../../web/connection.ts';

/** The server's identity key, one for the whole test run. */
export const identity = crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
// 2048 bits is the smallest the protocol accepts, and keeps these tests fast.
export const makeKeyPair = () => generateClientKeyPair(2048);

/**
 * One server-side session: answers hello with a signed welcome (through shared/handshake.ts's steps, as
 * server/session.ts does), receipts every line that comes as a record, and can speak first.
 */
export class FakeServer {
  channel: Channel<ServerBody, ClientBody> | undefined;
  received: unknown[] = [];
  /** The chat-wide numbers this fake gives the lines it receipts. */
  #lines = 0;
  readonly socket: FakeSocket;
  readonly options: { answer: boolean; mode: 'secure' | 'plain'; identity?: Promise<CryptoKeyPair> };
  constructor(socket: FakeSocket, options: FakeServer['options']) {
    this.socket = socket;
    this.options = options;
  }

  async handle(data: string): Promise<void> {
    const frame = parseClientFrame(data);
    if (frame.type === 'hello') {
      if (this.options.answer) await this.#welcome(frame);
      return;
    }
    if (frame.type !== 'record' || this.channel === undefined) return;
    const body = await this.channel.open(frame);
    this.received.push(body);
    if (body.kind === 'line')
      await this.say({ kind: 'receipt', id: body.id, status: 'delivered', reason: '', n: ++this.#lines });
    // It keeps no history and gives no seats: a page coming back is a new participant, told so, as a server that
    // restarted without --history tells it.
    if (body.kind === 'resume') {
      const reason = this.options.mode === 'plain' ? 'plain' : 'unknown';
      await this.say({ kind: 'resumed', name: this.#name, recovered: false, reason, gone: 0, replayed: 0 });
    }
  }

  async say(body: ServerBody, tamper = false): Promise<void> {
    assert.ok(this.channel, 'no session yet');
    const frame = await this.channel.seal(body);
    if (tamper && frame.type === 'record') frame.mac = toBase64Url(randomBytes(32));
    this.socket.message(JSON.stringify(frame));
  }

  /** The record HMAC key, kept so that a test can send what only a key holder could (sayWithChangedToken). */
  #forger: { mac: Mac; sessionId: Uint8Array } | undefined;

  /** Seals `body`, then changes one character of its token and puts a correct record HMAC on the change. */
  async sayWithChangedToken(body: ServerBody): Promise<void> {
    assert.ok(this.channel && this.#forger, 'no secure session yet');
    const frame = await this.channel.seal(body);
    assert.equal(frame.type, 'record');
    if (frame.type !== 'record') return;
    const token = frame.token.slice(0, 40) + (frame.token[40] === 'A' ? 'B' : 'A') + frame.token.slice(41);
    const mac = await this.#forger.mac.sign(recordMacInput('s2c', frame.seq, this.#forger.sessionId, token));
    this.socket.message(JSON.stringify({ ...frame, token, mac: toBase64Url(mac) }));
  }

  #name = '';

  async #welcome(hello: HelloFrame): Promise<void> {
    this.#name = hello.name;
    const key = await (this.options.identity ?? identity);
    const handshake = webCryptoServerHandshake;
    const draft = await prepareWelcome(handshake, hello, this.options.mode);
    const welcome = await signWelcome(handshake, draft, {
      publicKey: await exportSpki(key.publicKey),
      signingKey: key.privateKey,
      name: hello.name,
      time: Date.now(),
    });
    // createMac zeroes the bytes it is given, as createChannel below does: the forger gets its own copy.
    if (draft.secret) this.#forger = { mac: await createMac(draft.secret.macKey.slice()), sessionId: draft.sessionId };
    this.channel = await createChannel<ServerBody, ClientBody>({
      mode: this.options.mode,
      secret: draft.secret,
      sessionId: draft.sessionId,
      send: 's2c',
      backend: webCryptoBackend,
      parse: parseClientBody,
    });
    this.socket.message(JSON.stringify(welcome.frame));
  }
}

export class FakeSocket implements SocketLike {
  /** CONNECTING, then OPEN once `open()`, CLOSING once the page closes it, CLOSED once dropped. */
  readyState = 0;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  sent: string[] = [];
  closed: { code: number | undefined; reason: string | undefined } | undefined;
  readonly server: FakeServer;
  #handling: Promise<void> = Promise.resolve();

  constructor(options: FakeServer['options']) {
    this.server = new FakeServer(this, options);
  }

  send(data: string): void {
    if (this.readyState > 1) return; // a browser drops what is sent on a closing or closed socket
    this.sent.push(data);
    this.#handling = this.#handling.then(() => this.server.handle(data));
  }

  close(code?: number, reason?: string): void {
    this.closed = { code, reason };
    if (this.readyState < 2) this.readyState = 2;
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }

  message(data: unknown): void {
    this.onmessage?.({ data } as MessageEvent);
  }

  drop(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason } as CloseEvent);
  }
}

/** Waits for what arrives through a chain of promises (server handling, then the page's own receive). */
/**
 * Waits until `check()` holds, looking every 5 ms. The deadline is generous (a key pair made on a loaded 2-core
 * machine can take seconds) and costs nothing when the state comes at once.
 */
export async function eventually(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(check(), `timed out waiting for ${what}`);
}

export interface ManualTimer {
  run: () => void;
  ms: number;
  cleared: boolean;
}

/** Retries are scheduled in milliseconds below this; the handshake timeout is at it. */
const RETRY_BELOW_MS = 15_000;

/**
 * The network as Connection options: sockets that open by themselves onto a FakeServer, timers that run only
 * when the test says, and jitter fixed at the middle so backoff delays are the nominal ones.
 */
export function fakeNetwork(server: Partial<FakeServer['options']> = {}) {
  const sockets: FakeSocket[] = [];
  const timers: ManualTimer[] = [];
  const pendingRetries = () => timers.filter((t) => !t.cleared && t.ms < RETRY_BELOW_MS);
  return {
    sockets,
    timers,
    pendingRetries,
    /** Runs the one scheduled retry. */
    retry(): void {
      const pending = pendingRetries();
      assert.equal(pending.length, 1, `expected one retry timer, found ${pending.length}`);
      pending[0]!.cleared = true;
      pending[0]!.run();
    },
    options: {
      createSocket: () => {
        const socket = new FakeSocket({ answer: true, mode: 'secure', ...server });
        sockets.push(socket);
        queueMicrotask(() => socket.open());
        return socket;
      },
      setTimer: (run: () => void, ms: number) => {
        const timer = { run, ms, cleared: false };
        timers.push(timer);
        return timer;
      },
      clearTimer: (timer: unknown) => {
        (timer as ManualTimer).cleared = true;
      },
      random: () => 0.5,
    } satisfies Partial<ConnectionOptions>,
  };
}
