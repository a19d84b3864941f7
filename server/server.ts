/**
 * The HTTP server (HTTPS with --tls) and its WebSocket upgrade: one port for the page and the chat. The upgrade is where a
 * connection is first judged: wrong path (404), another site's page (403), too many connections (1013).
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { closeReason, WirechatError } from '../shared/errors.ts';
import type { CryptoBackend } from '../shared/crypto-backend.ts';
import { Admission } from './admission.ts';
import type { Identity } from './identity.ts';
import type { ServerOptions } from './options.ts';
import {
  answerClientError,
  answerOwed,
  guardRequest,
  guardUpgrade,
  headerProblem,
  oneMoreInFlight,
  refuseSocket,
  requestPath,
  sendText,
  type Log,
} from './http-guard.ts';
import { originAllowed } from './origin.ts';
import { openHistory } from './history.ts';
import { Relay, type RelayEvents } from './relay.ts';
import { ServerSession, type SessionContext } from './session.ts';
import { staticHandler } from './static.ts';
import type { TlsMaterial } from './tls.ts';

export const WS_PATH = '/ws';

export interface RunningServer {
  http: Server;
  relay: Relay;
  admission: Admission;
  port: number;
  /** The URL a person opens. */
  url: string;
  close(): Promise<void>;
}

export interface ServerParts {
  options: ServerOptions;
  identity: Identity;
  backend: CryptoBackend;
  /**
   * The relay to serve. server/main.ts makes it first, so that the console listens to it before the server takes
   * a connection; a new one (named by --name) when absent.
   */
  relay?: Relay;
  /** A listener for the relay's events (tests and tools; main.ts has the console listen itself). */
  events?: RelayEvents;
  /** Where the built page lives; nothing is served when undefined. */
  dist?: string;
  /** Where requests the server had to guard against are reported (default: stderr). */
  log?: Log;
  /** HTTPS and WSS with this certificate; plain HTTP and WS when undefined. */
  tls?: TlsMaterial;
}

