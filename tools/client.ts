/**
 * A scripted wirechat client for Node: the page's own protocol engine (shared/client-session.ts) over the `ws`
 * package. Tests, `npm run load`, `npm run capture` and the benchmarks speak the protocol through it, so they
 * exercise exactly what the browser runs.
 */
import WebSocket from 'ws';
import { isWirechatError } from '../shared/errors.ts';
import { generateClientKeyPair } from '../shared/handshake.ts';
import { ClientSession, type ServerIdentity } from '../shared/client-session.ts';
import type { CryptoBackend } from '../shared/crypto-backend.ts';
import type { PresenceChange, ServerBody } from '../shared/protocol.ts';
import { printable } from '../shared/text.ts';

export interface ScriptedClientOptions {
  url: string;
  name?: string;
  acceptPlain?: boolean;
  keyPair?: CryptoKeyPair | Promise<CryptoKeyPair>;
  /** Decides on the server's identity; trusts every key by default (tests pin where it matters). */
  trust?: (identity: ServerIdentity) => Promise<boolean>;
  origin?: string;
  /** The local address to connect from (a loopback address other than 127.0.0.1, to be another address). */
  localAddress?: string;
  /** For wss://: the certificate (PEM) to trust, e.g. a server's self-signed one; the system's CAs otherwise. */
  ca?: string;
  backend?: CryptoBackend;
  /** RSA modulus for a fresh key pair (3072 as the page uses, unless a test wants speed). */
  modulusLength?: number;
  /** Called with each body as it arrives, before it is queued. */
  onBody?: (body: ServerBody) => void;
  /**
   * Come back to a place after a drop (docs/protocol.md 9.1): what to claim. connect() then resolves once the
   * server's `resumed` answer is in. tools/resuming-client.ts keeps the claim between connections.
   */
  resume?: () => { secret: string; epoch: string; last: number };
}

export interface Closed {
  code: number;
  reason: string;
}

/** A connected, handshaken client with a queue of what it received. */
export class ScriptedClient {
  readonly ws: WebSocket;
  readonly session: ClientSession;
  readonly bodies: ServerBody[] = [];
  readonly errors: unknown[] = [];
  readonly closed: Promise<Closed>;
  #waiters: Array<() => void> = [];

  private constructor(ws: WebSocket, session: ClientSession, closed: Promise<Closed>) {
    this.ws = ws;
    this.session = session;
    this.closed = closed;
  }

  static async connect(options: ScriptedClientOptions): Promise<ScriptedClient> {
    const ws = new WebSocket(options.url, {
      origin: options.origin,
      perMessageDeflate: false,
      localAddress: options.localAddress,
      ...(options.ca ? { ca: options.ca } : {}),
    });
    const closed = new Promise<Closed>((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    // eslint-disable-next-line prefer-const -- the callbacks below refer to it before it is made
    let client!: ScriptedClient;
    let ready!: () => void;
    let failed!: (error: unknown) => void;
    const readyPromise = new Promise<void>((resolve, reject) => {
      ready = resolve;
      failed = reject;
    });
    // It may fail before anyone awaits it (a refused upgrade); the await below still sees the rejection.
    readyPromise.catch(() => undefined);
    const session = new ClientSession({
      keyPair: options.keyPair ?? generateClientKeyPair(options.modulusLength),
      name: options.name ?? 'bot',
      acceptPlain: options.acceptPlain ?? false,
      send: (data) => ws.send(data),
      trust: options.trust ?? (async () => true),
      backend: options.backend,
      resume: options.resume,
      events: {
        step: (step) => {
          if (step === 'ready' && options.resume === undefined) ready();
        },
        body: (body) => {
          options.onBody?.(body);
          client.#push(body);
          if (body.kind === 'resumed') ready();
        },
      },
    });
    client = new ScriptedClient(ws, session, closed);
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      session.receive(data.toString()).catch((error: unknown) => {
        client.errors.push(error);
        failed(error);
        const code = isWirechatError(error) ? error.closeCode : 1011;
        if (ws.readyState === ws.OPEN) ws.close(code, isWirechatError(error) ? error.code : 'error');
      });
    });
    ws.on('error', (error) => failed(error));
    // The close reason is the peer's unauthenticated text: quoted printable, never raw, in an error that may be printed.
    void closed.then((c) => failed(new Error(`closed ${c.code} "${printable(c.reason, 123)}"`)));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    await session.begin();
    await readyPromise;
    return client;
  }

  #push(body: ServerBody): void {
    this.bodies.push(body);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Waits (bounded) until `match` finds a body received so far, and returns it. */
  async waitFor<T extends ServerBody>(match: (body: ServerBody) => body is T, timeoutMs?: number): Promise<T>;
  async waitFor(match: (body: ServerBody) => boolean, timeoutMs?: number): Promise<ServerBody>;
  async waitFor(match: (body: ServerBody) => boolean, timeoutMs = 5000): Promise<ServerBody> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.bodies.find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; received ${JSON.stringify(this.bodies)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits (bounded) until a `presence` body names `name` as joined or left, and returns that change. */
  async waitForPresence<C extends PresenceChange['change']>(
    change: C,
    name: string,
    timeoutMs?: number,
  ): Promise<Extract<PresenceChange, { change: C }>> {
    const named = (c: PresenceChange): c is Extract<PresenceChange, { change: C }> =>
      c.change === change && c.name === name;
    const body = await this.waitFor((b) => b.kind === 'presence' && b.changes.some(named), timeoutMs);
    const found = body.kind === 'presence' ? body.changes.find(named) : undefined;
    return found!;
  }

  /** Sends a line; `id`: the line's own number when the caller keeps them (a resumed line keeps its id). */
  send(text: string, id?: number): Promise<number> {
    return this.session.sendLine(text, id);
  }

  async bye(word = 'EXIT'): Promise<Closed> {
    await this.session.bye(word);
    this.ws.close(1000, word);
    return this.closed;
  }

  /**
   * Leaves as a page does when its person types EXIT (docs/protocol.md: a `bye` body, then a 1000 close) and waits
   * for the close handshake, at most `timeoutMs`; a session that cannot say it (already ended) or a server that does
   * not answer in time has its socket cut instead. Never rejects.
   */
  async goodbye(timeoutMs = 5000, word = 'EXIT'): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no close within the bound')), timeoutMs);
    });
    try {
      await Promise.race([this.bye(word), late]);
    } catch {
      this.close();
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.ws.terminate();
  }
}
