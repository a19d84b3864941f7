/**
 * Two "machines" on one host: two Linux network namespaces joined by a veth pair, each end with an address of a
 * private range that exists only inside them. Made by `ip` (iproute2) as root, as CI runs; removed again when the
 * test ends, when it fails, and when the process exits. Nothing here reaches any address outside the namespaces.
 *
 * Where namespaces cannot be made (not root, no iproute2, a container without CAP_SYS_ADMIN), `twoHosts` says why
 * and returns the fallback: the server on 127.0.0.2 and the browser on this host's 127.0.0.1.
 */
import { spawnSync } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TwoHosts {
  kind: 'namespaces' | 'loopback';
  /** Why namespaces were not used (kind 'loopback'). */
  why?: string;
  /** The server's address, as the browser opens it. */
  serverAddress: string;
  /** The interface a capture listens on, in the server's namespace (or lo). */
  iface: string;
  /** Prefix that runs a command on the server machine / the client machine (empty on loopback). */
  onServer: string[];
  onClient: string[];
  remove(): void;
}

/** A /24 of the private 10/8 range, used only inside the test's own namespaces. */
const SUBNET = '10.47.0';

function ip(args: string[]): { ok: boolean; error: string } {
  const result = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (result.error) return { ok: false, error: result.error.message };
  return { ok: result.status === 0, error: (result.stderr || result.stdout).trim() };
}

/** Kills what still runs in a namespace (our server, tshark or browser after a failure), by process id. */
function killInside(name: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '';
  for (const pid of pids.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Namespaces left by a test process that was killed before it could remove them (named after its pid). */
function sweepStale(): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '';
  for (const name of list.split('\n').map((l) => l.split(' ')[0] ?? '')) {
    const owner = /^wc(\d+)-(srv|cli)$/.exec(name);
    if (!owner) continue;
    try {
      process.kill(Number(owner[1]), 0);
    } catch {
      killInside(name);
      ip(['netns', 'del', name]);
    }
  }
}

export function twoHosts(): TwoHosts {
  const tag = `wc${process.pid}`;
  const server = `${tag}-srv`;
  const client = `${tag}-cli`;
  const loopback = (why: string): TwoHosts => ({
    kind: 'loopback',
    why,
    serverAddress: '127.0.0.2',
    iface: 'lo',
    onServer: [],
    onClient: [],
    remove() {},
  });
  if (process.env.WIRECHAT_NETNS === '0') return loopback('WIRECHAT_NETNS=0 asked for the loopback fallback');
  let made: string[] = [];
  const remove = () => {
    for (const name of made) {
      killInside(name);
      ip(['netns', 'del', name]);
    }
    made = [];
    process.off('exit', remove);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  // Removed on every way out: the test's own after(), a normal exit, and Ctrl-C or a runner's SIGTERM.
  const onSignal = (signal: NodeJS.Signals) => {
    remove();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('exit', remove);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  sweepStale();
  const steps: string[][] = [
    ['netns', 'add', server],
    ['netns', 'add', client],
    // Both ends made inside the namespaces: the host's own interfaces are never touched.
    ['link', 'add', `${tag}s`, 'netns', server, 'type', 'veth', 'peer', 'name', `${tag}c`, 'netns', client],
    ['-n', server, 'addr', 'add', `${SUBNET}.1/24`, 'dev', `${tag}s`],
    ['-n', client, 'addr', 'add', `${SUBNET}.2/24`, 'dev', `${tag}c`],
    ['-n', server, 'link', 'set', 'lo', 'up'],
    ['-n', client, 'link', 'set', 'lo', 'up'],
    ['-n', server, 'link', 'set', `${tag}s`, 'up'],
    ['-n', client, 'link', 'set', `${tag}c`, 'up'],
  ];
  for (const step of steps) {
    const result = ip(step);
    if (step[1] === 'add' && step[0] === 'netns' && result.ok) made.push(step[2]!);
    if (!result.ok) {
      remove();
      return loopback(`\`ip ${step.join(' ')}\` failed: ${result.error || 'no output'}`);
    }
  }
  return {
    kind: 'namespaces',
    serverAddress: `${SUBNET}.1`,
    iface: `${tag}s`,
    onServer: ['ip', 'netns', 'exec', server],
    onClient: ['ip', 'netns', 'exec', client],
    remove,
  };
}

/** An executable that runs Chromium on the client machine, for playwright-core's executablePath. */
export async function chromiumOn(hosts: TwoHosts, chromium: string, dir: string): Promise<string> {
  if (hosts.onClient.length === 0) return chromium;
  const path = join(dir, 'chromium-on-client');
  const quoted = [...hosts.onClient, chromium].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  await writeFile(path, `#!/bin/sh\nexec ${quoted} "$@"\n`);
  await chmod(path, 0o755);
  return path;
}
