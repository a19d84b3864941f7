/**
 * The HTTP server (HTTPS with --tls) and its WebSocket upgrade: one port for the page and the chat. The upgrade is where a
 * connection is first judged: wrong path (404), another site's page (403), too many connections (1013).
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { closeReason, WirechatError } from '../shared/errors.ts';
import type { CryptoBackend } from '../shared/crypto-backend.ts';
import type { Identity } from './identity.ts';
import type { ServerOptions } from './options.ts';
import { originAllowed } from './origin.ts';
import { Relay, type RelayEvents } from './relay.ts';
import { ServerSession } from './session.ts';
import { SECURITY_HEADERS, sendText, staticHandler } from './static.ts';
import type { TlsMaterial } from './tls.ts';

export const WS_PATH = '/ws';

export interface RunningServer {
  http: Server;
  relay: Relay;
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
  /** HTTPS and WSS with this certificate; plain HTTP and WS when undefined. */
  tls?: TlsMaterial;
}

function refuse(socket: Duplex, status: number, text: string): void {
  const headers = Object.entries({ ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const body = text + '\n';
  socket.end(
    `HTTP/1.1 ${status} ${status === 403 ? 'Forbidden' : 'Not Found'}\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

export async function startServer(parts: ServerParts): Promise<RunningServer> {
  const { options, identity, backend, events } = parts;
  const relay = new Relay(options.name, events);
  const serveStatic = parts.dist ? staticHandler(parts.dist) : undefined;
  const http = listener(parts.tls, (req, res) => {
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
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (relay.size >= options.maxConnections) {
        const full = new WirechatError('LIMIT_CONNECTIONS', `the server is full (${options.maxConnections} connections); try again later`);
        // Named like every other close reason ("CODE: message"), so a page can tell why without parsing prose.
        ws.close(full.closeCode, closeReason(`${full.code}: ${full.message}`));
        setTimeout(() => ws.terminate(), 2000).unref();
        return;
      }
      relay.add(new ServerSession(ws, { identity, options, backend, host: relay }));
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
  const url = `${parts.tls ? 'https' : 'http'}://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}/`;

  return {
    http,
    relay,
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

/** The listening server: HTTP, or HTTPS on the same handlers, whose 'keylog' lines go where TLS material says. */
function listener(tls: TlsMaterial | undefined, handle: RequestListener): Server {
  if (tls === undefined) return createServer(handle);
  const https = createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, handle);
  if (tls.keylog) https.on('keylog', tls.keylog);
  return https;
}
