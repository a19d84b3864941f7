/**
 * What stands between the socket and the server's own handlers. A request line and its headers are anything a
 * peer cares to send, so they are read here without a parser that can throw, every refusal is one status line
 * built in one place (the text from `http.STATUS_CODES`, as ws's `abortHandshake` does), and each handler runs
 * inside a guard: whatever it throws is logged and answered with a 500 on that connection alone, never left to
 * take the process down (an exception out of an 'upgrade' or 'request' listener ends every tab's chat).
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { printable } from '../shared/protocol.ts';

/** Where the server reports what it had to guard against (the operator's console in `npm run server`). */
export type Log = (text: string) => void;

/**
 * Sent with every answer, refusals included. connect-src 'self' covers ws:/wss: to this same host and port (CSP
 * Level 3), which is all the page needs. Lit's styles are constructable stylesheets, which style-src does not
 * govern, so no 'unsafe-inline' anywhere.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

const TEXT = 'text/plain; charset=utf-8';

/** Requests one connection may have in flight at once (HTTP/1.1 pipelining; browsers do not pipeline at all). */
export const MAX_IN_FLIGHT = 4;

const IN_FLIGHT = Symbol('wirechat.inFlight');
type CountedSocket = Duplex & { [IN_FLIGHT]?: number };

function answered(this: ServerResponse & { [IN_FLIGHT]: CountedSocket }): void {
  this[IN_FLIGHT][IN_FLIGHT]!--;
}

/**
 * Counts `res` as in flight on its connection until it closes; false (and the connection destroyed) when the
 * connection already has MAX_IN_FLIGHT. Node parses every pipelined request of a read at once and calls the handler
 * for each; its own backpressure counts bytes already queued, and the page's files are opened before a byte is
 * written, so without this one connection that never reads could make the server open a file for every request it
 * sends (seen: 8,141 open files and about 300 MB for one connection writing 88,000 GETs).
 */
export function oneMoreInFlight(req: IncomingMessage, res: ServerResponse): boolean {
  const socket = req.socket as CountedSocket;
  const inFlight = socket[IN_FLIGHT] ?? 0;
  if (inFlight >= MAX_IN_FLIGHT) {
    socket.destroy();
    return false;
  }
  socket[IN_FLIGHT] = inFlight + 1;
  (res as ServerResponse & { [IN_FLIGHT]: CountedSocket })[IN_FLIGHT] = socket;
  res.once('close', answered);
  return true;
}

/**
 * Whether `socket` still owes an answer to a request read before this one. An upgrade pipelined behind a request
 * whose answer is not yet out (the page's file is opened first) would have its 101 written ahead of that answer,
 * and the answer then written into the WebSocket as if the server had sent it: such a connection is closed
 * instead (browsers do not pipeline, and a keep-alive connection whose answers are out upgrades as ever).
 */
export function answerOwed(socket: Duplex): boolean {
  return ((socket as CountedSocket)[IN_FLIGHT] ?? 0) > 0;
}

/** A short text answer on a response Node is still managing (the 'request' path). */
export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  const body = text + '\n';
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': TEXT,
    ...headers,
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

/**
 * A refusal written straight onto a socket that Node's HTTP parser has let go of (an upgrade, a CONNECT, a
 * request it could not parse). The connection is closed once the answer is flushed: nothing after a refusal is
 * worth reading.
 */
