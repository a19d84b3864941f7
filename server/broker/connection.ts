/**
 * The relay's connections to Redis, through node-redis (`@redis/client`, the core of the `redis` package; why
 * this client and not ioredis: the commit that added it, and docs/cluster.md).
 *
 * - **At the start**, a Redis that cannot be reached, refuses the password, fails the TLS handshake or is too old
 *   is a `BrokerError` at once, with a message that says what to do; never a retry loop that hangs the start.
 * - **While running**, a lost connection is retried for ever (backoff to 2 s); the connection emits `down` once,
 *   when it is first lost, and `up` once it is back. Commands made meanwhile fail at once (no hidden offline
 *   queue: `disableOfflineQueue`), and commands in flight when the socket broke are rejected, never sent again
 *   by the library, because Redis may have run them: what must reach Redis is kept and retried by the broker's
 *   own bounded queue, where retrying is safe (server/broker/outbox.ts).
 *
 * One `RedisConnection` holds one command client; `open()` gives more clients with the same rules for what must
 * not share it (a blocking XREAD, a subscriber).
 */
import { EventEmitter } from 'node:events';
import { createClient, ErrorReply } from '@redis/client';
import { BrokerError, reasonOf } from './errors.ts';
import { parseRedisUrl, scrubPassword, type RedisTarget } from './redis-url.ts';

/** What a relay needs of Redis: XTRIM/XADD with MINID (6.2), HELLO 3 (6.0). */
export const MIN_REDIS_VERSION = [6, 2] as const;

export type RedisClient = ReturnType<typeof createRedisClient>;

export interface ConnectOptions {
  /** Shown by `CLIENT LIST` on the Redis side ("wirechat-relay-..."); letters, digits, `-` and `_` only. */
  name?: string;
  /** Certificates to trust for `rediss://` besides the system's (PEM); NODE_EXTRA_CA_CERTS works too. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** How long the TCP (and TLS) connection may take at the start and at each reconnection; 5 s by default. */
  connectTimeoutMs?: number;
  /** The longest wait between two reconnection attempts; 2 s by default. */
  maxReconnectDelayMs?: number;
}

export interface ServerInfo {
  version: string;
  /** `appendonly` and `appendfsync` as the server reports them, or null where CONFIG is not allowed. */
  appendonly: string | null;
  appendfsync: string | null;
  /** `maxmemory-policy`, or null: anything but noeviction may drop a relay's keys under memory pressure. */
  evictionPolicy: string | null;
}

function createRedisClient(
  target: RedisTarget,
  options: ConnectOptions,
  strategy: (retries: number) => number | false,
) {
  const socket = {
    host: target.host,
    port: target.port,
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    reconnectStrategy: strategy,
    ...(target.tls ? { tls: true as const, ...(options.ca === undefined ? {} : { ca: options.ca }) } : {}),
  };
  return createClient({
    socket,
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password }),
    ...(target.database === 0 ? {} : { database: target.database }),
    ...(options.name === undefined ? {} : { name: options.name }),
    RESP: 3,
    disableOfflineQueue: true,
  });
}

/** One client and its state: refused at its first failure until it was once ready, retried for ever after. */
class Link extends EventEmitter {
  readonly client: RedisClient;
  #ready = false;
  #up = false;
  #closing = false;

