/**
 * `npm run mitm -- --target URL`: a man in the middle between a page and the server, for watching attacks get
 * caught. It serves the server's page from its own port (so a browser that opens the proxy is same-origin with
 * the proxy's /ws), relays every WebSocket frame both ways and prints it, and on its operator's command:
 *
 *   flip    flips one bit of the next record's token or mac: the receiver's record MAC check fails;
 *   replay  sends the last page -> server record again: the server's sequence check fails;
 *   swap    puts its own RSA key in the next hello, unwraps the session keys the server sends for it (and prints
 *           them), re-wraps them for the page and passes the welcome on: the attack the original Python design
 *           fell to. The server signed a transcript naming the proxy's key, so the page's signature check fails.
 *   close   forges a close frame to the page, with any code and reason: no MAC covers a close frame, so the page
 *           can only treat it as a disconnection (its reason marked unverified) and reconnect.
 *
 * The proxy is an honest relay until told otherwise, and invents a close only on `close`: when one side ends the
 * connection, the other is closed with the same code and reason, so each side's verdict is what the other sees.
 * This file is the plumbing (the page's HTTP, the upgrade, the two sockets of each connection, their closes, the
 * operator's terminal); the attacks, and the path every frame takes through them, are tools/mitm/attacks.ts.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { createInterface } from 'node:readline';
import WebSocket, { WebSocketServer } from 'ws';
import { closeCodeText } from '../shared/errors.ts';
import { printable } from '../shared/text.ts';
import { commandLine, runAsCommand } from '../server/command-line.ts';
import { paint, printAbovePrompt, wantColour, type Colour } from '../server/terminal.ts';
import {
  Attacks,
  sendable,
  WAY_DIRECTION,
  type FlipField,
  type Link,
  type PassedFrame,
  type StolenKeys,
  type Way,
} from './mitm/attacks.ts';
import { describeFrame, routeText } from './wire-format.ts';

export const MITM_HELP = `npm run mitm -- --target URL [options]: a man in the middle between a page and a wirechat server.

  --target URL    the server, e.g. http://localhost:8080 (required)
  --port N        where the proxy listens (default 8081); open http://localhost:N/ in the browser
  --host NAME     the interface it listens on (default 127.0.0.1)
  --swap-all      swap the public key in every hello (the swap attack on every connection)
  --no-color      no ANSI colours
  -h, --help      this text

The proxy serves the server's page, relays /ws to the server's /ws and prints every frame that passes. Type
commands on its terminal:

${commandsHelp()}`;

function commandsHelp(): string {
  return `  flip [up|down] [token|mac]  flip one bit in the next record (up: page -> server, down: server -> page,
                              either when not said), in its token (default) or its mac. The receiver's
                              record MAC check fails: RECORD_BAD_MAC, close 1008.
  replay                      send the last page -> server record to the server again. Its sequence number
                              was used already: RECORD_BAD_SEQUENCE, close 1008.
  swap                        put the proxy's own RSA key in the next hello; unwrap the session keys the server
                              sends (they are printed), re-wrap them for the page and pass the welcome on. The
                              server signed the proxy's key, so the page refuses: HANDSHAKE_BAD_SIGNATURE.
  close [CODE] [REASON]       forge a close frame to every page connected now (CODE 1000 if not said; \\uXXXX in
                              REASON is that character, e.g. \\u202e) and hang up on the server. No MAC covers a
                              close frame: the page shows a disconnection, the reason marked unverified, and
                              reconnects. Only an authenticated end record ends its chat.
  help                        this list
  quit                        stop the proxy (Ctrl-C too)`;
}

export interface MitmOptions {
  /** The server: http(s)://host:port. Its /ws is where the chat is relayed. */
  target: string;
  /** Default 8081; 0 for a free port. */
  port?: number;
  host?: string;
  swapAll?: boolean;
  /** Where the proxy prints (one line per call). Default: nowhere. */
  log?: (line: string) => void;
  color?: boolean;
  /** The proxy's own RSA modulus for swap (3072, like a page's, unless a test wants speed). */
  modulusLength?: number;
}

