/**
 * Clients that misbehave on purpose, for the adversarial tests.
 *
 * - RawSocket: a WebSocket that sends only what the test tells it to, and records every frame it receives and
 *   how it was closed. For frames that must never get past the parser.
 * - RawClient: a RawSocket that has done the handshake itself (shared/handshake.ts + shared/record.ts, as the
 *   page does), so the test holds the session keys: it can seal records with any clock, replay, reorder or
 *   reflect them, and put a valid outer MAC on a broken token, which ScriptedClient (the honest page engine)
 *   never lets anyone do.
 */
import { createPublicKey, pbkdf2, randomBytes } from 'node:crypto';
import WebSocket, { type ClientOptions } from 'ws';
import { toBase64Url } from '../../shared/bytes.ts';
import type { Mac } from '../../shared/mac.ts';
import { buildHello, exportSpki, unwrapWelcome, verifyWelcome } from '../../shared/handshake.ts';
import {
  parseServerBody,
  parseServerFrame,
  type HelloFrame,
  type RecordFrame,
  type ServerBody,
} from '../../shared/protocol.ts';
import { RecordChannel, recordMacInput } from '../../shared/record.ts';
import { createNodeFernet, createNodeMac } from '../../server/node-fernet.ts';
import { testKeyPair, type TestServer } from './server.ts';

export interface Closed {
  code: number;
  reason: string;
}

/** Waits for `promise`, but never longer than `ms`: every wait in these tests ends by itself. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits (bounded, polling every 10 ms) until `condition` holds. */
export async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * Occupies every thread of libuv's pool (4 unless UV_THREADPOOL_SIZE says otherwise) for some tens of
 * milliseconds. The server's Web Crypto work (RSA wrap, ECDSA sign) runs there, so a handshake begun meanwhile
 * waits in its awaits: the window in which a peer can vanish, or pipeline frames, mid-handshake.
 */
export function busyThreadPool(): Promise<unknown> {
  const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  return Promise.all(
    Array.from(
      { length: threads },
      () => new Promise((resolve) => pbkdf2('busy', 'salt', 100_000, 32, 'sha256', resolve)),
    ),
  );
}

export class RawSocket {
  readonly ws: WebSocket;
  readonly received: string[] = [];
  readonly closed: Promise<Closed>;
  /** How many console events the server had when this socket opened: its own events come after. */
  readonly eventMark: number;
  #waiters: Array<() => void> = [];

