/**
 * `npm run server` as a child process, the way a person runs it: its stdout read line by line (the console),
 * its stdin written to (the operator typing). Each server gets its own identity file in a temp folder.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A loopback port that was free a moment ago, for a server that must come back on the same port. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

export interface ServerProcess {
  child: ChildProcessWithoutNullStreams;
  url: string;
  port: number;
  fingerprint: string;
  identityDir: string;
  /** Everything the console printed so far, one entry per line, ANSI colours stripped. */
  lines: string[];
  type(line: string): void;
  waitForLine(match: RegExp | string, timeoutMs?: number): Promise<string>;
  /** npm's own exit: the server (under sh and tsx) may still be running then. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends a signal to the whole process group (npm, tsx and the server). */
  signal(name: NodeJS.Signals): void;
  /** Sends a signal to the server's own Node process only, as `kill PID` or a service manager would. */
  signalServer(name: NodeJS.Signals): void;
  /**
   * SIGTERM to the group, and resolves once every process of it is gone (its output pipes closed), whether npm
   * already exited or not. A group still there after STOP_MS is killed (SIGKILL), and stop() then throws: a server
   * that does not exit on SIGTERM is a bug to see, not a test process kept alive by its pipes.
   */
  stop(): Promise<void>;
}

/** How long a stopped server has to exit, every process of it, before it is killed and stop() fails. */
export const STOP_MS = 10_000;

const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

export async function startServerProcess(
  args: string[] = [],
  options: {
    identityDir?: string;
    port?: number;
    /** The interface to listen on (default 127.0.0.1). */
    host?: string;
    /** A command to run npm under, e.g. ['ip', 'netns', 'exec', 'NAME']: it must exec npm in the end. */
    wrap?: string[];
  } = {},
): Promise<ServerProcess> {
  const identityDir = options.identityDir ?? (await mkdtemp(join(tmpdir(), 'wirechat-e2e-')));
  const npm = [
    'npm',
    'run',
    '--silent',
    'server',
    '--',
    '--port',
    String(options.port ?? 0),
    '--host',
    options.host ?? '127.0.0.1',
    '--no-build',
    '--identity',
    join(identityDir, 'identity.jwk'),
    ...args,
  ];
  const [command, ...commandArgs] = [...(options.wrap ?? []), ...npm];
  const child = spawn(
    command!,
    commandArgs,
    // Its own process group, as a terminal gives a command: signals go to npm, tsx and the server alike, the
    // way Ctrl-C reaches every process of a terminal's foreground job.
    { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: 'pipe', detached: true },
  );
  const lines: string[] = [];
  let waiters: Array<() => void> = [];
  let partial = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const part of parts) lines.push(part.replace(ANSI, '').replace(/\r/g, ''));
    const w = waiters;
    waiters = [];
    for (const wake of w) wake();
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      const w = waiters;
      waiters = [];
      for (const wake of w) wake();
      resolve({ code, signal });
    });
  });
  let exitedFlag = false;
  void exited.then(() => (exitedFlag = true));
  // 'close': npm exited and its stdout and stderr closed, so every process that held them (sh, tsx, the server,
  // tsx's esbuild) is gone too. npm exits on SIGTERM before the server has finished closing.
  let closedFlag = false;
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  void closed.then(() => (closedFlag = true));

  async function waitForLine(match: RegExp | string, timeoutMs = 15_000): Promise<string> {
    const test = (line: string) => (typeof match === 'string' ? line.includes(match) : match.test(line));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = lines.find(test);
      if (found !== undefined) return found;
      if (exitedFlag)
        throw new Error(`the server exited before printing ${match}; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out waiting for ${match}; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  function signal(name: NodeJS.Signals): void {
    try {
      process.kill(-child.pid!, name);
    } catch {
      // the group is gone already
    }
  }

  let url: string;
  let fingerprint: string;
  try {
    const open = await waitForLine(/^\s+open\s+https?:\/\//, 60_000);
    url = open.trim().split(/\s+/)[1]!;
    fingerprint = (await waitForLine(/^\s+fingerprint\s/)).trim().replace(/^fingerprint\s+/, '');
  } catch (error) {
    // Not started in time (or it exited): nothing of it may outlive the failure.
    signal('SIGKILL');
    await closed;
    if (!options.identityDir) await rm(identityDir, { recursive: true, force: true });
    throw error;
  }
  return {
    child,
    url,
    port: Number(new URL(url).port),
    fingerprint,
    identityDir,
    lines,
    type: (line) => child.stdin.write(line + '\n'),
    waitForLine,
    exited,
    signal,
    signalServer(name) {
      // npm -> sh -> tsx -> node: the last is the one that runs server/main.ts under tsx's loader.
      const ps = spawnSync('ps', ['-o', 'pid=,args=', '-g', String(child.pid)], { encoding: 'utf8' }).stdout;
      const line = ps.split('\n').find((l) => l.includes('loader.mjs') && l.includes('server/main.ts'));
      if (!line) throw new Error(`no server process in the group:\n${ps}`);
      process.kill(Number(line.trim().split(/\s+/)[0]), name);
    },
    async stop() {
      let killed = false;
      if (!closedFlag) {
        signal('SIGTERM');
        const timer = setTimeout(() => {
          killed = true;
          signal('SIGKILL');
        }, STOP_MS);
        await closed;
        clearTimeout(timer);
      }
      if (!options.identityDir) await rm(identityDir, { recursive: true, force: true });
      if (killed)
        throw new Error(
          `the server had not exited ${STOP_MS} ms after SIGTERM (killed); stdout:\n${lines.slice(-20).join('\n')}\nstderr:\n${stderr}`,
        );
    },
  };
}

/** Stops every server at once, each even when another fails to stop; throws the first failure once all are done. */
export async function stopAll(servers: readonly ServerProcess[]): Promise<void> {
  const failed = (await Promise.allSettled(servers.map((server) => server.stop()))).find(
    (result) => result.status === 'rejected',
  );
  if (failed) throw failed.reason;
}

/** Starts servers at once; when one fails, stops those that started and throws its error. */
export async function startAll(starts: ReadonlyArray<() => Promise<ServerProcess>>): Promise<ServerProcess[]> {
  const results = await Promise.allSettled(starts.map((start) => start()));
  const started = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = results.find((result) => result.status === 'rejected');
  if (!failed) return started;
  await stopAll(started).catch(() => undefined);
  throw failed.reason;
}

/**
 * A teardown's steps in order, each run even when one before it failed (a server that did not stop must not leave
 * Redis running behind it, which would hold the test process), then the first failure thrown.
 */
export async function teardown(...steps: Array<() => unknown>): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw failures[0];
}
