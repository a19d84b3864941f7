/**
 * The networked measurements of `npm run bench`: a server child process (tools/bench/server.ts) and the clients
 * that load it, all on loopback. Clients run in this process; every server runs in its own child, so the two
 * share the machine's cores but not an event loop, and the server's resident memory is its own.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { nodeCryptoBackend } from '../../server/node-fernet.ts';
import { randomBytes, toBase64Url } from '../../shared/bytes.ts';
import { ClientSession, type HandshakeStep } from '../../shared/client-session.ts';
import { exportSpki } from '../../shared/handshake.ts';
import { PROTOCOL_VERSION, type HelloFrame } from '../../shared/protocol.ts';
import { RecordChannel } from '../../shared/record.ts';
import type { MemoryReport, PartsReport, Request, ServerMode } from './server.ts';
import { recordPrimitives } from './primitives.ts';
import { ScriptedClient } from '../client.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Every wait in the benchmark is bounded; a figure that cannot be had in this time is an error, not a hang. */
export const STEP_TIMEOUT_MS = 120_000;

export function deadline<T>(promise: Promise<T>, what: string, ms = STEP_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`bench: ${what} took more than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A server child process: tools/bench/server.ts in one mode. */
export class ServerChild {
  readonly port: number;
  readonly #child: ChildProcess;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();

  private constructor(child: ChildProcess, port: number) {
    this.#child = child;
    this.port = port;
    child.on('message', (message: { id?: number; result?: unknown; error?: string }) => {
      const waiter = message.id === undefined ? undefined : this.#pending.get(message.id);
      if (!waiter) return;
      this.#pending.delete(message.id!);
      if (message.error !== undefined) waiter.reject(new Error(message.error));
      else waiter.resolve(message.result);
    });
    child.on('exit', (code) => {
      for (const waiter of this.#pending.values()) waiter.reject(new Error(`bench server exited (${code})`));
      this.#pending.clear();
    });
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  /**
   * `cpuProfDir`: write a V8 CPU profile of the server there when it stops (`--cpu-prof`), to see where its
   * time goes.
   */
  static async start(
    mode: ServerMode,
    options: { maxConnections?: number; dist?: string; cpuProfDir?: string } = {},
  ): Promise<ServerChild> {
    const execArgv = ['--import', 'tsx', '--expose-gc'];
    // Node names each profile after the process and thread (tsx's loader thread writes one too: the main
    // thread's is the large one).
    if (options.cpuProfDir)
      execArgv.push('--cpu-prof', '--cpu-prof-dir', options.cpuProfDir, '--cpu-prof-interval', '100');
    const args = [mode, String(options.maxConnections ?? 10_000), ...(options.dist ? [options.dist] : [])];
    const child = fork(fileURLToPath(new URL('server.ts', import.meta.url)), args, {
      cwd: ROOT,
      execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const port = await deadline(
      new Promise<number>((resolve, reject) => {
        child.on('message', (message: { ready?: boolean; port?: number }) => {
          if (message.ready) resolve(message.port!);
        });
        child.once('exit', (code) => reject(new Error(`bench server (${mode}) exited with ${code} before listening`)));
      }),
      `starting the ${mode} server`,
      60_000,
    );
    return new ServerChild(child, port);
  }

  request(request: { cmd: 'memory' }): Promise<MemoryReport>;
  request(request: { cmd: 'connections' }): Promise<number>;
  request(request: { cmd: 'presence' }): Promise<{ pending: boolean; sent: number }>;
  request(request: { cmd: 'cpu' }): Promise<number>;
  request(request: { cmd: 'parts'; publicKey: string; count: number }): Promise<PartsReport>;
  request(request: Request): Promise<unknown>;
  request(request: Request): Promise<unknown> {
    const id = this.#nextId++;
    return deadline(
      new Promise((resolve, reject) => {
        this.#pending.set(id, { resolve, reject });
        this.#child.send({ id, ...request });
      }),
      `the server's answer to ${request.cmd}`,
    );
  }

  /**
   * Runs `work` and returns its result with the CPU time (user + system, every thread) the server spent meanwhile,
   * in microseconds. On a shared machine this is steadier than wall-clock rates: time the server spends waiting
   * for a core does not count.
   */
  async cpuDuring<T>(work: () => Promise<T>): Promise<{ result: T; cpuUs: number }> {
    const before = await this.request({ cmd: 'cpu' });
    const result = await work();
    return { result, cpuUs: (await this.request({ cmd: 'cpu' })) - before };
  }

  /**
   * Waits (bounded) until no join waits for its announcement, and returns how many announcement bodies the server
   * has sent: what the tabs connected so far are owed (server/presence.ts batches them, so their number depends on
   * how the joins fell into batches).
   */
  async announced(): Promise<number> {
    const end = performance.now() + STEP_TIMEOUT_MS;
    for (;;) {
      const { pending, sent } = await this.request({ cmd: 'presence' });
      if (!pending) return sent;
      if (performance.now() > end) throw new Error('bench: the joins were never announced');
      await sleep(50);
    }
  }

  /** Waits (bounded) until the server counts `count` connections. */
  async waitForConnections(count: number): Promise<void> {
    const end = performance.now() + STEP_TIMEOUT_MS;
    while ((await this.request({ cmd: 'connections' })) !== count) {
      if (performance.now() > end) throw new Error(`bench: the server never counted ${count} connections`);
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    await this.request({ cmd: 'stop' }).catch(() => undefined);
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile (p99 of fewer than 100 samples is their maximum). */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
}

function nextMessage(ws: WebSocket): Promise<number> {
  return new Promise((resolve, reject) => {
    ws.once('message', (data: Buffer) => resolve(data.length));
    ws.once('close', (code) => reject(new Error(`closed ${code} before answering`)));
  });
}

/** A hello as the page sends it, for a pre-made public key; a fresh nonce each time. */
export function helloText(publicKey: string): string {
  return JSON.stringify({
    type: 'hello',
    version: PROTOCOL_VERSION,
    name: 'tab',
    publicKey,
    nonce: toBase64Url(randomBytes(32)),
    acceptPlain: false,
    resume: false,
  } satisfies HelloFrame);
}

export async function publicKeyText(keyPair: CryptoKeyPair): Promise<string> {
  return toBase64Url(await exportSpki(keyPair.publicKey));
}

/**
 * The server's half of a handshake and nothing of the page's: connect, send a hello, wait for the first answer
 * (the welcome; the echo server's same-sized reply for the baseline). The server has then done all its work
 * for the session (key import, wrap, sign, session code, keys) and holds it as secure. Returns the socket, the
 * milliseconds from `open` to the answer and the answer's size in bytes.
 */
export async function helloOnly(url: string, publicKey: string): Promise<{ ws: WebSocket; ms: number; bytes: number }> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await opened(ws);
  const start = performance.now();
  const answered = nextMessage(ws);
  ws.send(helloText(publicKey));
  const bytes = await answered;
  return { ws, ms: performance.now() - start, bytes };
}

