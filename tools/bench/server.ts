/**
 * The server side of `npm run bench`, run as a child process so that its CPU and resident memory are its own and
 * the benchmark's clients (in the parent) do not share its event loop. One mode per process:
 *
 *   secure | plain   the real server (server/server.ts: upgrade checks, relay, sessions), node:crypto backend,
 *                    limits raised so that the benchmark, not a limit, is what stops it
 *   sessions         real ServerSession objects (secure) behind a host that only hands out names: no relay, so
 *                    no join or leave announcements. Used for handshakes per second and idle memory, where the
 *                    relay's join announcements (one sealed frame to every tab per batch) would be measured
 *                    instead of the session.
 *   raw              the baseline relay: a bare `ws` server that forwards each message to every other
 *                    connection, padded to a configured size, and answers the sender with a configured number
 *                    of bytes (the size of a receipt). No parsing, no crypto.
 *   floor            raw, plus the cryptography a record needs and nothing else, on inputs of the record's sizes:
 *                    for each incoming frame the two HMAC-SHA256 and the AES-128-CBC decryption that open it, for
 *                    each frame out (forwards and the reply) the AES-128-CBC encryption and the two HMAC-SHA256 of a
 *                    seal (node:crypto, KeyObjects made once, as the backend does). The floor of the relay rows:
 *                    bare ws plus the primitives alone, measured in the same run (tools/bench/record.ts times the
 *                    same primitives against one record).
 *   echo             a bare `ws` server that answers each message with a configured number of bytes (the size
 *                    of a welcome), for the handshake and idle-memory baselines.
 *   welcome-floor    the echo server plus the cryptography a secure welcome needs and nothing else of ours (see
 *                    handshakeFloor): the floor the server's handshake could reach on node:crypto, measured.
 *
 * It talks to the parent over the IPC channel: it sends {ready, port} once listening and answers {id, cmd}
 * requests (see `Request`). Started by tools/bench/main.ts with `--expose-gc` so that memory is measured after a
 * full collection.
 */
import {
  constants,
  createHash,
  createPublicKey,
  createSecretKey,
  KeyObject,
  publicEncrypt,
  randomBytes as nodeRandomBytes,
  sign,
} from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { writeHeapSnapshot } from 'node:v8';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { loadIdentity } from '../../server/identity.ts';
import { nodeCryptoBackend } from '../../server/node-fernet.ts';
import { DEFAULTS, type ServerOptions } from '../../server/options.ts';
import { startServer } from '../../server/server.ts';
import { ServerSession, type SessionHost } from '../../server/session.ts';
import { fromBase64Url, randomBytes } from '../../shared/bytes.ts';
import { transcript } from '../../shared/handshake.ts';
import { nodeServerHandshake, webCryptoServerHandshake, type ServerHandshake } from '../../server/node-handshake.ts';
import { primitivesSink, recordPrimitives } from './primitives.ts';

/** `history`: the secure relay with its log in a SQLite file (--history), against `secure`'s memory log. */
export type ServerMode = 'secure' | 'plain' | 'history' | 'sessions' | 'raw' | 'floor' | 'echo' | 'welcome-floor';

export type Request =
  /** Resident set size and heap after two full collections. */
  | { cmd: 'memory' }
  /** A V8 heap snapshot after two full collections, written to `path` (tools/bench/heap-diff.ts reads two). */
  | { cmd: 'snapshot'; path: string }
  /** CPU time this process has used, user + system, in microseconds (process.cpuUsage). */
  | { cmd: 'cpu' }
  /** Connections open now (sessions, or sockets for the bare modes). */
  | { cmd: 'connections' }
  /** The relay's join and leave announcements: whether some wait for their batch, and how many bodies went out. */
  | { cmd: 'presence' }
  /** Sizes the raw and echo modes answer with. */
  | { cmd: 'sizes'; forwardBytes: number; replyBytes: number }
  /** Times, in this process, the server's wrap and sign for `count` handshakes with this client key. */
  | { cmd: 'parts'; publicKey: string; count: number }
  | { cmd: 'stop' };

export interface MemoryReport {
  rss: number;
  heapUsed: number;
}

export interface PartsReport {
  /** Milliseconds per call: importing the page's key, RSA-OAEP wrap, ECDSA sign. */
  importMs: number[];
  wrapMs: number[];
  signMs: number[];
}