  constructor(target: RedisTarget, options: ConnectOptions) {
    super();
    const maxDelay = options.maxReconnectDelayMs ?? 2_000;
    this.client = createRedisClient(target, options, (retries) => {
      if (!this.#ready || this.#closing) return false;
      // Exponential from 50 ms, capped, with jitter so the relays of a chat do not all knock at once.
      return Math.min(maxDelay, 50 * 2 ** Math.min(retries, 10)) + Math.floor(Math.random() * 50);
    });
    this.client.on('error', (error: unknown) => {
      if (this.#up && !this.#closing) {
        this.#up = false;
        this.emit('down', error);
      }
    });
    this.client.on('ready', () => {
      if (this.#closing) return;
      const wasReady = this.#ready;
      this.#ready = true;
      this.#up = true;
      if (wasReady) this.emit('up');
    });
  }

  get up(): boolean {
    return this.#up;
  }

  async connect(target: RedisTarget, options: ConnectOptions): Promise<void> {
    try {
      await this.client.connect();
    } catch (error) {
      this.#closing = true;
      this.client.destroy();
      throw startError(error, target, options);
    }
  }

  /** Resolves when the client is ready again (at once when it is); rejects when it is closed meanwhile. */
  whenUp(): Promise<void> {
    if (this.#up) return Promise.resolve();
    if (this.#closing) return Promise.reject(new BrokerError('CLOSED', 'the connection to Redis is closed'));
    return new Promise((resolve, reject) => {
      const onUp = () => {
        this.off('closed', onClosed);
        resolve();
      };
      const onClosed = () => {
        this.off('up', onUp);
        reject(new BrokerError('CLOSED', 'the connection to Redis is closed'));
      };
      this.once('up', onUp);
      this.once('closed', onClosed);
    });
  }

  /**
   * `graceful`: let the replies in flight arrive first (at most CLOSE_MS); not for a client blocked in XREAD, nor
   * a Redis away.
   */
  async close(graceful = true): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#up = false;
    this.emit('closed');
    try {
      if (!(graceful && this.client.isReady && (await this.#drained()))) this.client.destroy();
    } catch {
      this.client.destroy();
    }
  }

  /**
   * @redis/client's close(): true once the replies in flight are in. It waits for them and for nothing else: a
   * connection lost meanwhile (Redis stopped or gone during a relay's shutdown) left it pending for good, and the
   * relay's shutdown with it. False when the connection fails first, or after CLOSE_MS.
   */
  #drained(): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const done = (drained: boolean) => {
        clearTimeout(timer);
        this.client.off('error', failed);
        resolve(drained);
      };
      const failed = () => done(false);
      const timer = setTimeout(failed, CLOSE_MS);
      this.client.on('error', failed);
      this.client.close().then(
        () => done(true),
        () => done(false),
      );
    });
  }
}

/** The longest a graceful close waits for the replies in flight. */
const CLOSE_MS = 2_000;

/** The first failure of a connection at the start, in words, as one of BrokerError's codes. */
function startError(error: unknown, target: RedisTarget, options: ConnectOptions): BrokerError {
  const where = `Redis at ${target.redacted}`;
  const code = (error as { code?: unknown } | null)?.code;
  const reason = scrubPassword(reasonOf(error), target);
  const make = (kind: ConstructorParameters<typeof BrokerError>[0], message: string) =>
    new BrokerError(kind, scrubPassword(message, target), { cause: error });
  if (error instanceof ErrorReply) {
    if (/^(WRONGPASS|NOAUTH)|invalid (username-)?password|AUTH.*without any password/i.test(error.message)) {
      return make(
        'AUTH_FAILED',
        `${where} refused the ${target.password === undefined ? 'connection without a password' : 'user name or password'} (${reason}); give the right one as redis://:PASSWORD@HOST:PORT`,
      );
    }
    if (/unknown command .?HELLO|NOPROTO/i.test(error.message)) {
      return make(
        'UNSUPPORTED',
        `${where} is too old for wirechat, which needs Redis ${MIN_REDIS_VERSION.join('.')} or newer (${reason})`,
      );
    }
    if (/DB index is out of range/i.test(error.message)) {
      return make(
        'REFUSED',
        `${where} has no database ${target.database} (${reason}); its databases are numbered from 0 to its "databases" setting - 1`,
      );
    }
    return make('REFUSED', `${where} refused the connection: ${reason}`);
  }
  if (typeof code === 'string') {
    if (code === 'ECONNREFUSED')
      return make(
        'UNREACHABLE',
        `cannot reach ${where}: connection refused; is redis-server running there? (start one with \`redis-server\`, or give --redis another URL)`,
      );
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      return make('UNREACHABLE', `cannot reach ${where}: there is no host called ${target.host}`);
    if (code === 'ECONNRESET' || code === 'EPIPE') {
      // The port answered, then hung up during the greeting: a TLS port spoken to in plain text does that.
      return make(
        'REFUSED',
        `${where} closed the connection before answering (${reason})${target.tls ? '' : '; if that port speaks TLS, write rediss://'}`,
      );
    }
    if (['ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'].includes(code)) {
      return make('UNREACHABLE', `cannot reach ${where}: ${reason}`);
    }
    if (/CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|ERR_SSL|HOSTNAME|ALTNAME/.test(code)) {
      return make(
        'TLS_FAILED',
        `the TLS handshake with ${where} failed: ${reason}; give the certificate that signed its certificate (NODE_EXTRA_CA_CERTS=ca.pem), and check the host name is in its certificate`,
      );
    }
  }
  const name = (error as Error | null)?.constructor?.name ?? '';
  if (name === 'ConnectionTimeoutError') {
    // A plain Redis port holds a TLS greeting as a half-read command and never answers it.
    const hint = target.tls ? '; if that port is not a TLS port, write redis:// (rediss:// is TLS)' : '';
    return make(
      'UNREACHABLE',
      `cannot reach ${where}: no answer in ${(options.connectTimeoutMs ?? 5_000) / 1000} s${hint}`,
    );
  }
  if (target.tls && /SSL|TLS|wrong version number|packet length/i.test(reason)) {
    return make(
      'TLS_FAILED',
      `the TLS handshake with ${where} failed: ${reason}; is it a TLS port? (redis:// is plain, rediss:// is TLS)`,
    );
  }
  if (name === 'SocketClosedUnexpectedlyError' || /closed unexpectedly/i.test(reason)) {
    return make(
      'REFUSED',
      `${where} closed the connection before answering${target.tls ? '' : '; if that port speaks TLS, write rediss://'}`,
    );
  }
  return make('UNREACHABLE', `cannot use ${where}: ${reason}`);
}

/** Another client on a connection (RedisConnection.open). */
export interface RedisLink {
  client: RedisClient;
  readonly up: boolean;
  whenUp(): Promise<void>;
  /** `graceful` (the default) waits for the replies in flight; false drops them (a blocking read). */
  close(graceful?: boolean): Promise<void>;
}

/**
 * A relay's connection to one Redis. Emits `down` (a BrokerError DOWN, redacted) when Redis is first lost and
 * `up` when it is back (with how long it was away), for the console to show.
 */
export class RedisConnection extends EventEmitter {
  readonly target: RedisTarget;
  readonly server: ServerInfo;
  readonly #options: ConnectOptions;
  readonly #main: Link;
  readonly #others = new Set<Link>();
  #downSince: number | null = null;

  private constructor(target: RedisTarget, options: ConnectOptions, main: Link, server: ServerInfo) {
    super();
    this.target = target;
    this.#options = options;
    this.#main = main;
    this.server = server;
    main.on('down', (error: unknown) => {
      this.#downSince = Date.now();
      this.emit(
        'down',
        new BrokerError(
          'DOWN',
          scrubPassword(`lost Redis at ${target.redacted} (${reasonOf(error)}); reconnecting`, target),
          { cause: error },
        ),
      );
    });
    main.on('up', () => {
      const awayMs = this.#downSince === null ? 0 : Date.now() - this.#downSince;
      this.#downSince = null;
      this.emit('up', { awayMs });
    });
  }

  /** Connects to the Redis `url` names; throws BrokerError (BAD_URL, UNREACHABLE, AUTH_FAILED, TLS_FAILED, REFUSED, UNSUPPORTED). */
  static async open(url: string | RedisTarget, options: ConnectOptions = {}): Promise<RedisConnection> {
    const target = typeof url === 'string' ? parseRedisUrl(url) : url;
    if (options.name !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(options.name))
      throw new RangeError(`a client name is 1 to 64 letters, digits, - or _, not ${options.name}`);
    const main = new Link(target, options);
    await main.connect(target, options);
    try {
      const server = await serverInfo(main.client);
      const [major = 0, minor = 0] = server.version.split('.').map(Number);
      if (major < MIN_REDIS_VERSION[0] || (major === MIN_REDIS_VERSION[0] && minor < MIN_REDIS_VERSION[1])) {
        throw new BrokerError(
          'UNSUPPORTED',
          `Redis at ${target.redacted} is version ${server.version}; wirechat needs ${MIN_REDIS_VERSION.join('.')} or newer (streams trimmed by id)`,
        );
      }
      return new RedisConnection(target, options, main, server);
    } catch (error) {
      await main.close();
      throw error;
    }
  }

  /** The command client: short commands and scripts, never a blocking one. */
  get client(): RedisClient {
    return this.#main.client;
  }

  get up(): boolean {
    return this.#main.up;
  }

  /** Resolves once the command client is connected (at once when it is); rejects if the connection is closed. */
  whenUp(): Promise<void> {
    return this.#main.whenUp();
  }

  /**
   * Another client to the same Redis, for what cannot share the command client (a blocking XREAD, a
   * subscriber); its `whenUp()` tells when it is back after a loss. Closed with this connection.
   */
  async open(name: string): Promise<RedisLink> {
    const options = { ...this.#options, name: `${this.#options.name ?? 'wirechat'}-${name}` };
    const link = new Link(this.target, options);
    await link.connect(this.target, options);
    this.#others.add(link);
    return {
      client: link.client,
      whenUp: () => link.whenUp(),
      get up() {
        return link.up;
      },
      close: async (graceful = true) => {
        this.#others.delete(link);
        await link.close(graceful);
      },
    };
  }

  /** How a person would say where this relay's chat lives, and what Redis keeps of it. */
  describe(): string {
    const { appendonly, appendfsync } = this.server;
    const persistence =
      appendonly === null
        ? 'persistence unknown'
        : appendonly === 'yes'
          ? `appendonly yes, appendfsync ${appendfsync}`
          : 'appendonly no';
    return `Redis ${this.server.version} at ${this.target.redacted} (${persistence})`;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#others].map((link) => link.close()));
    this.#others.clear();
    await this.#main.close();
  }
}

async function serverInfo(client: RedisClient): Promise<ServerInfo> {
  const hello = (await client.sendCommand(['HELLO'])) as Record<string, unknown>;
  const version = typeof hello?.version === 'string' ? hello.version : '0';
  const config = async (name: string): Promise<string | null> => {
    try {
      const reply = (await client.sendCommand(['CONFIG', 'GET', name])) as Record<string, unknown> | unknown[];
      const value = Array.isArray(reply) ? reply[1] : reply?.[name];
      return typeof value === 'string' ? value : null;
    } catch {
      // Managed Redis services often rename or forbid CONFIG: then the console says "persistence unknown".
      return null;
    }
  };
  return {
    version,
    appendonly: await config('appendonly'),
    appendfsync: await config('appendfsync'),
    evictionPolicy: await config('maxmemory-policy'),
  };
}