/**
 * One handshake's client side at the least cost to this process, so that the server is what limits the rate:
 * a plain TCP socket that writes the HTTP upgrade and the hello (a masked text frame, mask 0) in one write,
 * reads until the first whole WebSocket frame after the 101 response (the welcome), and destroys the socket.
 */
function rawHandshake(port: number, publicKey: string): Promise<void> {
  const hello = Buffer.from(helloText(publicKey));
  const header =
    hello.length < 126
      ? Buffer.from([0x81, 0x80 | hello.length])
      : Buffer.from([0x81, 0x80 | 126, hello.length >> 8, hello.length & 0xff]);
  const request = Buffer.concat([
    Buffer.from(
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytesBase64()}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ),
    header,
    Buffer.alloc(4), // the mask key: zero, so the payload goes as it is
    hello,
  ]);
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let got: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      got = got.length === 0 ? chunk : Buffer.concat([got, chunk]);
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!got.subarray(0, 12).toString().includes(' 101')) {
        socket.destroy();
        reject(new Error(`upgrade refused: ${got.subarray(0, end).toString()}`));
        return;
      }
      const frame = got.subarray(end + 4);
      if (frame.length < 2) return;
      const short = frame[1]! & 0x7f;
      const length =
        short === 126
          ? frame.length >= 4
            ? frame.readUInt16BE(2) + 4
            : Infinity
          : short === 127
            ? Infinity
            : short + 2;
      if (frame.length >= length) {
        socket.destroy();
        resolve();
      }
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before the welcome')));
    socket.write(request);
  });
}

