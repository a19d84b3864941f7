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
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { createInterface } from 'node:readline';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { concat, fromBase64Url, fromUtf8, toBase64Url, toHex } from '../shared/bytes.ts';
import { closeReason, isWirechatError } from '../shared/errors.ts';
import { createFernet, encodeFernetKey, type Fernet } from '../shared/fernet.ts';
import {
  exportSpki,
  generateClientKeyPair,
  importClientPublicKey,
  unwrapSessionSecret,
  wrapSessionSecret,
} from '../shared/handshake.ts';
import { closeMeaning, describeFrame, DIRECTION_LABEL, preview, shortHash, type Direction } from './wire-format.ts';
import { commandLine, runAsCommand } from '../server/command-line.ts';

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

export type Way = 'up' | 'down';
export type FlipField = 'token' | 'mac';

const WAY_DIRECTION: Record<Way, Direction> = { up: 'c2s', down: 's2c' };

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

/** One frame as it passed the proxy. */
export interface PassedFrame {
  connection: number;
  way: Way;
  /** The wirechat frame type, or "?" (or "binary"). */
  type: string;
  bytes: number;
  /** What the proxy did to it, if anything. */
  tampered?: 'flip' | 'swap' | 'rewrap';
}

export interface StolenKeys {
  connection: number;
  /** The 44-character Fernet key, as any Fernet library takes it. */
  fernetKey: string;
  /** The record MAC key, hex. */
  macKey: string;
}

export interface ClosedLeg {
  connection: number;
  /** Who closed: the page's or the server's side of the proxy. */
  by: 'page' | 'server';
  code: number;
  reason: string;
}

interface Link {
  id: number;
  page: WebSocket;
  server: WebSocket;
  /** Frames are handled one at a time per direction, in arrival order (swap awaits RSA). */
  queue: Record<Way, Promise<void>>;
  /** Set when the hello was swapped: the page's own public key, for re-wrapping. */
  pageKey?: string;
  /** Set when the keys were stolen: records on this connection can be read. */
  fernet?: Fernet;
  ended: boolean;
}

const RED = '\x1b[31m';
const YELLOW = '\x1b[33m';
const DIM = '\x1b[2m';
const BOLD = '\x1b[1m';
const RESET = '\x1b[0m';