export interface ClosedLeg {
  connection: number;
  /** Who closed: the page's or the server's side of the proxy. */
  by: 'page' | 'server';
  code: number;
  reason: string;
}

function stamp(): string {
  const d = new Date();
  return `${d.toTimeString().slice(0, 8)}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** The error code a close reason names ("RECORD_BAD_MAC: ..." from the server, "1008 RECORD_BAD_MAC: ..." from a page). */
export function reasonCode(reason: string): string | undefined {
  return /^(?:\d{4} )?([A-Z][A-Z0-9_]+)(?::|$)/.exec(reason)?.[1];
}

export class MitmProxy {
  readonly frames: PassedFrame[] = [];
  readonly closes: ClosedLeg[] = [];
  readonly #options: MitmOptions;
  readonly #target: URL;
  readonly #wsTarget: string;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #links = new Set<Link>();
  readonly #attacks: Attacks;
  #nextId = 1;
  port = 0;

  constructor(options: MitmOptions) {
    this.#options = options;
    this.#target = new URL(options.target);
    if (this.#target.protocol !== 'http:' && this.#target.protocol !== 'https:') {
      throw new Error(`--target is the server's http:// or https:// address, not ${options.target}`);
    }
    this.#wsTarget = `${this.#target.protocol === 'https:' ? 'wss' : 'ws'}://${this.#target.host}/ws`;
    this.#attacks = new Attacks(
      {
        say: (kind, text) => this.#say(kind, text),
        passed: (link, way, data, type, tampered) => this.#passed(link, way, data, type, tampered),
        open: () => [...this.#links].filter((link) => !link.ended),
      },
      { swapAll: options.swapAll ?? false, modulusLength: options.modulusLength },
    );
    this.#wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    this.#http = createServer((req, res) => this.#forwardHttp(req, res));
    this.#http.on('upgrade', (req, socket, head) => this.#upgrade(req, socket, head));
  }

  /** The session keys taken by swap, one entry per connection. */
  get stolen(): readonly StolenKeys[] {
    return this.#attacks.stolen;
  }

  /** The address a browser opens. */
  get url(): string {
    return `http://localhost:${this.port}/`;
  }

  /** The proxy's WebSocket, for scripted clients. */
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen(this.#options.port ?? 8081, this.#options.host ?? '127.0.0.1', () => {
        this.#http.off('error', reject);
        resolve();
      });
    });
    const address = this.#http.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  /** Waits for the proxy's own key pair (made at start, used by swap). Returns its SPKI's short hash. */
  ready(): Promise<string> {
    return this.#attacks.ready();
  }

  /** Stops: both sides of every connection hear 1001 (going away), and anything still open is cut after 1 s. */
  async close(): Promise<void> {
    for (const link of this.#links) {
      link.ended = true;
      for (const ws of [link.page, link.server]) {
        if (ws.readyState === WebSocket.OPEN) ws.close(1001, 'the man in the middle stopped');
        setTimeout(() => ws.terminate(), 1000).unref();
      }
    }
    await new Promise<void>((resolve) => {
      this.#http.close(() => resolve());
      this.#http.closeAllConnections();
    });
  }

  // ---- the operator's commands ---------------------------------------------------------------------------------

  /** Arms a one-bit flip in the next record going `way` (either way by default). */
  flip(way: Way | 'any' = 'any', field: FlipField = 'token'): string {
    return this.#attacks.flip(way, field);
  }

  /** Re-sends the last page -> server record to the server. */
  replay(): string {
    return this.#attacks.replay();
  }

  /** Arms the key swap for the next hello. */
  swap(): string {
    return this.#attacks.swap();
  }

  /** Forges a close frame to every open connection's page, and to the next `next` as they open (Attacks.forgeClose). */
  forgeClose(code = 1000, reason = '', next = 0): string {
    return this.#attacks.forgeClose(code, reason, next);
  }

  /** One line the operator typed. Returns 'quit' when the proxy should stop. */
  command(line: string): 'quit' | undefined {
    const words = line.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const [verb, ...rest] = words;
    switch (verb) {
      case undefined:
        return undefined;
      case 'flip': {
        let way: Way | 'any' = 'any';
        let field: FlipField = 'token';
        for (const word of rest) {
          if (word === 'up' || word === 'down') way = word;
          else if (word === 'token' || word === 'mac') field = word;
          else {
            this.#say('note', `flip takes up or down and token or mac, not "${printable(word, 16)}"`);
            return undefined;
          }
        }
        this.flip(way, field);
        return undefined;
      }
      case 'replay':
        this.replay();
        return undefined;
      case 'swap':
        this.swap();
        return undefined;
      case 'close': {
        // The reason keeps its case and spaces: everything after the code, with \uXXXX read as that character.
        const [, code, ...said] = line.trim().split(/\s+/);
        const number = code === undefined ? 1000 : Number(code);
        if (!Number.isInteger(number)) {
          this.#say('note', `close takes a close code first, not "${printable(code ?? '', 16)}"`);
          return undefined;
        }
        this.forgeClose(
          number,
          said.join(' ').replace(/\\u([0-9a-fA-F]{4})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
        );
        return undefined;
      }
      case 'help':
      case '?':
        this.#options.log?.(commandsHelp());
        return undefined;
      case 'quit':
      case 'exit':
        return 'quit';
      default:
        this.#say('note', `unknown command "${printable(verb, 16)}"; help lists them`);
        return undefined;
    }
  }

  // ---- HTTP: the page -------------------------------------------------------------------------------------------

  #forwardHttp(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res
        .writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' })
        .end('the proxy forwards GET and HEAD only\n');
      return;
    }
    const url = targetUrl(req.url, this.#target);
    if (url === undefined) {
      res.writeHead(400, { 'Content-Type': 'text/plain', Connection: 'close' }).end(BAD_TARGET);
      return;
    }
    const headers: Record<string, string | string[] | undefined> = { ...req.headers, host: this.#target.host };
    delete headers.connection;
    delete headers['keep-alive'];
    const send = this.#target.protocol === 'https:' ? httpsRequest : httpRequest;
    const upstream = send(url, { method: req.method, headers }, (answer) => {
      const out = { ...answer.headers };
      delete out.connection;
      delete out['keep-alive'];
      res.writeHead(answer.statusCode ?? 502, out);
      answer.pipe(res);
      this.#options.log?.(
        this.#paint('dim', `[${stamp()}] http ${req.method} ${printable(url.pathname, 60)} -> ${answer.statusCode}`),
      );
    });
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`the proxy could not reach ${this.#target.origin}: ${error.message}\n`);
      this.#say('note', `http ${req.method} ${url.pathname}: cannot reach ${this.#target.origin} (${error.message})`);
    });
    upstream.end();
  }

  // ---- WebSocket: the chat --------------------------------------------------------------------------------------

  /**
   * Opens the server's side first and accepts the page only once the server has: a refusal at the server's
   * upgrade (403 another origin, 404) reaches the page as the same HTTP answer.
   */
  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const url = targetUrl(req.url, this.#target);
    if (url === undefined) {
      socket.end(
        `HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ${BAD_TARGET.length}\r\n\r\n${BAD_TARGET}`,
      );
      return;
    }
    if (url.pathname !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nthe chat is at /ws\n');
      return;
    }
    const id = this.#nextId++;
    // The page's Origin is the proxy's; the server would refuse it as another site's. A real attacker on the path
    // forges whatever Origin it likes, so the proxy says it comes from the server's own origin.
    const server = new WebSocket(this.#wsTarget, {
      perMessageDeflate: false,
      maxPayload: 64 * 1024 * 1024,
      ...(req.headers.origin !== undefined ? { origin: this.#target.origin } : {}),
    });
    const refused = (status: string) => {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    const unreachable = (error: Error) => {
      this.#say('note', `#${id} cannot reach the server at ${this.#wsTarget}: ${error.message}`);
      refused('502 Bad Gateway');
    };
    // Every failure of the server's side is reported by the handlers here, or ends the link (see #link).
    server.on('error', () => undefined);
    // A page that gives up before the server answers leaves nothing open behind it.
    const gaveUp = () => {
      server.off('error', unreachable);
      server.terminate();
    };
    socket.once('close', gaveUp);
    server.once('unexpected-response', (_request, answer) => {
      server.off('error', unreachable);
      this.#say('note', `#${id} the server refused the upgrade: HTTP ${answer.statusCode}; passed on to the page`);
      refused(`${answer.statusCode} ${answer.statusMessage ?? ''}`);
      answer.resume();
    });
    server.once('error', unreachable);
    server.once('open', () => {
      server.off('error', unreachable);
      socket.off('close', gaveUp);
      this.#wss.handleUpgrade(req, socket, head, (page) => this.#link(id, page, server));
    });
  }

  #link(id: number, page: WebSocket, server: WebSocket): void {
    const link: Link = { id, page, server, queue: { up: Promise.resolve(), down: Promise.resolve() }, ended: false };
    this.#links.add(link);
    this.#options.log?.(this.#paint('dim', `[${stamp()}] #${id} a page connected; relaying to ${this.#wsTarget}`));
    page.on('message', (data, isBinary) => this.#attacks.enqueue(link, 'up', data, isBinary));
    server.on('message', (data, isBinary) => this.#attacks.enqueue(link, 'down', data, isBinary));
    page.on('close', (code, reason) => this.#closed(link, 'page', code, reason.toString()));
    server.on('close', (code, reason) => this.#closed(link, 'server', code, reason.toString()));
    page.on('error', () => undefined);
    server.on('error', () => undefined);
    this.#attacks.opened(link);
  }

  #closed(link: Link, by: 'page' | 'server', code: number, reason: string): void {
    this.closes.push({ connection: link.id, by, code, reason });
    const who = by === 'page' ? 'the page' : 'the server';
    if (link.ended) {
      // The answer to the close the proxy passed on: the connection is over on both sides.
      this.#options.log?.(
        this.#paint(
          'dim',
          `[${stamp()}] #${link.id} ${who} answered the close (${code}); connection #${link.id} is over`,
        ),
      );
    } else {
      link.ended = true;
      const caught = reasonCode(reason);
      const verdict = caught !== undefined && code !== 1000 && code !== 1001 ? `  => ${who} caught it: ${caught}` : '';
      this.#options.log?.(
        this.#paint(
          verdict ? 'yellow' : 'dim',
          `[${stamp()}] #${link.id} ${who} closed: ${closeCodeText(code)}${reason ? ` "${printable(reason, 120)}"` : ''}${verdict}`,
        ),
      );
      // Pass the close on as it came, so the other side sees the same verdict.
      const other = by === 'page' ? link.server : link.page;
      if (other.readyState === WebSocket.OPEN || other.readyState === WebSocket.CONNECTING) {
        if (sendable(code)) other.close(code, reason);
        else if (code === 1005) other.close();
        else other.terminate();
      }
    }
    if (link.page.readyState === WebSocket.CLOSED && link.server.readyState === WebSocket.CLOSED)
      this.#links.delete(link);
  }

  #passed(link: Link, way: Way, data: string | Buffer, type: string, tampered?: PassedFrame['tampered']): void {
    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    this.frames.push({ connection: link.id, way, type, bytes, ...(tampered ? { tampered } : {}) });
    const what = typeof data === 'string' ? describeFrame(data).text : 'binary';
    this.#options.log?.(
      `[${stamp()}] #${link.id} ${routeText(WAY_DIRECTION[way]).padEnd(14)} ${String(bytes).padStart(6)} B  ${what}`,
    );
  }

  #say(kind: 'attack' | 'note', text: string): string {
    this.#options.log?.(
      this.#paint(kind === 'attack' ? 'red' : 'bold', `[${stamp()}] ${kind === 'attack' ? '!! ' : ''}${text}`),
    );
    return text;
  }

  #paint(colour: Colour, text: string): string {
    return paint(this.#options.color === true, colour, text);
  }
}

