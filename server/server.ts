/**
 * The HTTP server and its WebSocket upgrade: one port for the page and the chat. The upgrade is where a
 * connection is first judged: wrong path (404), another site's page (403), too many connections (1013).
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { closeReason, WirechatError } from '../shared/errors.ts';
import type { CryptoBackend } from '../shared/crypto-backend.ts';
import { Admission } from './admission.ts';
import type { Identity } from './identity.ts';
import type { ServerOptions } from './options.ts';
import { Relay, type RelayEvents } from './relay.ts';
import { ServerSession } from './session.ts';
import { SECURITY_HEADERS, sendText, staticHandler } from './static.ts';

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
  events: RelayEvents;
  /** Where the built page lives; nothing is served when undefined. */
  dist?: string;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function hostname(host: string): string {
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return '';
  }
}

/**
 * Same origin means the page was served by this server: the Origin's host is the Host the browser asked for.
 * A server bound to loopback also insists that Host is a loopback name, which defeats DNS rebinding (a hostile
 * site whose name suddenly resolves to 127.0.0.1 would otherwise count as "same origin").
 */
export function originAllowed(req: IncomingMessage, options: ServerOptions): { ok: boolean; why: string } {
  const host = req.headers.host ?? '';
  if (LOOPBACK_NAMES.has(options.host) && !LOOPBACK_NAMES.has(hostname(host))) {
    return { ok: false, why: `Host "${host}" is not this machine (DNS rebinding protection)` };
  }
  const origin = req.headers.origin;
  // Browsers always send Origin on a WebSocket upgrade; a client without one is not a browser page, and the
  // check exists to stop other sites' pages, not programs (which could send any Origin they like).
  if (origin === undefined) return { ok: true, why: '' };
  if (options.allowOrigins.includes(origin)) return { ok: true, why: '' };
  try {
    const url = new URL(origin);
    if ((url.protocol === 'http:' || url.protocol === 'https:') && url.host === host) return { ok: true, why: '' };
  } catch {
    // fall through: an Origin that is not a URL is not ours
  }
  return { ok: false, why: `pages from ${origin} may not connect (start the server with --allow-origin ${origin} to allow it)` };
}

function refuse(socket: Duplex, status: number, text: string): void {
  const headers = Object.entries({ ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const body = text + '\n';
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    // The answer is the last word: a peer that never closes its side (a flood) must not keep the socket.
    () => socket.destroy(),
  );
}

export async function startServer(parts: ServerParts): Promise<RunningServer> {
  const { options, identity, backend, events } = parts;
  const relay = new Relay(options.name, events, options.presenceIntervalMs);
  const admission = new Admission(options);
  const serveStatic = parts.dist ? staticHandler(parts.dist) : undefined;
  const http = createServer((req, res) => {
    if (serveStatic) void serveStatic(req, res);
    else sendText(res, 404, 'not found');
  });
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxPayload,
    // Compression before encryption leaks plaintext through lengths (CRIME/BREACH), and inflating is a
    // memory sink for a hostile peer; the chat is small anyway.
    perMessageDeflate: false,
    clientTracking: false,
  });

  http.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    if (new URL(req.url ?? '/', 'http://x').pathname !== WS_PATH) return refuse(socket, 404, `the chat is at ${WS_PATH}`);
    const origin = originAllowed(req, options);
    if (!origin.ok) return refuse(socket, 403, origin.why);
    // Per-address limits (server/admission.ts): the rate of new connections before the upgrade, the seats after.
    const tooFast = admission.knock(req.socket.remoteAddress);
    if (tooFast !== undefined) return refuse(socket, 429, tooFast);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const ticket = admission.admit(req.socket.remoteAddress);
      if (ticket instanceof WirechatError) {
        // Named like every other close reason ("CODE: message"), so a page can tell why without parsing prose.
        ws.close(ticket.closeCode, closeReason(`${ticket.code}: ${ticket.message}`));
        setTimeout(() => ws.terminate(), 2000).unref();
        return;
      }
      ws.once('close', () => ticket.release());
      const session = new ServerSession(ws, { identity, options, backend, host: relay });
      ticket.watch(() => session.phase === 'hello' || session.phase === 'handshaking');
      relay.add(session);
    });
  });

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
  const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}/`;

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
    },
  };
}
