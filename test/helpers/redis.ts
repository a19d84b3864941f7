/**
 * A real `redis-server` for a test (Debian's, /usr/bin/redis-server; `.ci/run` installs it): started on a free
 * loopback port, persistence off unless asked, stopped afterwards. Nothing here assumes a Redis already running.
 *
 * Every wait is for an event with a deadline: the server's "Ready to accept connections" line, its exit. Fault
 * tests kill it with SIGKILL and start it again on the same port; with an append-only file it keeps what it
 * acknowledged across that, without one a restart is an empty Redis.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@redis/client';
import { freePort } from './process.ts';

export const REDIS_SERVER = process.env.WIRECHAT_REDIS_SERVER ?? 'redis-server';

export interface RedisOptions {
  /**
   * 'off' (the default): `--save '' --appendonly no`; 'aof-always' / 'aof-everysec': an append-only file, fsynced
   * at every write / once a second (written to the kernel before each reply either way).
   */
  persistence?: 'off' | 'aof-always' | 'aof-everysec';
  /** `--requirepass`: clients must give this password. */
  password?: string;
  /** Serve TLS only (`rediss://`), with this certificate and key (PEM files). */
  tls?: { certFile: string; keyFile: string; caFile: string };
  /** More `--option value` pairs. */
  args?: string[];
}

export interface RedisServer {
  readonly port: number;
  /** redis:// (or rediss://) URL of the server, with the password in it when there is one. */
  readonly url: string;
  /** The server's own folder (its AOF when persistence is on). */
  readonly dir: string;
  /** Everything the server printed. */
  output(): string;
  /** FLUSHALL, through a client of its own. */
  flush(): Promise<void>;
  /** SIGKILL: no save, no goodbye to clients. Resolves once the process has exited. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same options (and the same files). */
  restart(): Promise<void>;
  /** SIGTERM, then SIGKILL after 5 s; removes its folder. Safe to call twice. */
  stop(): Promise<void>;
  readonly running: boolean;
}

const READY = /Ready to accept connections/;
const START_MS = 15_000;

/** Waits for the ready line; rejects with the server's output if it exits first or the deadline passes. */
function waitReady(child: ChildProcess, output: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => done(new Error(`redis-server was not ready in ${START_MS} ms:\n${output()}`)),
      START_MS,
    );
    const onData = () => {
      if (READY.test(output())) done();
    };
    const onExit = (code: number | null, signal: string | null) =>
      done(new Error(`redis-server exited (${code ?? signal}) before it was ready:\n${output()}`));
    function done(error?: Error): void {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve();
    }
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
    onData();
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'wirechat-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  let log = '';
  const output = () => log;

  function args(): string[] {
    const base = [
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--daemonize',
      'no',
      '--logfile',
      '',
      '--protected-mode',
      'yes',
    ];
    const aof =
      options.persistence === 'aof-always' ? 'always' : options.persistence === 'aof-everysec' ? 'everysec' : null;
    base.push(...(aof ? ['--appendonly', 'yes', '--appendfsync', aof] : ['--appendonly', 'no']));
    if (options.tls) {
      base.push(
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        options.tls.certFile,
        '--tls-key-file',
        options.tls.keyFile,
        '--tls-ca-cert-file',
        options.tls.caFile,
        '--tls-auth-clients',
        'no',
      );
    } else {
      base.push('--port', String(port));
    }
    if (options.password !== undefined) base.push('--requirepass', options.password);
    return [...base, ...(options.args ?? [])];
  }

  async function launch(): Promise<void> {
    log = '';
    const proc = spawn(REDIS_SERVER, args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
    const spawned = new Promise<void>((resolve, reject) => {
      proc.once('spawn', resolve);
      proc.once('error', (error) =>
        reject(new Error(`cannot start ${REDIS_SERVER}: ${error.message} (install Debian's redis-server)`)),
      );
    });
    await spawned;
    child = proc;
    try {
      await waitReady(proc, output);
    } catch (error) {
      // Not ready in time: nothing of it may outlive the failure (it would hold the test process).
      proc.kill('SIGKILL');
      await exited(proc);
      throw error;
    }
  }

  // A port that was free a moment ago may be taken by the time the server binds it: a few tries, each new port.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (error) {
      if (attempt < 5 && /Address already in use/.test(log)) continue;
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  const password = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
  const url = `${options.tls ? 'rediss' : 'redis'}://${password}127.0.0.1:${port}`;
  let stopped = false;

  const server: RedisServer = {
    port,
    url,
    dir,
    output,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    async flush() {
      const client = createClient({
        url,
        socket: options.tls ? { tls: true, ca: await readCa(options.tls.caFile) } : {},
      });
      client.on('error', () => {});
      await client.connect();
      try {
        await client.sendCommand(['FLUSHALL']);
      } finally {
        client.destroy();
      }
    },
    async kill() {
      if (!child) return;
      child.kill('SIGKILL');
      await exited(child);
    },
    async restart() {
      if (server.running) throw new Error('redis-server is still running; kill or stop it first');
      // The same port: the old socket is closed (the process is gone), and SO_REUSEADDR lets the server bind it.
      for (let attempt = 1; ; attempt++) {
        try {
          await launch();
          return;
        } catch (error) {
          if (attempt < 5 && /Address already in use/.test(log)) continue;
          throw error;
        }
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child && server.running) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child!.kill('SIGKILL'), 5_000);
        await exited(child);
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  return server;
}

function readCa(path: string): Promise<string> {
  return readFile(path, 'utf8');
}

/** A plain client on `server` for a test to look with (XRANGE, SCAN, MONITOR): never the code under test. */
export type InspectorClient = ReturnType<typeof createInspector>;

function createInspector(url: string) {
  return createClient({ url, RESP: 3 });
}

export async function inspector(server: RedisServer): Promise<InspectorClient> {
  const client = createInspector(server.url);
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** Every key in the Redis `raw` is connected to, sorted (SCAN). */
export async function everyKey(raw: InspectorClient): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = (await raw.sendCommand(['SCAN', cursor, 'COUNT', '1000'])) as [string, string[]];
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out.sort();
}

/** One key and everything in it, whatever its type, as one line of text. */
export async function dump(raw: InspectorClient, key: string): Promise<string> {
  const type = (await raw.sendCommand(['TYPE', key])) as string;
  const value =
    type === 'string'
      ? await raw.sendCommand(['GET', key])
      : type === 'hash'
        ? await raw.sendCommand(['HGETALL', key])
        : type === 'stream'
          ? await raw.sendCommand(['XRANGE', key, '-', '+'])
          : type === 'set'
            ? await raw.sendCommand(['SMEMBERS', key])
            : type === 'list'
              ? await raw.sendCommand(['LRANGE', key, '0', '-1'])
              : type === 'zset'
                ? await raw.sendCommand(['ZRANGE', key, '0', '-1', 'WITHSCORES'])
                : `(${type})`;
  return `${key} ${type} ${JSON.stringify(value)}`;
}

/**
 * Fails when `seen` (everything read out of Redis: keys, values, messages, commands) holds any of the secrets in
 * any of four spellings: as given, lower case, base64 and hex.
 */
export function assertNoneSeen(seen: string, secrets: Record<string, readonly string[]>): void {
  for (const [kind, list] of Object.entries(secrets)) {
    for (const secret of list) {
      const forms = new Set([
        secret,
        secret.toLowerCase(),
        Buffer.from(secret).toString('base64'),
        Buffer.from(secret).toString('hex'),
      ]);
      for (const form of forms)
        assert.ok(!seen.includes(form), `Redis saw one of the ${kind}: ${JSON.stringify(form)}`);
    }
  }
}