export async function startServer(parts: ServerParts): Promise<RunningServer> {
  const { options, identity, backend } = parts;
  // Tests and tools that bring no relay get one over the history the options name (memory unless --history).
  const ownHistory = parts.relay === undefined ? await openHistory(options) : undefined;
  const relay =
    parts.relay ??
    new Relay(options.name, {
      history: ownHistory!,
      plain: options.plain,
      presenceIntervalMs: options.presenceIntervalMs,
    });
  if (parts.events) relay.listen(parts.events);
  const admission = new Admission(options);
  const log = parts.log ?? ((text: string) => process.stderr.write(`wirechat: ${text}\n`));
  const serveStatic = parts.dist ? staticHandler(parts.dist, log) : undefined;
  // A missing Host is refused by headerProblem, with the headers every answer carries, not by Node's bare 400.
  const http = listener(
    parts.tls,
    options.handshakeTimeoutMs,
    guardRequest(log, (req, res) => {
      if (!oneMoreInFlight(req, res)) return;
      const problem = headerProblem(req);
      if (problem) return sendText(res, 400, `bad request: ${problem}`, { Connection: 'close' });
      if (serveStatic) return serveStatic(req, res);
      sendText(res, 404, 'not found');
    }),
  );
  // Every TCP connection counts against its address from its first moment (server/admission.ts socketsPerAddress):
  // one over the cap is closed before Node reads a byte of it.
  http.on('connection', (socket: Socket) => {
    const closed = admission.connected(socket.remoteAddress);
    if (closed === undefined) return void socket.destroy();
    socket.once('close', closed);
  });
  http.on('clientError', answerClientError);
  // An Expect other than 100-continue (RFC 9110 §10.1.1): Node's own 417 would lack the headers every answer has.
  http.on('checkExpectation', (_req, res) =>
    sendText(res, 417, 'expectation failed: only 100-continue is understood', { Connection: 'close' }),
  );
  // CONNECT asks for a tunnel; without a listener Node would drop the connection without a word.
  http.on('connect', (_req, socket: Duplex) =>
    refuseSocket(socket, 405, 'this server is not a proxy', { Allow: 'GET, HEAD' }),
  );
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxPayload,
    // Compression before encryption leaks plaintext through lengths (CRIME/BREACH), and inflating is a
    // memory sink for a hostile peer; the chat is small anyway.
    perMessageDeflate: false,
    clientTracking: false,
    // The chat is no subprotocol of anyone's: ws alone would answer with the first one a client offers.
    handleProtocols: () => false,
  });
  // ws judges the handshake's own headers (Upgrade, Sec-WebSocket-Key, -Version, -Protocol); the answer is ours,
  // with the headers every answer carries. Every such refusal is a 400 (the method, ws's one 405, is checked
  // below first); RFC 6455 §4.4 asks a refusal to name the version this server speaks.
  wss.on('wsClientError', (error: Error, socket: Duplex) =>
    refuseSocket(socket, 400, `bad request: ${error.message}`, { 'Sec-WebSocket-Version': '13' }),
  );

  // One for every session: what it holds is the server's, not the connection's.
  const sessionContext: SessionContext = { identity, options, backend, host: relay };

  // Each refusal tells a page from another site only that it is refused: the Origin is judged before anything
  // about the request it chose (its path), and nothing from the request can throw out of this handler.
  http.on(
    'upgrade',
    guardUpgrade(log, (req, socket, head) => {
      if (answerOwed(socket)) return void socket.destroy();
      const problem = headerProblem(req);
      if (problem) return refuseSocket(socket, 400, `bad request: ${problem}`);
      if (req.method !== 'GET') return refuseSocket(socket, 405, 'a WebSocket upgrade is a GET', { Allow: 'GET' });
      const origin = originAllowed(req, options);
      if (!origin.ok) return refuseSocket(socket, 403, origin.why);
      const target = requestPath(req);
      if ('problem' in target) return refuseSocket(socket, 400, `bad request: ${target.problem}`);
      if (target.path !== WS_PATH) return refuseSocket(socket, 404, `the chat is at ${WS_PATH}`);
      // Per-address limits (server/admission.ts): the rate of new connections before the upgrade, the seats after.
      const remote = req.socket.remoteAddress;
      const tooFast = admission.knock(remote);
      if (tooFast !== undefined) return refuseSocket(socket, 429, tooFast);
      wss.handleUpgrade(req, socket, head, (ws) => startSession(ws, remote));
    }),
  );

  /**
   * From here the socket speaks WebSocket: a failure is a close code, never an HTTP status. Apart from the upgrade's
   * handler, so that the closures made here (held for the connection's life) do not hold its request too.
   */
  function startSession(ws: WebSocket, remote: string | undefined): void {
    try {
      const ticket = admission.admit(remote);
      if (ticket instanceof WirechatError) {
        // ws reports a bad frame from this peer as an 'error' event, which with no listener would be thrown.
        ws.on('error', () => ws.terminate());
        // Named like every other close reason ("CODE: message"), so a page can tell why without parsing prose.
        ws.close(ticket.closeCode, closeReason(`${ticket.code}: ${ticket.message}`));
        setTimeout(() => ws.terminate(), 2000).unref();
        return;
      }
      // ws emits 'close' once: `on`, not `once`, which would wrap the listener in three more objects.
      ws.on('close', () => ticket.release());
      const session = new ServerSession(ws, sessionContext);
      ticket.watch(() => session.inHandshake);
      relay.add(session);
    } catch (error) {
      log(`internal error starting a session: ${(error as Error)?.message ?? String(error)}`);
      ws.terminate();
    }
  }

  const heartbeat = setInterval(() => relay.heartbeat(), options.heartbeatMs);
  heartbeat.unref();

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const shownHost = options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host;
  const url = `${parts.tls ? 'https' : 'http'}://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}/`;

  return {
    http,
    relay,
    admission,
    port,
    url,
    async close() {
      clearInterval(heartbeat);
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
      await ownHistory?.hub.close();
    },
  };
}

/**
 * The listening server: HTTP, or HTTPS on the same handlers, whose 'keylog' lines go where TLS material says.
 * `requestMs`: the time a request has to arrive whole, its headers included (--handshake-timeout, the time a
 * WebSocket has for its handshake: the upgrade request is its first step). Node's defaults held a connection
 * that sends its headers a byte at a time, or half of them and then nothing, for 60 s and checked only every
 * 30 s; then Node answers 408 through 'clientError'. An idle keep-alive connection is keepAliveTimeout's (5 s).
 */
function listener(tls: TlsMaterial | undefined, requestMs: number, handle: RequestListener): Server {
  const timeouts = {
    headersTimeout: requestMs,
    requestTimeout: requestMs,
    connectionsCheckingInterval: Math.min(1000, requestMs),
  };
  if (tls === undefined) return createServer({ requireHostHeader: false, ...timeouts }, handle);
  // The TLS handshake comes before the request and the same bound covers it (tls's own default is 120 s): a
  // connection that sends nothing, or half a ClientHello, is closed after requestMs.
  const https = createHttpsServer(
    {
      cert: tls.cert,
      key: tls.key,
      minVersion: 'TLSv1.2',
      requireHostHeader: false,
      handshakeTimeout: requestMs,
      ...timeouts,
    },
    handle,
  );
  if (tls.keylog) https.on('keylog', tls.keylog);
  return https;
}