function randomBytesBase64(): string {
  return Buffer.from(randomBytes(16)).toString('base64');
}

/** Handshakes per second with `inFlight` connections at a time (see rawHandshake), and how many were done. */
export async function handshakeRate(
  port: number,
  publicKey: string,
  windowMs: number,
  inFlight: number,
): Promise<{ rate: number; count: number }> {
  const start = performance.now();
  const end = start + windowMs;
  let done = 0;
  const loop = async () => {
    while (performance.now() < end) {
      await rawHandshake(port, publicKey);
      done++;
    }
  };
  await deadline(Promise.all(Array.from({ length: inFlight }, loop)), 'the handshake-rate window');
  return { rate: done / ((performance.now() - start) / 1000), count: done };
}

export interface HandshakeTiming {
  /** From the socket's `open` to the session being secure. */
  total: number;
  /** From `open` to the hello sent (exporting the public key, building the hello). */
  hello: number;
  /** From the hello sent to the welcome received: the server's work and loopback. */
  server: number;
  /** Checking the signature over the transcript. */
  verify: number;
  /** RSA-OAEP unwrap with the private key, and importing the session keys. */
  unwrap: number;
}

/** One full handshake as a tab does it (shared/client-session.ts on Web Crypto), with a pre-made key pair. */
export async function timedHandshake(url: string, keyPair: CryptoKeyPair): Promise<HandshakeTiming> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const at = new Map<HandshakeStep | 'open', number>();
  let ready!: () => void;
  let failed!: (error: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    ready = resolve;
    failed = reject;
  });
  const session = new ClientSession({
    keyPair,
    name: 'tab',
    acceptPlain: false,
    send: (data) => ws.send(data),
    trust: async () => true,
    events: {
      step: (step) => {
        at.set(step, performance.now());
        if (step === 'ready') ready();
      },
    },
  });
  ws.on('message', (data) => session.receive(data.toString()).catch(failed));
  ws.once('close', (code) => failed(new Error(`closed ${code} during the handshake`)));
  await opened(ws);
  at.set('open', performance.now());
  await session.begin();
  await deadline(done, 'a handshake');
  ws.terminate();
  const t = (step: HandshakeStep | 'open') => at.get(step)!;
  return {
    total: t('ready') - t('open'),
    hello: t('hello') - t('open'),
    server: t('welcome') - t('hello'),
    verify: t('verified') - t('welcome'),
    unwrap: t('unwrapped') - t('trusted'),
  };
}

/** Open → reply of the given sizes against the echo server: the baseline for a handshake's latency. */
export async function timedExchange(url: string, publicKey: string): Promise<number> {
  const { ws, ms } = await helloOnly(url, publicKey);
  ws.terminate();
  return ms;
}

/** A line of chat-typical length, numbered so that each is different. */
export function lineText(i: number): string {
  return `bench line ${String(i).padStart(6, '0')}: the quick brown fox jumps over the lazy dog`;
}

/**
 * The sizes of the frames a secure chat puts on the wire for one line: the sender's record, the copy the relay
 * sends each other tab, and the receipt. The raw baseline sends frames of exactly these sizes.
 */
export async function secureFrameSizes(): Promise<{ sent: number; forwarded: number; receipt: number }> {
  const keys = async () => ({
    fernet: await nodeCryptoBackend.createFernet(randomBytes(32)),
    mac: await nodeCryptoBackend.createMac(randomBytes(32)),
  });
  const c2s = new RecordChannel(await keys(), randomBytes(16), 'c2s');
  const s2c = new RecordChannel(await keys(), randomBytes(16), 's2c');
  const size = async (channel: RecordChannel, body: unknown) => JSON.stringify(await channel.seal(body)).length;
  const text = lineText(123456);
  return {
    sent: await size(c2s, { kind: 'line', id: 1234, text }),
    forwarded: await size(s2c, { kind: 'line', from: 'tab-123', text, at: Date.now(), direct: false }),
    receipt: await size(s2c, { kind: 'receipt', id: 1234, status: 'delivered', reason: '' }),
  };
}

