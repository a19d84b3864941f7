/**
 * HTTP spoken byte by byte over a raw TCP socket (node:net), for requests no HTTP client would send: a request
 * line and headers exactly as given, and the server's answer read just as strictly. Every exchange ends by
 * itself: a complete answer, or a bounded wait that fails the test as a hang.
 */
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';

export interface HttpAnswer {
  status: number;
  /** The reason phrase of the status line. */
  reason: string;
  /** Header names lower-cased; every value a name had, in order. */
  headers: Map<string, string[]>;
  body: Buffer;
  /** Interim (1xx) statuses that came first, e.g. 100 for `Expect: 100-continue`. */
  interim: number[];
  /** After a 101: the status code of the server's WebSocket close frame, once the server closed the TCP socket. */
  wsClose?: number;
}

const STATUS_LINE = /^HTTP\/1\.[01] ([1-5]\d\d) ([^\r\n]*)$/;

/** A masked (client-to-server, RFC 6455 §5.3) close frame with `code` and no reason. */
export function clientCloseFrame(code = 1000): Buffer {
  const mask = randomBytes(4);
  const payload = Buffer.from([code >> 8, code & 0xff]);
  for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
  return Buffer.concat([Buffer.from([0x88, 0x80 | payload.length]), mask, payload]);
}

function parseHead(head: string): { status: number; reason: string; headers: Map<string, string[]> } {
  const [statusLine = '', ...lines] = head.split('\r\n');
  const match = STATUS_LINE.exec(statusLine);
  if (!match) throw new Error(`not an HTTP status line: ${JSON.stringify(statusLine.slice(0, 200))}`);
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`not a header line: ${JSON.stringify(line.slice(0, 200))}`);
    const name = line.slice(0, colon).toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return { status: Number(match[1]), reason: match[2]!, headers };
}

/**
 * Sends `request` on a fresh connection to 127.0.0.1:`port` and reads one answer: the status line and headers
 * (after any 1xx), then the body its Content-Length promises (none for HEAD), or up to the close when it
 * promises nothing. After a 101, answers the upgrade with a close frame and waits for the server's close frame
 * and the end of the connection. Rejects when the answer is not HTTP, or does not come within `timeoutMs`.
 */
export function exchange(
  port: number,
  request: Buffer | string,
  options: { head?: boolean; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  const timeoutMs = options.timeoutMs ?? 5000;
  return new Promise<HttpAnswer>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    const interim: number[] = [];
    let answer: Omit<HttpAnswer, 'body' | 'interim'> | undefined;
    let bodyStart = 0;
    let settled = false;
    const finish = (error: Error | undefined, result?: HttpAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(result!);
    };
    const what = () =>
      `${JSON.stringify(String(request).slice(0, 300))}; received ${JSON.stringify(data.toString('latin1').slice(0, 300))}`;
    const timer = setTimeout(
      () => finish(new Error(`no complete answer within ${timeoutMs} ms to ${what()}`)),
      timeoutMs,
    );

    const progress = (closed: boolean): void => {
      try {
        while (!answer) {
          const end = data.indexOf('\r\n\r\n', bodyStart);
          if (end < 0) {
            if (closed) throw new Error(`the connection closed without a complete answer`);
            return;
          }
          const head = parseHead(data.subarray(bodyStart, end).toString('latin1'));
          bodyStart = end + 4;
          if (head.status >= 100 && head.status < 200 && head.status !== 101) {
            interim.push(head.status);
            continue;
          }
          answer = head;
          if (head.status === 101) socket.write(clientCloseFrame());
        }
        const body = data.subarray(bodyStart);
        if (answer.status === 101) {
          // The server's close frame: unmasked, opcode 8, a 2-byte status (RFC 6455 §5.5.1).
          if (!closed) return;
          if (body.length < 4 || body[0] !== 0x88 || (body[1]! & 0x80) !== 0)
            throw new Error('a 101 not followed by a close frame');
          return finish(undefined, { ...answer, body: Buffer.alloc(0), interim, wsClose: body.readUInt16BE(2) });
        }
        const length = answer.headers.get('content-length');
        const noBody = options.head || answer.status === 204 || answer.status === 304;
        if (noBody) return finish(undefined, { ...answer, body: Buffer.alloc(0), interim });
        if (answer.headers.get('transfer-encoding')?.some((v) => /chunked/i.test(v))) {
          const decoded = dechunk(body);
          if (decoded) return finish(undefined, { ...answer, body: decoded, interim });
          if (closed) throw new Error('the connection closed inside a chunked body');
          return;
        }
        if (length) {
          const n = Number(length[0]);
          if (body.length >= n) return finish(undefined, { ...answer, body: body.subarray(0, n), interim });
          if (closed) throw new Error(`the connection closed after ${body.length} of ${n} body bytes`);
          return;
        }
        if (closed) return finish(undefined, { ...answer, body, interim });
      } catch (error) {
        finish(new Error(`${(error as Error).message}, for ${what()}`));
      }
    };
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      progress(false);
    });
    socket.on('end', () => progress(true));
    socket.on('close', () => progress(true));
    socket.on('error', () => progress(true));
    socket.write(request);
  });
}

/** A chunked body (RFC 9112 §7.1) decoded, or undefined while its last chunk has not arrived. */
function dechunk(data: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const size = parseInt(data.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size)) throw new Error('a chunk size that is not hexadecimal');
    if (size === 0) return data.indexOf('\r\n', eol + 2) < 0 ? undefined : Buffer.concat(parts);
    if (data.length < eol + 2 + size + 2) return undefined;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** A request built from its parts, CRLF-terminated, bytes as given (strings as UTF-8). */
export function rawRequest(
  method: string,
  target: string,
  headers: Array<[string, string | Buffer]>,
  version = 'HTTP/1.1',
): Buffer {
  const parts: Buffer[] = [Buffer.from(`${method} ${target} ${version}\r\n`)];
  for (const [name, value] of headers) parts.push(Buffer.from(`${name}: `), Buffer.from(value), Buffer.from('\r\n'));
  parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

/** The headers of a WebSocket upgrade a browser would send to 127.0.0.1:`port`, from a page of that origin. */
export function upgradeHeaders(port: number): Array<[string, string]> {
  return [
    ['Host', `127.0.0.1:${port}`],
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Key', randomBytes(16).toString('base64')],
    ['Sec-WebSocket-Version', '13'],
    ['Origin', `http://127.0.0.1:${port}`],
  ];
}