export function refuseSocket(socket: Duplex, status: number, text: string, headers: Record<string, string> = {}): void {
  socket.on('error', () => socket.destroy());
  if (!socket.writable) return void socket.destroy();
  const body = text + '\n';
  const fields = {
    ...SECURITY_HEADERS,
    'Content-Type': TEXT,
    ...headers,
    Connection: 'close',
    'Content-Length': String(Buffer.byteLength(body)),
  };
  const head = Object.entries(fields)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n${head}\r\n${body}`);
}

/**
 * The server's 'clientError' listener: a request Node's parser refused (bad bytes, headers over --max-http-header-size,
 * too slow). Node picks the status as its own default handler would (431, 408, 400); the answer gets our headers.
 * Anything else Node reports here is no request to answer and ends the connection: the socket's own errors, and
 * with --tls a handshake that failed or ran out of time (https passes 'tlsClientError' on as 'clientError'), where
 * an answer would wait for a handshake that never comes, holding the connection open for ever.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  const request = error.code?.startsWith('HPE_') === true || error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  // A response already under way on this connection (pipelining) must not have a status line spliced into it.
  // `_httpMessage` is the in-flight response; Node's own default handler makes the same check.
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (!request || inFlight?.headersSent) return void socket.destroy();
  const status =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? 431
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 408
        : error.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
          ? 413
          : 400;
  refuseSocket(
    socket,
    status,
    status === 400 ? 'bad request: not an HTTP request this server can read' : (STATUS_CODES[status] ?? 'refused'),
  );
}

/** RFC 3986 §3.2.2-3.2.3: an IP literal or a reg-name (which covers IPv4), then an optional port. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]{0,5})?$/;

function count(req: IncomingMessage, name: string): number {
  let n = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === name) n++;
  return n;
}

/**
 * Headers a request must not be served with, for plain requests and upgrades alike (a 400): RFC 9112 §3.2 asks
 * for exactly one valid Host on HTTP/1.1 (Node keeps the first of several and forgets the rest, so the server
 * and a proxy in front of it could each believe a different one), and RFC 6454 §7.3 for at most one Origin.
 */
export function headerProblem(req: IncomingMessage): string | undefined {
  const hosts = count(req, 'host');
  if (hosts > 1) return 'more than one Host header';
  if (hosts === 0 && req.httpVersion === '1.1') return 'no Host header';
  if (hosts === 1 && !HOST.test(req.headers.host ?? ''))
    return `Host "${printable(req.headers.host ?? '')}" is not a host name`;
  if (count(req, 'origin') > 1) return 'more than one Origin header';
  return undefined;
}

/** The path part of a request target, still percent-encoded; or why the target is not one this server serves. */
export type RequestPath = { path: string } | { problem: string };

/**
 * Reads the path out of the request target by RFC 9112 §3.2's forms alone, with no URL parser that could throw
 * (`new URL('//[', base)` does) or reinterpret it (`//host/ws` is an origin-form path, not a host):
 * - origin-form `/path?query`: the path is everything before `?`;
 * - absolute-form `http://host/path?query` (what a client talking to a proxy sends): accepted when its authority
 *   is the Host header, so that nobody can aim the Origin and rebinding checks at one host and the request at
 *   another;
 * - asterisk-form `*` (OPTIONS only) and authority-form (CONNECT only) have no path here: a 400.
 */
export function requestPath(req: IncomingMessage): RequestPath {
  const target = req.url ?? '';
  if (target.startsWith('/')) return { path: target.split(/[?#]/, 1)[0]! };
  const absolute = /^https?:\/\/([^/?#]*)([^#]*)/i.exec(target);
  if (absolute) {
    const [, authority = '', rest = ''] = absolute;
    if (authority.toLowerCase() !== (req.headers.host ?? '').toLowerCase()) {
      return { problem: `the target's host "${printable(authority)}" is not the Host header's` };
    }
    return { path: rest.startsWith('/') ? rest.split('?', 1)[0]! : '/' };
  }
  return { problem: `"${printable(target)}" is not a path on this server` };
}

/** A request named for the log: its method and target made printable, since both come from the wire. */
function describe(req: IncomingMessage): string {
  return `${printable(req.method ?? '?', 16)} ${printable(req.url ?? '', 80)}`;
}

function why(error: unknown): string {
  return printable(error instanceof Error ? error.message : String(error), 200);
}

/**
 * The 'request' listener around `handler`: a throw, or a rejection of the promise it returns, is logged and
 * answered with a 500 (or, if the status line is already out, by cutting that one connection).
 */
export function guardRequest(
  log: Log,
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const fail = (error: unknown): void => {
      log(`internal error answering ${describe(req)}: ${why(error)}`);
      try {
        if (res.headersSent) res.destroy();
        else sendText(res, 500, 'internal server error', { Connection: 'close' });
      } catch {
        res.destroy();
      }
    };
    try {
      const done = handler(req, res);
      if (done) done.catch(fail);
    } catch (error) {
      fail(error);
    }
  };
}

/**
 * The 'upgrade' listener around `handler`: a throw before the socket is handed to ws is logged and answered
 * with a 500. (What runs after the handover guards itself; see server.ts.)
 */
export function guardUpgrade(
  log: Log,
  handler: (req: IncomingMessage, socket: Duplex, head: Buffer) => void,
): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    try {
      handler(req, socket, head);
    } catch (error) {
      log(`internal error answering the upgrade ${describe(req)}: ${why(error)}`);
      refuseSocket(socket, 500, 'internal server error');
    }
  };
}