function stamp(): string {
  const d = new Date();
  return `${d.toTimeString().slice(0, 8)}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** The error code a close reason names ("RECORD_BAD_MAC: ..." from the server, "1008 RECORD_BAD_MAC: ..." from a page). */
export function reasonCode(reason: string): string | undefined {
  return /^(?:\d{4} )?([A-Z][A-Z0-9_]+)(?::|$)/.exec(reason)?.[1];
}

/** Close codes ws may send; the others (1005, 1006, 1015) are only ever reported, never sent. */
function sendable(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

export class MitmProxy {
  readonly frames: PassedFrame[] = [];
  readonly stolen: StolenKeys[] = [];
  readonly closes: ClosedLeg[] = [];
  readonly #options: MitmOptions;
  readonly #target: URL;
  readonly #wsTarget: string;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #links = new Set<Link>();
  readonly #ownKey: Promise<{ keyPair: CryptoKeyPair; spki: string }>;
  #nextId = 1;
  #flip: { way: Way | 'any'; field: FlipField } | undefined;
  #swapNext = false;
  #lastUp: { link: Link; data: string; seq: unknown } | undefined;
  /** The forged close, and how many connections still to come get it as soon as they open. */
  #forged: { code: number; reason: string; next: number } | undefined;
  port = 0;

  constructor(options: MitmOptions) {
    this.#options = options;
    this.#target = new URL(options.target);
    if (this.#target.protocol !== 'http:' && this.#target.protocol !== 'https:') {
      throw new Error(`--target is the server's http:// or https:// address, not ${options.target}`);
    }
    this.#wsTarget = `${this.#target.protocol === 'https:' ? 'wss' : 'ws'}://${this.#target.host}/ws`;
    this.#ownKey = generateClientKeyPair(options.modulusLength).then(async (keyPair) => ({
      keyPair,
      spki: toBase64Url(await exportSpki(keyPair.publicKey)),
    }));
    this.#ownKey.catch(() => undefined);
    this.#wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    this.#http = createServer((req, res) => this.#forwardHttp(req, res));
    this.#http.on('upgrade', (req, socket, head) => this.#upgrade(req, socket, head));
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
  async ready(): Promise<string> {
    return shortHash((await this.#ownKey).spki);
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
    this.#flip = { way, field };
    const where = way === 'any' ? 'either way' : DIRECTION_LABEL[WAY_DIRECTION[way]];
    return this.#say('attack', `armed: the next record ${where} gets one bit of its ${field} flipped`);
  }

  /** Re-sends the last page -> server record to the server. */
  replay(): string {
    const last = this.#lastUp;
    if (last === undefined) return this.#say('attack', 'nothing to replay: no page has sent a record yet');
    if (last.link.server.readyState !== WebSocket.OPEN) {
      return this.#say('attack', `nothing to replay: connection #${last.link.id} has ended`);
    }
    const said = this.#say('attack', `#${last.link.id} REPLAY: record seq ${String(last.seq)} goes to the server a second time:`);
    last.link.server.send(last.data);
    this.#record(last.link, 'up', 'record', Buffer.byteLength(last.data));
    this.#print(last.link, 'up', last.data);
    return said;
  }

  /** Arms the key swap for the next hello. */
  swap(): string {
    this.#swapNext = true;
    return this.#say('attack', 'armed: the next hello gets the proxy\'s public key instead of the page\'s');
  }

  /**
   * Forges a close frame with `code` and `reason` to the page of every open connection, and closes the server's
   * side with 1001. With `next`, that many connections opened later get it too as soon as they open, before their
   * handshake (enough of them in a row make the page stop retrying by itself and wait for its person).
   */
  forgeClose(code = 1000, reason = '', next = 0): string {
    if (!sendable(code)) return this.#say('note', `close takes a code a WebSocket may send (1000-1003, 1007-1014, 3000-4999), not ${code}`);
    this.#forged = { code, reason: closeReason(reason), next };
    const open = [...this.#links].filter((link) => !link.ended);
    for (const link of open) this.#forge(link);
    const later = next > 0 ? `; the next ${next} connection${next === 1 ? '' : 's'} too, as they open` : '';
    return this.#say('attack', `forged close ${code} (${closeMeaning(code)}) sent to ${open.length} page${open.length === 1 ? '' : 's'}${later}`);
  }

  #forge(link: Link): void {
    const forged = this.#forged;
    if (forged === undefined) return;
    link.ended = true;
    this.#say(
      'attack',
      `#${link.id} FORGED CLOSE to the page: ${forged.code} (${closeMeaning(forged.code)})${forged.reason ? ` "${preview(forged.reason, 120)}"` : ''}; the server's side gets 1001`,
    );
    link.page.close(forged.code, forged.reason);
    link.server.close(1001, 'the man in the middle hung up');
    for (const ws of [link.page, link.server]) setTimeout(() => ws.terminate(), 1000).unref();
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
            this.#say('note', `flip takes up or down and token or mac, not "${preview(word, 16)}"`);
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
          this.#say('note', `close takes a close code first, not "${preview(code ?? '', 16)}"`);
          return undefined;
        }
        this.forgeClose(number, said.join(' ').replace(/\\u([0-9a-fA-F]{4})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))));
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
        this.#say('note', `unknown command "${preview(verb, 16)}"; help lists them`);
        return undefined;
    }
  }

  // ---- HTTP: the page -------------------------------------------------------------------------------------------

  #forwardHttp(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('the proxy forwards GET and HEAD only\n');
      return;
    }
    const url = new URL(req.url ?? '/', this.#target);
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
      this.#options.log?.(this.#paint(DIM, `[${stamp()}] http ${req.method} ${preview(url.pathname, 60)} -> ${answer.statusCode}`));
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
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/ws') {
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
    this.#options.log?.(this.#paint(DIM, `[${stamp()}] #${id} a page connected; relaying to ${this.#wsTarget}`));
    page.on('message', (data, isBinary) => this.#enqueue(link, 'up', data, isBinary));
    server.on('message', (data, isBinary) => this.#enqueue(link, 'down', data, isBinary));
    page.on('close', (code, reason) => this.#closed(link, 'page', code, reason.toString()));
    server.on('close', (code, reason) => this.#closed(link, 'server', code, reason.toString()));
    page.on('error', () => undefined);
    server.on('error', () => undefined);
    if (this.#forged !== undefined && this.#forged.next > 0) {
      this.#forged.next--;
      this.#forge(link);
    }
  }

  #enqueue(link: Link, way: Way, data: RawData, isBinary: boolean): void {
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    link.queue[way] = link.queue[way]
      .then(() => this.#pass(link, way, bytes, isBinary))
      .catch((error: unknown) => {
        this.#say('note', `#${link.id} the proxy failed on a frame: ${(error as Error)?.message ?? String(error)}`);
      });
  }

  async #pass(link: Link, way: Way, bytes: Buffer, isBinary: boolean): Promise<void> {
    const to = way === 'up' ? link.server : link.page;
    if (isBinary) {
      this.#record(link, way, 'binary', bytes.length);
      this.#options.log?.(`[${stamp()}] #${link.id} ${DIRECTION_LABEL[WAY_DIRECTION[way]].padEnd(14)} ${String(bytes.length).padStart(6)} B  binary`);
      if (to.readyState === WebSocket.OPEN) to.send(bytes, { binary: true });
      return;
    }
    const original = bytes.toString('utf8');
    let data = original;
    const notes: string[] = [];
    let tampered: PassedFrame['tampered'];
    let frame: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(original);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) frame = parsed as Record<string, unknown>;
    } catch {
      // not JSON: relayed as it is; the receiver refuses it
    }

    if (frame?.type === 'hello' && way === 'up' && (this.#options.swapAll || this.#swapNext)) {
      this.#swapNext = false;
      const own = await this.#ownKey;
      link.pageKey = typeof frame.publicKey === 'string' ? frame.publicKey : '';
      frame.publicKey = own.spki;
      data = JSON.stringify(frame);
      tampered = 'swap';
      notes.push(`SWAP: the page's public key (sha256 ${shortHash(link.pageKey)}) replaced by the proxy's (sha256 ${shortHash(own.spki)})`);
    }

    if (frame?.type === 'welcome' && way === 'down' && link.pageKey !== undefined) {
      const stolen = await this.#steal(link, frame, notes);
      if (stolen) {
        data = JSON.stringify(frame);
        tampered = 'rewrap';
      }
    }

    if (frame?.type === 'record') {
      if (link.fernet !== undefined && typeof frame.token === 'string') {
        try {
          const plaintext = fromUtf8(await link.fernet.decrypt(frame.token));
          notes.push(`READ with the stolen keys: ${preview(plaintext, 200)}`);
        } catch (error) {
          notes.push(`the stolen keys do not open it (${isWirechatError(error) ? error.code : String(error)})`);
        }
      }
      const flip = this.#flip;
      if (flip !== undefined && (flip.way === 'any' || flip.way === way)) {
        this.#flip = undefined;
        notes.push(flipBit(frame, flip.field));
        data = JSON.stringify(frame);
        tampered = 'flip';
      }
      if (way === 'up') this.#lastUp = { link, data: original, seq: frame.seq };
    }

    this.#record(link, way, frame === undefined ? '?' : describeFrame(original).type, Buffer.byteLength(original), tampered);
    this.#print(link, way, original);
    for (const note of notes) this.#say('attack', `#${link.id} ${note}`);
    if (data !== original && tampered !== 'flip') this.#say('attack', `#${link.id} passed on instead: ${describeFrame(data).text}`);
    if (to.readyState === WebSocket.OPEN) to.send(data);
  }

  /** The swap's second half: unwrap with the proxy's key, print, re-wrap for the page. Edits `welcome` in place. */
  async #steal(link: Link, welcome: Record<string, unknown>, notes: string[]): Promise<boolean> {
    if (welcome.mode !== 'secure' || typeof welcome.wrappedKeys !== 'string' || welcome.wrappedKeys === '') {
      notes.push('a plain welcome: there are no session keys to steal (and plain mode hides nothing anyway)');
      return false;
    }
    const own = await this.#ownKey;
    try {
      const { fernetKey, macKey } = await unwrapSessionSecret(own.keyPair.privateKey, fromBase64Url(welcome.wrappedKeys));
      const stolen = { connection: link.id, fernetKey: encodeFernetKey(fernetKey), macKey: toHex(macKey) };
      this.stolen.push(stolen);
      notes.push(`STOLEN session keys (the server wrapped them for the proxy's key): fernet key ${stolen.fernetKey}  mac key ${stolen.macKey}`);
      link.fernet = await createFernet(fernetKey.slice());
      const pageKey = await importClientPublicKey(fromBase64Url(link.pageKey ?? ''));
      welcome.wrappedKeys = toBase64Url(await wrapSessionSecret(pageKey, concat(fernetKey, macKey)));
      notes.push(
        're-wrapped them for the page\'s own key; but the server\'s signature covers the proxy\'s key, not the page\'s, ' +
          'so the page should refuse this welcome (HANDSHAKE_BAD_SIGNATURE)',
      );
      return true;
    } catch (error) {
      notes.push(`could not steal the keys: ${(error as Error)?.message ?? String(error)}`);
      return false;
    }
  }

  #closed(link: Link, by: 'page' | 'server', code: number, reason: string): void {
    this.closes.push({ connection: link.id, by, code, reason });
    const who = by === 'page' ? 'the page' : 'the server';
    if (link.ended) {
      // The answer to the close the proxy passed on: the connection is over on both sides.
      this.#options.log?.(this.#paint(DIM, `[${stamp()}] #${link.id} ${who} answered the close (${code}); connection #${link.id} is over`));
    } else {
      link.ended = true;
      const caught = reasonCode(reason);
      const verdict = caught !== undefined && code !== 1000 && code !== 1001 ? `  => ${who} caught it: ${caught}` : '';
      this.#options.log?.(
        this.#paint(
          verdict ? YELLOW : DIM,
          `[${stamp()}] #${link.id} ${who} closed: ${code} (${closeMeaning(code)})${reason ? ` "${preview(reason, 120)}"` : ''}${verdict}`,
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
    if (link.page.readyState === WebSocket.CLOSED && link.server.readyState === WebSocket.CLOSED) this.#links.delete(link);
  }

  #record(link: Link, way: Way, type: string, bytes: number, tampered?: PassedFrame['tampered']): void {
    this.frames.push({ connection: link.id, way, type, bytes, ...(tampered ? { tampered } : {}) });
  }

  #print(link: Link, way: Way, data: string): void {
    const summary = describeFrame(data).text;
    this.#options.log?.(
      `[${stamp()}] #${link.id} ${DIRECTION_LABEL[WAY_DIRECTION[way]].padEnd(14)} ${String(Buffer.byteLength(data)).padStart(6)} B  ${summary}`,
    );
  }

  #say(kind: 'attack' | 'note', text: string): string {
    this.#options.log?.(this.#paint(kind === 'attack' ? RED : BOLD, `[${stamp()}] ${kind === 'attack' ? '!! ' : ''}${text}`));
    return text;
  }

  #paint(color: string, text: string): string {
    return this.#options.color ? `${color}${text}${RESET}` : text;
  }
}