const BAD_TARGET = 'bad request: not a path the proxy can forward\n';

/**
 * A request target resolved against the server's address, or undefined where it is not one: the target is the
 * peer's to choose, and `new URL` throws on some (`//[`), which out of a 'request' or 'upgrade' listener would end
 * the proxy. A target that resolves to another origin (absolute-form `http://elsewhere/`, or `//elsewhere/` read as
 * a host) is not one either: the proxy would fetch it for whoever asked, any page in the browser included.
 */
function targetUrl(target: string | undefined, base: URL): URL | undefined {
  let url: URL;
  try {
    url = new URL(target ?? '/', base);
  } catch {
    return undefined;
  }
  return url.origin === base.origin ? url : undefined;
}

/** A proxy listening and ready to relay. */
export async function startMitm(options: MitmOptions): Promise<MitmProxy> {
  const proxy = new MitmProxy(options);
  await proxy.listen();
  return proxy;
}

async function main(): Promise<number> {
  const parsed = commandLine('mitm', MITM_HELP, {
    target: { type: 'string' },
    port: { type: 'string', default: '8081' },
    host: { type: 'string', default: '127.0.0.1' },
    'swap-all': { type: 'boolean' },
    'no-color': { type: 'boolean' },
  });
  if ('exit' in parsed) return parsed.exit;
  const { values } = parsed;
  if (values.target === undefined) {
    console.error('wirechat mitm: --target URL is required, e.g. npm run mitm -- --target http://localhost:8080');
    return 2;
  }
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65535) {
    console.error(`wirechat mitm: --port takes a port number, not "${values.port}"`);
    return 2;
  }
  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true;
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: interactive });
  const print = (line: string) => {
    if (interactive) printAbovePrompt(process.stdout, rl, line);
    else process.stdout.write(line + '\n');
  };
  let proxy: MitmProxy;
  try {
    proxy = new MitmProxy({
      target: values.target,
      port,
      host: values.host,
      swapAll: values['swap-all'] ?? false,
      log: print,
      color: wantColour(values['no-color'], process.env, process.stdout.isTTY === true),
    });
    await proxy.listen();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    console.error(
      code === 'EADDRINUSE'
        ? `wirechat mitm: port ${port} is already in use; pick another with --port`
        : `wirechat mitm: ${(error as Error).message}`,
    );
    rl.close();
    return code === 'EADDRINUSE' ? 1 : 2;
  }
  rl.setPrompt('mitm> ');
  print(
    [
      'wirechat man-in-the-middle',
      `  open        ${proxy.url}  (instead of the server's own address)`,
      `  target      ${new URL(values.target).origin}  (its page, and its /ws for the chat)`,
      `  swap-all    ${values['swap-all'] ? "on: every hello gets the proxy's key" : 'off'}`,
      '  commands    flip [up|down] [token|mac], replay, swap, close [CODE] [REASON], help, quit',
    ].join('\n'),
  );
  void proxy.ready().then(
    (hash) => print(`  own key     RSA-OAEP 3072, sha256 ${hash}: ready for swap`),
    (error: unknown) => print(`  own key     could not be made: ${(error as Error).message}`),
  );
  if (interactive) rl.prompt();
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      rl.close();
      void proxy.close().then(() => resolve(0));
    };
    rl.on('line', (line) => {
      if (proxy.command(line) === 'quit') stop();
      else if (interactive) rl.prompt();
    });
    rl.on('SIGINT', stop);
    rl.on('close', () => {
      if (!interactive && !stopping) print('(stdin closed; the proxy keeps running: Ctrl-C or SIGTERM stops it)');
    });
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

runAsCommand(import.meta.url, main);