/**
 * A tab for the throughput and fan-out rows: it counts the frames that reach its socket and does not open them,
 * in the secure and the raw case alike, so that the clients' work is the same on both sides and what differs is
 * the server. `send` seals (secure: the tab's real work) or sends a pre-made frame of the same size (raw).
 */
export interface CountingTab {
  /** Frames received since connecting (for secure tabs: the handshake's own frames excluded). */
  frames(): number;
  onFrame: (() => void) | undefined;
  send(i: number): void;
  close(): void;
}

export async function secureTab(
  url: string,
  keyPair: CryptoKeyPair,
  name: string,
  plain = false,
): Promise<CountingTab> {
  const client = await ScriptedClient.connect({ url, keyPair, name, acceptPlain: plain, backend: nodeCryptoBackend });
  // From here on frames are only counted; what the session was still opening lands in client.bodies.
  client.ws.removeAllListeners('message');
  let counted = 0;
  const tab: CountingTab = {
    frames: () => client.bodies.length + counted,
    onFrame: undefined,
    send: (i) => {
      client.send(lineText(i)).catch(() => undefined);
    },
    close: () => client.close(),
  };
  client.ws.on('message', () => {
    counted++;
    tab.onFrame?.();
  });
  return tab;
}

/**
 * A bare ws tab. `primitives`: it also runs a record's cryptography (tools/bench/primitives.ts) as a secure tab
 * would, sealing before each send and opening each frame before counting it: a floor tab, for the round trip's floor.
 */
export async function rawTab(url: string, frameBytes: number, primitives = false): Promise<CountingTab> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await opened(ws);
  let counted = 0;
  const frames = new Map<number, string>();
  const tab: CountingTab = {
    frames: () => counted,
    onFrame: undefined,
    send: (i) => {
      let frame = frames.get(i);
      if (frame === undefined) {
        const text = lineText(i);
        frame = text + 'x'.repeat(Math.max(0, frameBytes - text.length));
        frames.set(i, frame);
      }
      if (primitives) recordPrimitives(frame.length).seal();
      ws.send(frame);
    },
    close: () => ws.terminate(),
  };
  ws.on('message', (data: Buffer) => {
    if (primitives) recordPrimitives(data.length).open();
    counted++;
    tab.onFrame?.();
  });
  return tab;
}

/** Connects `count` tabs, `batch` at a time. */
export async function connectTabs(
  count: number,
  connect: (i: number) => Promise<CountingTab>,
  batch = 50,
): Promise<CountingTab[]> {
  const tabs: CountingTab[] = [];
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i);
    tabs.push(
      ...(await deadline(
        Promise.all(Array.from({ length: n }, (_, j) => connect(i + j))),
        `connecting tabs ${i}..${i + n}`,
      )),
    );
  }
  return tabs;
}

/**
 * Resolves with the time at which every tab has received `want[i]` more frames than it had when this was called
 * (or at once if none is owed). The counting is done in each frame's own event, so the time is the arrival of the
 * last expected frame.
 */
export function allReceived(tabs: CountingTab[], want: (i: number) => number, what: string): Promise<number> {
  let remaining = 0;
  let resolve!: (t: number) => void;
  const done = new Promise<number>((r) => (resolve = r));
  tabs.forEach((tab, i) => {
    const target = tab.frames() + want(i);
    if (tab.frames() >= target) return;
    remaining++;
    tab.onFrame = () => {
      if (tab.frames() === target) {
        tab.onFrame = undefined;
        if (--remaining === 0) resolve(performance.now());
      }
    };
  });
  if (remaining === 0) resolve(performance.now());
  return deadline(done, what);
}

/**
 * Waits (bounded) until the tabs have received `expected` frames in all (the join announcements of a freshly
 * connected secure chat: ServerChild.announced), then until the counts stop changing.
 */
export async function settle(tabs: CountingTab[], expected = 0, quietMs = 100): Promise<void> {
  const total = () => tabs.reduce((sum, tab) => sum + tab.frames(), 0);
  const end = performance.now() + STEP_TIMEOUT_MS;
  let last = -1;
  while (total() < expected || total() !== last) {
    if (performance.now() > end) throw new Error(`bench: the chat never settled (${total()} of ${expected} frames)`);
    last = total();
    await sleep(quietMs);
  }
}
