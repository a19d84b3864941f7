/**
 * The server's command line. Every limit the relay enforces has a flag and a default here, so that a reader of
 * `--help` sees the whole attack surface's settings in one place.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { nameProblem, normalizeName } from '../shared/names.ts';
import { LIMITS } from '../shared/protocol.ts';
import { chatNameProblem, DEFAULT_CHAT } from './broker/keys.ts';
import { parseRedisUrl } from './broker/redis-url.ts';
import { parseFlags, UsageError, wholeNumber as integer } from './command-line.ts';
import { wantColour } from './terminal.ts';

export interface ServerOptions {
  port: number;
  host: string;
  plain: boolean;
  /** The console operator's name on every line they send. */
  name: string;
  identity: string;
  allowOrigins: string[];
  maxConnections: number;
  maxPayload: number;
  handshakeTimeoutMs: number;
  /** Chat lines a connection may send per second, on average, and in one burst. */
  rate: number;
  burst: number;
  heartbeatMs: number;
  /** Bytes queued to one slow reader before it is dropped. */
  maxBuffered: number;
  /** A chat line's length in UTF-8 bytes; at most the protocol's own limit, which pages enforce before sending. */
  maxLine: number;
  /** Connections from one address (an IPv4 address or an IPv6 /64), and how many of them may be in their handshake. */
  maxPerAddress: number;
  maxPendingPerAddress: number;
  /** New connections a second from one address, on average, and in one burst. */
  handshakeRate: number;
  handshakeBurst: number;
  /** Joins and leaves are announced to the tabs together, at most once per this many milliseconds. */
  presenceIntervalMs: number;
  build: boolean;
  color: boolean;
  /** HTTPS and WSS on the same port (--tls, or implied by --tls-cert and --tls-key). */
  tls: boolean;
  /** A certificate and key to use instead of the self-signed one kept beside the identity key. */
  tlsCert?: string;
  tlsKey?: string;
  /** Where to append the TLS session secrets (NSS key log format), for Wireshark. */
  tlsKeylog?: string;
  /** Many relays, one chat (docs/cluster.md): the Redis every relay of the chat shares, as given. */
  redis?: string;
  /** Which chat in that Redis (several can share one). */
  chat: string;
  /** With --redis: this many relay processes on this machine, sharing the port (node:cluster). */
  workers?: number;
  /** The chat log's SQLite file (--history); the log stays in memory without it (docs/history.md). */
  history?: string;
  /** Retention, in memory and on disk: the newest this many lines, none older than this many minutes. */
  historyLines: number;
  historyMinutes: number;
  /** The key that seals the log at rest and the resume secrets; beside the identity key unless given. */
  chatKey?: string;
}

export const DEFAULTS: ServerOptions = {
  port: 8080,
  host: 'localhost',
  plain: false,
  name: 'console',
  identity: join(homedir(), '.wirechat', 'identity.jwk'),
  allowOrigins: [],
  maxConnections: 1000,
  maxPayload: 64 * 1024,
  handshakeTimeoutMs: 10_000,
  rate: 20,
  burst: 40,
  heartbeatMs: 30_000,
  maxBuffered: 1024 * 1024,
  maxLine: LIMITS.maxLineBytes,
  maxPerAddress: 64,
  maxPendingPerAddress: 8,
  handshakeRate: 10,
  handshakeBurst: 30,
  presenceIntervalMs: 250,
  build: true,
  color: true,
  tls: false,
  chat: DEFAULT_CHAT,
  historyLines: 10_000,
  historyMinutes: 60,
};