/** Limits out of the way: the benchmark decides how much load there is, and every connection handshakes. */
export function benchServerOptions(plain: boolean, maxConnections: number): ServerOptions {
  return {
    ...DEFAULTS,
    port: 0,
    host: '127.0.0.1',
    plain,
    maxConnections,
    // Every simulated tab comes from 127.0.0.1.
    maxPerAddress: maxConnections,
    maxPendingPerAddress: maxConnections,
    handshakeRate: 1_000_000,
    handshakeBurst: 1_000_000,
    rate: 1_000_000,
    burst: 1_000_000,
    maxBuffered: 1024 * 1024 * 1024,
    handshakeTimeoutMs: 120_000,
    heartbeatMs: 3_600_000,
    build: false,
    color: false,
  };
}

/**
 * The handshake the sessions use: node:crypto as the server runs it, or, with WIRECHAT_BENCH_HANDSHAKE=web, Web
 * Crypto, to compare the two on one machine.
 */
const handshake: ServerHandshake =
  process.env.WIRECHAT_BENCH_HANDSHAKE === 'web' ? webCryptoServerHandshake : nodeServerHandshake;

async function main(): Promise<void> {
  const mode = process.argv[2] as ServerMode;
  const maxConnections = Number(process.argv[3] ?? 10_000);
  const dist = process.argv[4];
  const dir = await mkdtemp(join(tmpdir(), 'wirechat-bench-'));
  const identity = await loadIdentity(join(dir, 'identity.jwk'));
  let port: number;
  let connections: () => number;
  let presence: () => { pending: boolean; sent: number } = () => ({ pending: false, sent: 0 });
  let stop: () => Promise<void>;
  let forwardPad = '';
  let reply = '';
  let forwardBytes = 0;

  if (mode === 'secure' || mode === 'plain' || mode === 'history') {
    const server = await startServer({
      options: {
        ...benchServerOptions(mode === 'plain', maxConnections),
        ...(mode === 'history' ? { history: join(dir, 'history.db'), chatKey: join(dir, 'chat.key') } : {}),
      },
      identity,
      backend: nodeCryptoBackend,
      events: { line: () => {}, joined: () => {}, left: () => {} },
      dist,
    });
    port = server.port;
    connections = () => server.relay.size;
    presence = () => ({ pending: server.relay.presence.pending, sent: server.relay.presence.stats.sent });
    stop = () => server.close();
  } else {
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      perMessageDeflate: false,
      maxPayload: DEFAULTS.maxPayload,
    });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
    port = (wss.address() as { port: number }).port;
    const open = new Set<WebSocket>();
    connections = () => open.size;
    stop = () =>
      new Promise<void>((resolve) => {
        for (const ws of open) ws.terminate();
        wss.close(() => resolve());
      });
    if (mode === 'sessions') {
      const options = benchServerOptions(false, maxConnections);
      let names = 0;
      const host: SessionHost = {
        claimName: () => `tab-${++names}`,
        joined: () => {},
        line: () => ({ status: 'delivered', reason: '', n: 1 }),
        resume: () => Promise.reject(new Error('no resume in this benchmark')),
        left: (session) => {
          sessions.delete(session);
        },
      };
      const sessions = new Set<ServerSession>();
      connections = () => sessions.size;
      // One context for every session, as server/server.ts makes it.
      const context = { identity, options, backend: nodeCryptoBackend, host, handshake };
      wss.on('connection', (ws) => {
        sessions.add(new ServerSession(ws, context));
      });
    } else {
      wss.on('connection', (ws) => {
        open.add(ws);
        ws.on('close', () => open.delete(ws));
        ws.on('message', (data: Buffer) => {
          if (mode === 'welcome-floor') {
            handshakeFloor(data, identity).then(
              () => ws.send(reply),
              () => ws.terminate(),
            );
            return;
          }
          if (mode === 'floor') recordPrimitives(data.length).open();
          if (mode === 'raw' || mode === 'floor') {
            const out =
              data.length < forwardBytes
                ? Buffer.concat([data, Buffer.from(forwardPad.slice(0, forwardBytes - data.length))])
                : data;
            for (const other of open) {
              if (other === ws) continue;
              if (mode === 'floor') recordPrimitives(out.length).seal();
              other.send(out, { binary: false });
            }
          }
          if (mode === 'floor') recordPrimitives(reply.length).seal();
          ws.send(reply);
        });
      });
    }
  }

  const answer = async (request: Request): Promise<unknown> => {
    switch (request.cmd) {
      case 'memory': {
        const gc = (globalThis as { gc?: () => void }).gc;
        gc?.();
        gc?.();
        const { rss, heapUsed } = process.memoryUsage();
        return { rss, heapUsed } satisfies MemoryReport;
      }
      case 'snapshot': {
        const gc = (globalThis as { gc?: () => void }).gc;
        gc?.();
        gc?.();
        return writeHeapSnapshot(request.path);
      }
      case 'connections':
        return connections();
      case 'presence':
        return presence();
      case 'cpu': {
        const { user, system } = process.cpuUsage();
        return user + system;
      }
      case 'sizes':
        forwardBytes = request.forwardBytes;
        forwardPad = 'x'.repeat(request.forwardBytes);
        reply = 'x'.repeat(request.replyBytes);
        return true;
      case 'parts':
        return parts(fromBase64Url(request.publicKey), request.count, identity.signingKey, identity.publicKey);
      case 'stop':
        // Read once, so that the floor's results are used and its work cannot be optimized away.
        if (primitivesSink < 0) console.error(primitivesSink);
        await stop();
        await rm(dir, { recursive: true, force: true });
        setImmediate(() => process.exit(0));
        return true;
    }
  };
  process.on('message', (message: { id: number } & Request) => {
    answer(message).then(
      (result) => process.send?.({ id: message.id, result }),
      (error: unknown) => process.send?.({ id: message.id, error: String((error as Error)?.stack ?? error) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ ready: true, port });
}

const FLOOR_LABEL = Buffer.from('wirechat-session-keys-v1');
/** The DER before the RSAPublicKey in a 3072-bit RSA SPKI (what the bench's key pairs are). */
const SPKI_3072_HEADER = 24;
let floorSigningKey: KeyObject | undefined;

/**
 * What a secure welcome costs in node:crypto calls alone, the way server/node-handshake.ts makes them: the page's
 * RSA key (the PKCS #1 part of its SPKI) imported, 64 random bytes wrapped with RSA-OAEP, the three session keys
 * made (two for Fernet, one for the record MAC), the transcript signed with ECDSA P-256 in this thread, and one
 * SHA-256 of it (the session code). Nothing is checked and nothing of ours runs: no parser beyond JSON.parse,
 * no DER reader, no transcript layout, no session, no channel. It is a floor to measure against, not a server.
 */
async function handshakeFloor(data: Buffer, identity: { signingKey: CryptoKey; publicKey: Uint8Array }): Promise<void> {
  const hello = JSON.parse(data.toString()) as { publicKey: string; nonce: string };
  const spki = Buffer.from(hello.publicKey, 'base64url');
  const key = createPublicKey({ key: spki.subarray(SPKI_3072_HEADER), format: 'der', type: 'pkcs1' });
  const secret = nodeRandomBytes(64);
  const wrapped = publicEncrypt(
    { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: FLOOR_LABEL },
    secret,
  );
  for (const [from, to] of [
    [0, 16],
    [16, 32],
    [32, 64],
  ] as const) {
    createSecretKey(secret.subarray(from, to));
  }
  const signed = Buffer.concat([spki, Buffer.from(hello.nonce, 'base64url'), identity.publicKey, wrapped]);
  floorSigningKey ??= KeyObject.from(identity.signingKey);
  const signingKey = floorSigningKey;
  sign('sha256', signed, { key: signingKey, dsaEncoding: 'ieee-p1363' });
  createHash('sha256').update(signed).digest();
  // The server waits for the event loop's next I/O poll before its welcome (server/session.ts); the floor does
  // not: that wait is the session's, not node:crypto's.
}

/** The server's share of a handshake, piece by piece, with the implementation server/session.ts calls. */
async function parts(
  spki: Uint8Array,
  count: number,
  signingKey: CryptoKey,
  serverKey: Uint8Array,
): Promise<PartsReport> {
  const report: PartsReport = { importMs: [], wrapMs: [], signMs: [] };
  for (let i = 0; i < count; i++) {
    let t = performance.now();
    const publicKey = await handshake.importClientKey(spki);
    report.importMs.push(performance.now() - t);
    const secret = randomBytes(64);
    t = performance.now();
    const wrappedKeys = await handshake.wrap(publicKey, secret);
    report.wrapMs.push(performance.now() - t);
    const signed = transcript({
      mode: 'secure',
      clientPublicKey: spki,
      clientNonce: randomBytes(32),
      name: 'tab',
      serverKey,
      serverNonce: randomBytes(32),
      sessionId: randomBytes(16),
      time: Date.now(),
      wrappedKeys,
    });
    t = performance.now();
    await handshake.sign(signingKey, signed);
    report.signMs.push(performance.now() - t);
  }
  return report;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