/** Where two spellings of a value first differ, shown as a few characters of each around that place. */
function changedAt(before: string, after: string): string {
  let i = 0;
  while (i < before.length && before[i] === after[i]) i++;
  const from = Math.max(0, i - 4);
  return `character ${i}: ...${before.slice(from, i + 5)}... is now ...${after.slice(from, i + 5)}...`;
}

/** Flips the lowest bit of the first ciphertext byte of the token (or of the mac's first byte). Edits `frame`. */
export function flipBit(frame: Record<string, unknown>, field: FlipField): string {
  const value = frame[field];
  if (typeof value !== 'string' || value.length === 0) return `FLIP: the record has no ${field} to flip`;
  let flipped: string;
  let what: string;
  try {
    const bytes = fromBase64Url(value);
    // Byte 25 of a token is its first ciphertext byte (after version, timestamp and IV); byte 0 of a mac.
    const at = field === 'token' ? Math.min(25, bytes.length - 1) : 0;
    bytes[at]! ^= 0x01;
    flipped = toBase64Url(bytes, field === 'token');
    what = `bit 0 of byte ${at}${field === 'token' && at === 25 ? ' (the first ciphertext byte)' : ''}`;
  } catch {
    // Not base64url: change one character instead; the receiver refuses the frame either way.
    const i = Math.floor(value.length / 2);
    flipped = value.slice(0, i) + (value[i] === 'A' ? 'B' : 'A') + value.slice(i + 1);
    what = 'one character';
  }
  frame[field] = flipped;
  return `FLIP: ${what} of record seq ${String(frame.seq)}'s ${field}, still well formed; ${changedAt(value, flipped)}`;
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
    if (interactive) {
      process.stdout.write('\r\x1b[K' + line + '\n');
      rl.prompt(true);
    } else process.stdout.write(line + '\n');
  };
  let proxy: MitmProxy;
  try {
    proxy = new MitmProxy({
      target: values.target,
      port,
      host: values.host,
      swapAll: values['swap-all'] ?? false,
      log: print,
      color: !values['no-color'] && process.env.NO_COLOR === undefined && process.stdout.isTTY === true,
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
      `  swap-all    ${values['swap-all'] ? 'on: every hello gets the proxy\'s key' : 'off'}`,
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