export const HELP = `wirechat server: an encrypted chat between browser tabs and this terminal, over WebSocket.

usage: npm run server -- [options]

  --port N               HTTP and WebSocket port (default ${DEFAULTS.port}, or $PORT)
  --host NAME            interface to listen on (default ${DEFAULTS.host}: this machine only; 0.0.0.0 for every
                         interface, with --tls so that other machines can chat)
  --plain                send chat lines unencrypted, to compare captures in Wireshark (pages must opt in)
  --name NAME            your name on the lines you type (default "${DEFAULTS.name}")
  --identity PATH        the server's signing key, made on first run (default ~/.wirechat/identity.jwk)
  --allow-origin ORIGIN  also accept pages from ORIGIN, and its host as a name for this server (repeatable;
                         same origin is always accepted)
  --max-connections N    connections at once; beyond it new ones close with 1013 (default ${DEFAULTS.maxConnections})
  --max-payload BYTES    largest WebSocket message accepted; larger closes with 1009 (default ${DEFAULTS.maxPayload})
  --handshake-timeout MS time a connection has to finish the handshake, and an HTTP request to arrive
                         whole, else 408 (default ${DEFAULTS.handshakeTimeoutMs})
  --rate N               chat lines per second per connection, on average (default ${DEFAULTS.rate})
  --burst N              chat lines a connection may send at once (default ${DEFAULTS.burst})
  --heartbeat MS         ping interval; a peer silent for two intervals is dropped (default ${DEFAULTS.heartbeatMs})
  --max-buffered BYTES   bytes queued to a slow reader before it is dropped (default ${DEFAULTS.maxBuffered})
  --max-line BYTES       longest chat line in UTF-8 bytes; longer ones get a "not sent" receipt
                         (default and most ${LIMITS.maxLineBytes}, the protocol's limit)
  --max-per-address N    connections at once from one address (an IPv4 address, or an IPv6 /64); beyond it
                         new ones close with 1013 (default ${DEFAULTS.maxPerAddress}); TCP connections of any kind
                         (page loads too) from one address are capped at 4 times N, beyond it closed unanswered
  --max-pending-per-address N
                         of those, connections still in their handshake (default ${DEFAULTS.maxPendingPerAddress})
  --handshake-rate N     new connections per second from one address, on average; beyond it HTTP 429
                         (default ${DEFAULTS.handshakeRate})
  --handshake-burst N    new connections from one address at once (default ${DEFAULTS.handshakeBurst})
                         Behind a reverse proxy every tab comes from the proxy's address: raise these four
                         (X-Forwarded-For is not trusted) and limit each client at the proxy
  --presence-interval MS joins and leaves go to the tabs together, at most once per MS (default ${DEFAULTS.presenceIntervalMs})
  --tls                  serve the page and the chat over HTTPS/WSS, so other machines get Web Crypto; with no
                         certificate given, a self-signed one is made and kept beside the identity key
                         (~/.wirechat/tls-cert.pem, tls-key.pem) and renewed when it expires or the names change
  --tls-cert FILE        use this certificate (PEM, e.g. from mkcert) instead; needs --tls-key, implies --tls
  --tls-key FILE         the certificate's private key (PEM)
  --tls-keylog FILE      append the TLS session secrets to FILE (NSS key log format) so that Wireshark can
                         decrypt a capture; whoever holds FILE can read the TLS layer
  --redis URL            many relays, one chat: join the chat kept in this Redis (docs/cluster.md);
                         redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], or rediss:// for TLS. Every relay of the
                         chat needs the same --identity file and the chat key beside it (chat.key)
  --chat NAME            which chat in that Redis, so that several share one (default "${DEFAULTS.chat}")
  --workers N            with --redis: start N relay processes sharing this port, one per core (1 to 64); this
                         console is the chat's, and shows what each worker reports. A worker that stops is
                         started again; one that keeps stopping within 10 s of its start is retried after
                         1, 2 and 4 s, then given up; with no worker left the server exits 1
  --history PATH         keep the chat log in this SQLite file, so that after a crash or restart the tabs get
                         back what they missed (made on first use; without it the log is kept in memory)
  --history-lines N      the log keeps the newest N lines (default ${DEFAULTS.historyLines})
  --history-minutes M    and none older than M minutes (default ${DEFAULTS.historyMinutes}); a tab away longer is
                         told how many lines it missed
  --chat-key PATH        the key that seals the history file and the tabs' resume secrets, made on first use
                         (default chat.key beside the identity key)
  --no-build             serve dist/ as it is; do not rebuild the page when sources are newer
  --no-color             no ANSI colours on the console (also when NO_COLOR is set)
  -h, --help             this text

In the console: type a line and Enter to send it to every tab. /help lists commands.
EXIT or END ends the chat for everyone and stops the server.`;