  protected constructor(ws: WebSocket, eventMark: number) {
    this.ws = ws;
    this.eventMark = eventMark;
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.received.push(data.toString());
      this.#wake();
    });
    ws.on('close', () => this.#wake());
    // A server that closes on us mid-send is the expected outcome here, not a test failure.
    ws.on('error', () => undefined);
  }

  static async open(server: TestServer, options: ClientOptions = {}): Promise<RawSocket> {
    const socket = new RawSocket(await connectWs(server.wsUrl, options), server.events.length);
    return socket;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(data: string | Buffer, options: { binary?: boolean; fin?: boolean } = {}): void {
    this.ws.send(data, options);
  }

  sendJson(value: unknown): void {
    this.send(JSON.stringify(value));
  }

  /** The close the server sent, within `ms`. */
  waitClosed(ms = 5000): Promise<Closed> {
    return within(this.closed, ms, 'the server to close the socket');
  }

  /** The `index`-th text frame received (0-based), waiting (bounded) until it arrives. */
  async frame(index: number, ms = 5000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const frame = this.received[index];
      if (frame !== undefined) return frame;
      const left = deadline - Date.now();
      if (left <= 0 || this.ws.readyState === WebSocket.CLOSED) {
        throw new Error(`frame ${index} never came; received ${this.received.length}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The server's answer to what was sent: its `index`-th frame, or its close if that comes first (bounded). */
  answer(index: number, ms = 5000): Promise<{ frame: string } | { closed: Closed }> {
    return within(
      Promise.race([
        // A close before the frame is the closed branch's to report, not a failure of this one.
        this.frame(index, ms).then(
          (frame) => ({ frame }),
          () => new Promise<never>(() => undefined),
        ),
        this.closed.then((closed) => ({ closed })),
      ]),
      ms,
      `frame ${index} or a close`,
    );
  }

  terminate(): void {
    this.ws.terminate();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

/** Opens a `ws` client socket; rejects (rather than hangs) when the upgrade is refused. */
export function connectWs(url: string, options: ClientOptions = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
  return within(
    new Promise<WebSocket>((resolve, reject) => {
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    }),
    5000,
    'the WebSocket to open',
  );
}

export interface HelloOptions {
  name?: string;
  publicKey?: Uint8Array;
  nonce?: Uint8Array;
}

/** A well-formed hello; tests overwrite one field at a time to make it hostile. */
export async function helloFrame(options: HelloOptions = {}): Promise<HelloFrame> {
  return buildHello({
    name: options.name ?? 'mallory',
    publicKey: options.publicKey ?? (await exportSpki((await testKeyPair()).publicKey)),
    acceptPlain: false,
    ...(options.nonce ? { nonce: options.nonce } : {}),
  });
}

export interface RawClientOptions {
  name?: string;
  /** The clock the client seals with, in seconds; the server's clock by default (as the page corrects it). */
  now?: () => number;
  /** Options for the `ws` client socket (e.g. `autoPong: false`). */
  ws?: ClientOptions;
}

/** A client that did the handshake itself and so holds its session's keys. */
export class RawClient extends RawSocket {
  name = '';
  sessionId: Uint8Array = new Uint8Array(0);
  /** Seals and opens records as the page does; its clock is the test's to set. */
  channel!: RecordChannel;
  /** The outer MAC key, kept so a test can put a valid MAC on any token (as only a key holder could). */
  #mac!: Mac;

  static async handshake(server: TestServer, options: RawClientOptions = {}): Promise<RawClient> {
    const client = new RawClient(await connectWs(server.wsUrl, options.ws), server.events.length);
    const keyPair = await testKeyPair();
    const hello = await helloFrame({ name: options.name });
    client.sendJson(hello);
    const welcome = parseServerFrame(await client.frame(0));
    if (welcome.type !== 'welcome' || welcome.mode !== 'secure')
      throw new Error(`expected a secure welcome: ${client.received[0]}`);
    // Checked and opened as the page does it (shared/handshake.ts's steps), so the keys are the session's own.
    const verified = await verifyWelcome(hello, welcome);
    const secret = await unwrapWelcome(verified, keyPair.privateKey);
    if (secret === undefined) throw new Error('a secure welcome without keys');
    const { fernetKey, macKey } = secret;
    const sessionId = verified.sessionId;
    // createNodeMac zeroes the bytes it is given: the forging MAC gets its own copy.
    client.#mac = await createNodeMac(macKey.slice());
    const keys = { fernet: await createNodeFernet(fernetKey), mac: await createNodeMac(macKey) };
    const offsetMs = welcome.time - Date.now();
    client.channel = new RecordChannel(keys, sessionId, 'c2s', {
      now: options.now ?? (() => (Date.now() + offsetMs) / 1000),
    });
    client.name = welcome.name;
    client.sessionId = sessionId;
    // The server's first record after the welcome is this tab's resume seat (docs/protocol.md 9.1): kept aside
    // and taken out of `received`, so that frame 1 is the first answer to what a test sends. It is opened first
    // by bodies() (the channel's sequence numbers count it), not here: a test may have skewed this side's clock.
    const seatFrame = parseServerFrame(await client.frame(1));
    if (seatFrame.type !== 'record')
      throw new Error(`expected the seat's record after the welcome: ${client.received[1]}`);
    client.seatFrame = client.received.splice(1, 1)[0];
    return client;
  }

  /** The record that carried this tab's resume seat, as it came: the server's record 0. */
  seatFrame: string | undefined;
  #seatOpened = false;

  /** Seals a chat line as the next record, without sending it. */
  async line(id: number, text: string): Promise<RecordFrame> {
    return this.channel.seal({ kind: 'line', id, text });
  }

  /** A record carrying `token` with a valid outer MAC for place `seq`: what a key holder (or a buggy page) sends. */
  async withValidMac(seq: number, token: string): Promise<RecordFrame> {
    const mac = await this.#mac.sign(recordMacInput('c2s', seq, this.sessionId, token));
    return { type: 'record', seq, token, mac: toBase64Url(mac) };
  }

  /** The records the server has sent this client, as they came off the wire. */
  records(): RecordFrame[] {
    return this.received
      .map((text) => parseServerFrame(text))
      .filter((frame): frame is RecordFrame => frame.type === 'record');
  }

  #bodies: ServerBody[] = [];

  /** Every body received so far, verified and decrypted in order (each record is opened once). */
  async bodies(): Promise<ServerBody[]> {
    if (this.seatFrame !== undefined && !this.#seatOpened) {
      this.#seatOpened = true;
      await this.channel.open(parseServerFrame(this.seatFrame) as RecordFrame);
    }
    for (const record of this.records().slice(this.#bodies.length)) {
      this.#bodies.push(parseServerBody(await this.channel.open(record)));
    }
    return this.#bodies;
  }
}

/** SPKI DER of an RSA public key with a random odd modulus of `bits` bits: no key generation, however large. */
export function rsaSpki(bits: number, e = 'AQAB'): Uint8Array {
  const n = randomBytes(bits / 8);
  n[0]! |= 0x80;
  n[n.length - 1]! |= 1;
  return createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e }, format: 'jwk' }).export({
    type: 'spki',
    format: 'der',
  });
}
