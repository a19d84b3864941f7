/**
 * An in-process wirechat server on a free loopback port, with a fresh identity in a temp folder, recording
 * what the console would print. Integration tests talk to it through real sockets.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadIdentity, type Identity } from '../../server/identity.ts';
import { nodeCryptoBackend } from '../../server/node-fernet.ts';
import { DEFAULTS, type ServerOptions } from '../../server/options.ts';
import { startServer, type RunningServer } from '../../server/server.ts';
import type { TlsMaterial } from '../../server/tls.ts';
import { ScriptedClient, type ScriptedClientOptions } from '../../tools/client.ts';

export interface ConsoleEvent {
  kind: 'line' | 'joined' | 'left';
  name: string;
  text: string;
  code?: number;
}

export interface TestServer extends RunningServer {
  identity: Identity;
  wsUrl: string;
  events: ConsoleEvent[];
  /** What the server logged about requests it had to guard against (server.ts's `log`); empty when all went well. */
  logs: string[];
  waitForEvent(match: (e: ConsoleEvent) => boolean, timeoutMs?: number): Promise<ConsoleEvent>;
  connect(options?: Partial<ScriptedClientOptions>): Promise<ScriptedClient>;
  stop(): Promise<void>;
}

/** 2048-bit keys keep tests quick; the page's 3072 bits are exercised by the browser tests. */
let sharedKeyPair: Promise<CryptoKeyPair> | undefined;
export function testKeyPair(): Promise<CryptoKeyPair> {
  sharedKeyPair ??= globalThis.crypto.subtle.generateKey(
    { name: 'RSA-OAEP', hash: 'SHA-256', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
    false,
    ['encrypt', 'decrypt'],
  );
  return sharedKeyPair;
}

/**
 * Every test tab comes from 127.0.0.1, and suites open hundreds of connections from it on purpose (abandoned
 * sockets, fuzzing): the per-address limits stand aside unless a test sets them. test/server/flood.test.ts tests
 * them, with their defaults and with two loopback addresses.
 */
export const ONE_ADDRESS_FOR_ALL: Partial<ServerOptions> = {
  maxPerAddress: 1_000_000,
  maxPendingPerAddress: 1_000_000,
  handshakeRate: 1_000_000,
  handshakeBurst: 1_000_000,
};

/**
 * `dist`: a folder of files for the server to serve as the page (none by default). `tls`: serve HTTPS/WSS with this
 * certificate (wsUrl is then wss://, and connect() trusts that certificate).
 */
export async function startTestServer(
  overrides: Partial<ServerOptions> = {},
  extra: { dist?: string; tls?: TlsMaterial } = {},
): Promise<TestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'wirechat-test-'));
  const identity = await loadIdentity(join(dir, 'identity.jwk'));
  const events: ConsoleEvent[] = [];
  const logs: string[] = [];
  let waiters: Array<() => void> = [];
  const push = (event: ConsoleEvent) => {
    events.push(event);
    const w = waiters;
    waiters = [];
    for (const wake of w) wake();
  };
  const options: ServerOptions = {
    ...DEFAULTS,
    port: 0,
    host: '127.0.0.1',
    identity: dir,
    build: false,
    ...ONE_ADDRESS_FOR_ALL,
    ...overrides,
  };
  const server = await startServer({
    options,
    identity,
    backend: nodeCryptoBackend,
    dist: extra.dist,
    log: (text) => logs.push(text),
    events: {
      line: (name, text) => push({ kind: 'line', name, text }),
      joined: (s) => push({ kind: 'joined', name: s.name, text: s.code }),
      left: (name, code, text) => push({ kind: 'left', name, text, code }),
    },
    ...(extra.tls ? { tls: extra.tls } : {}),
  });
  const wsUrl = `${extra.tls ? 'wss' : 'ws'}://127.0.0.1:${server.port}/ws`;
  return {
    ...server,
    identity,
    wsUrl,
    events,
    logs,
    async waitForEvent(match, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events.find(match);
        if (found) return found;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for a console event; saw ${JSON.stringify(events)}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
    connect(clientOptions = {}) {
      return ScriptedClient.connect({
        url: wsUrl,
        keyPair: testKeyPair(),
        ...(extra.tls ? { ca: extra.tls.cert } : {}),
        ...clientOptions,
      });
    },
    async stop() {
      server.relay.endAll(1001, 'test over');
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