/** Returns the options, or 'help' when help was asked for. Throws UsageError with a message for a person. */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): ServerOptions | 'help' {
  const flags = parseFlags(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    plain: { type: 'boolean' },
    name: { type: 'string' },
    identity: { type: 'string' },
    'allow-origin': { type: 'string', multiple: true },
    'max-connections': { type: 'string' },
    'max-payload': { type: 'string' },
    'handshake-timeout': { type: 'string' },
    rate: { type: 'string' },
    burst: { type: 'string' },
    heartbeat: { type: 'string' },
    'max-buffered': { type: 'string' },
    'max-line': { type: 'string' },
    'max-per-address': { type: 'string' },
    'max-pending-per-address': { type: 'string' },
    'handshake-rate': { type: 'string' },
    'handshake-burst': { type: 'string' },
    'presence-interval': { type: 'string' },
    'no-build': { type: 'boolean' },
    'no-color': { type: 'boolean' },
    tls: { type: 'boolean' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-keylog': { type: 'string' },
    redis: { type: 'string' },
    chat: { type: 'string' },
    workers: { type: 'string' },
    history: { type: 'string' },
    'history-lines': { type: 'string' },
    'history-minutes': { type: 'string' },
    'chat-key': { type: 'string' },
  });
  if (flags === 'help') return 'help';
  const { values } = flags;
  // The console's name goes on every line it sends, and pages refuse a line whose sender breaks the name rules
  // (shared/names.ts). The reserved names are not refused here: `--name server` is the operator's to choose.
  const badName = values.name === undefined ? undefined : nameProblem(values.name);
  if (badName) throw new UsageError(`--name: ${badName}`);
  const origins = values['allow-origin'] ?? [];
  for (const origin of origins) {
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      throw new UsageError(`--allow-origin takes an origin like https://example.org, not "${origin}"`);
    }
    if (parsed.origin !== origin)
      throw new UsageError(`--allow-origin takes an origin (${parsed.origin}), not "${origin}"`);
  }
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together: the certificate and its private key');
  }
  const tls = values.tls === true || values['tls-cert'] !== undefined;
  if (values['tls-keylog'] !== undefined && !tls)
    throw new UsageError('--tls-keylog needs --tls (there is no TLS to log without it)');
  for (const flag of ['tls-cert', 'tls-key', 'tls-keylog', 'history', 'chat-key'] as const) {
    if (values[flag] === '') throw new UsageError(`--${flag} takes a file name`);
  }
  const cluster = clusterOptions(values.redis, values.chat, values.workers);
  if (values.redis !== undefined && values.history !== undefined) {
    throw new UsageError('--history keeps the log in a file of one server; with --redis the chat log is in Redis');
  }
  return {
    port: integer(values.port ?? env.PORT, '--port', DEFAULTS.port, 0, 65535),
    host: values.host ?? DEFAULTS.host,
    plain: values.plain ?? false,
    name: values.name === undefined ? DEFAULTS.name : normalizeName(values.name),
    identity: values.identity ?? env.WIRECHAT_IDENTITY ?? DEFAULTS.identity,
    allowOrigins: origins,
    maxConnections: integer(values['max-connections'], '--max-connections', DEFAULTS.maxConnections, 1, 1_000_000),
    maxPayload: integer(values['max-payload'], '--max-payload', DEFAULTS.maxPayload, 1024, 16 * 1024 * 1024),
    handshakeTimeoutMs: integer(
      values['handshake-timeout'],
      '--handshake-timeout',
      DEFAULTS.handshakeTimeoutMs,
      100,
      600_000,
    ),
    rate: integer(values.rate, '--rate', DEFAULTS.rate, 1, 1_000_000),
    burst: integer(values.burst, '--burst', DEFAULTS.burst, 1, 1_000_000),
    heartbeatMs: integer(values.heartbeat, '--heartbeat', DEFAULTS.heartbeatMs, 100, 3_600_000),
    maxBuffered: integer(values['max-buffered'], '--max-buffered', DEFAULTS.maxBuffered, 1024, 1024 * 1024 * 1024),
    maxLine: integer(values['max-line'], '--max-line', DEFAULTS.maxLine, 1, LIMITS.maxLineBytes),
    maxPerAddress: integer(values['max-per-address'], '--max-per-address', DEFAULTS.maxPerAddress, 1, 1_000_000),
    maxPendingPerAddress: integer(
      values['max-pending-per-address'],
      '--max-pending-per-address',
      DEFAULTS.maxPendingPerAddress,
      1,
      1_000_000,
    ),
    handshakeRate: integer(values['handshake-rate'], '--handshake-rate', DEFAULTS.handshakeRate, 1, 1_000_000),
    handshakeBurst: integer(values['handshake-burst'], '--handshake-burst', DEFAULTS.handshakeBurst, 1, 1_000_000),
    presenceIntervalMs: integer(
      values['presence-interval'],
      '--presence-interval',
      DEFAULTS.presenceIntervalMs,
      0,
      60_000,
    ),
    build: !values['no-build'],
    color: wantColour(values['no-color'], env),
    tls,
    ...(values['tls-cert'] !== undefined ? { tlsCert: values['tls-cert'], tlsKey: values['tls-key'] } : {}),
    ...(values['tls-keylog'] !== undefined ? { tlsKeylog: values['tls-keylog'] } : {}),
    ...cluster,
    ...(values.history !== undefined ? { history: values.history } : {}),
    historyLines: integer(values['history-lines'], '--history-lines', DEFAULTS.historyLines, 1, 10_000_000),
    historyMinutes: integer(values['history-minutes'], '--history-minutes', DEFAULTS.historyMinutes, 1, 525_600),
    ...(values['chat-key'] !== undefined ? { chatKey: values['chat-key'] } : {}),
  };
}

/** --redis, --chat and --workers, checked together: a URL Redis can be reached by, a chat name, workers only with Redis. */
function clusterOptions(
  redis: string | undefined,
  chat: string | undefined,
  workers: string | undefined,
): Pick<ServerOptions, 'redis' | 'chat' | 'workers'> {
  if (redis !== undefined) {
    try {
      parseRedisUrl(redis);
    } catch (error) {
      // parseRedisUrl's messages name --redis and show the URL redacted: a password is never echoed.
      throw new UsageError((error as Error).message);
    }
  }
  if (chat !== undefined) {
    if (redis === undefined) throw new UsageError('--chat names a chat in Redis: it needs --redis');
    const problem = chatNameProblem(chat);
    if (problem) throw new UsageError(`--chat: ${problem}`);
  }
  if (workers !== undefined && redis === undefined) {
    throw new UsageError('--workers needs --redis: relay processes share one chat through Redis');
  }
  return {
    chat: chat ?? DEFAULTS.chat,
    ...(redis !== undefined ? { redis } : {}),
    ...(workers !== undefined ? { workers: integer(workers, '--workers', 1, 1, 64) } : {}),
  };
}
