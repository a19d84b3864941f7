/**
 * `npm run bench -- --only cluster`: many relays over Redis (docs/cluster.md) against one relay process without
 * Redis, in the same run. Each configuration is a real `npm run server` process (with `--redis URL --workers N`,
 * or alone), all started at once on their own ports and chats, and each run drives every configuration in turn
 * with the same `npm run load` round (tools/load.ts: simulated tabs with real keys, every line checked to reach
 * every other tab once, in one order), so that the machine's noise falls on all of them alike.
 *
 * Figures, each the median over the runs of its ratio to the one process without Redis in the same run, with the
 * range of those ratios:
 * - lines relayed per second and deliveries per second (every tab sending at once);
 * - CPU time per line relayed in that round: every process of the configuration (the primary and its workers,
 *   read from /proc/PID/stat) and its own redis-server (each configuration has one, so that Redis's CPU is that
 *   configuration's alone), and Redis's part of it;
 * - the round trip of a paced line (send to delivery, p50), which with Redis holds the Redis hop: one process
 *   with `--redis` and no workers beside the same process without it is that hop alone;
 * - one line to `fanout` tabs (send to the last arrival), every configuration's tabs connected at once and the
 *   lines sent to each in turn.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateClientKeyPair } from '../../shared/handshake.ts';
import { runLoad, type LoadResult } from '../load.ts';
import { allReceived, connectTabs, secureTab, settle, type CountingTab } from './net.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ClusterBenchOptions {
  runs: number;
  /** Simulated tabs, and lines each sends, per round. */
  clients: number;
  lines: number;
  /** The `--workers` counts to measure. */
  workers: number[];
  /** Tabs that receive one line, for the fan-out rows. */
  fanout: number;
}

export interface ClusterFigure {
  key: string;
  what: string;
  value: number;
  unit: string;
  baseline: number;
  /** What the baseline is, when not the one process's same figure. */
  baselineWhat?: string;
  ratio: { median: number; min: number; max: number };
  runs: number;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** A child process that printed `ready` (a RegExp on its output) within `ms`, or an error with what it said. */
async function started(
  command: string,
  args: string[],
  ready: RegExp,
  ms = 60_000,
): Promise<ChildProcessWithoutNullStreams> {
  const child = spawn(command, args, { cwd: ROOT, stdio: 'pipe', env: { ...process.env, NO_COLOR: '1' } });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.once('error', (error) =>
      reject(
        new Error(
          `cannot start ${command}: ${error.message}${command === 'redis-server' ? " (install Debian's redis-server)" : ''}`,
        ),
      ),
    );
    const timer = setTimeout(() => reject(new Error(`${command} was not ready in ${ms} ms:\n${output}`)), ms);
    let isReady = false;
    const onData = (chunk: Buffer) => {
      // Once ready, what a server prints (its console: every line) is drained, not kept.
      if (isReady) return;
      output += chunk.toString();
      if (ready.test(output)) {
        isReady = true;
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited (${code}):\n${output}`));
    });
  });
  return child;
}

function stop(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Limits out of the way: every simulated tab comes from one address, as fast as it can. */
const LIMITS = [
  '--rate',
  '1000000',
  '--burst',
  '1000000',
  '--max-buffered',
  '67108864',
  '--max-per-address',
  '100000',
  '--max-pending-per-address',
  '100000',
  '--handshake-rate',
  '1000000',
  '--handshake-burst',
  '1000000',
  '--presence-interval',
  '250',
  '--max-connections',
  '100000',
  // 1,001 tabs joining a busy machine: a slow handshake is measured load, not a client to drop.
  '--handshake-timeout',
  '120000',
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Clock ticks per second, the unit of /proc/PID/stat's CPU times. */
function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** /proc/PID/stat's fields from the third (state) on: the name before them may hold spaces and parentheses. */
async function statFields(pid: number): Promise<string[] | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // gone
  }
}

/** `root` and every process below it (a `--workers` primary's workers). */
async function processTree(root: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const fields = await statFields(Number(name));
    if (fields === undefined) continue;
    const parent = Number(fields[1]);
    children.set(parent, [...(children.get(parent) ?? []), Number(name)]);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}

/** User + system CPU seconds of these processes (every thread), as the kernel counts them. */
async function cpuSeconds(pids: readonly number[], ticks: number): Promise<number> {
  let sum = 0;
  for (const pid of pids) {
    const fields = await statFields(pid);
    // utime and stime are the stat file's 14th and 15th fields.
    if (fields !== undefined) sum += Number(fields[11]) + Number(fields[12]);
  }
  return sum / ticks;
}

interface Config {
  key: string;
  label: string;
  args: string[];
  /** Its own redis-server, when it has one. */
  redis?: ChildProcessWithoutNullStreams;
  server?: ChildProcessWithoutNullStreams;
  url?: string;
}

interface Round {
  load: LoadResult;
  /** CPU seconds per line relayed: every process of the configuration, and its Redis alone. */
  cpuPerLine: number;
  redisPerLine: number;
  rttMs: number;
  fanoutMs: number;
}

function ratioFigure(
  key: string,
  what: string,
  unit: string,
  mine: number[],
  base: number[],
  runs: number,
  baselineWhat?: string,
): ClusterFigure {
  const ratios = mine.map((v, i) => v / base[i]!);
  return {
    key,
    what,
    value: median(mine),
    unit,
    baseline: median(base),
    ...(baselineWhat ? { baselineWhat } : {}),
    ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
    runs,
  };
}

export async function benchCluster(
  options: ClusterBenchOptions,
  log: (line: string) => void,
): Promise<ClusterFigure[]> {
  if (process.platform !== 'linux')
    throw new Error('the cluster bench reads CPU times from /proc: it runs on Linux only');
  const ticks = clockTicks();
  const dir = await mkdtemp(join(tmpdir(), 'wirechat-bench-cluster-'));
  const children: ChildProcessWithoutNullStreams[] = [];
  const tabs: CountingTab[] = [];
  try {
    const configs: Config[] = [
      { key: 'alone', label: 'one process, no Redis', args: [] },
      { key: 'redis', label: 'one process with --redis', args: ['--redis'] },
      ...options.workers.map((n) => ({
        key: `workers${n}`,
        label: `--redis --workers ${n}`,
        args: ['--redis', '--workers', String(n)],
      })),
    ];
    for (const config of configs) {
      if (config.args[0] === '--redis') {
        const redisPort = await freePort();
        const redisDir = join(dir, `redis-${config.key}`);
        await mkdir(redisDir);
        config.redis = await started(
          'redis-server',
          ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir],
          /Ready to accept connections/,
        );
        children.push(config.redis);
        config.args = ['--redis', `redis://127.0.0.1:${redisPort}`, ...config.args.slice(1)];
      }
      const port = await freePort();
      config.server = await started(
        process.execPath,
        [
          '--import',
          'tsx',
          'server/main.ts',
          '--no-build',
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--identity',
          join(dir, 'identity.jwk'),
          ...LIMITS,
          ...config.args,
        ],
        /^\s+open\s+http/m,
      );
      children.push(config.server);
      config.url = `ws://127.0.0.1:${port}/ws`;
    }
    log(
      `cluster: ${configs.map((c) => c.label).join(', ')}; ${options.clients} tabs x ${options.lines} lines, ${options.runs} runs each, in turn`,
    );
    const rounds = new Map<string, Round[]>(configs.map((c) => [c.key, []]));
    const check = (key: string, result: LoadResult) => {
      if (result.problems.length > 0)
        throw new Error(`cluster bench, ${key}: ${result.problems.slice(0, 3).join('; ')}`);
      return result;
    };
    for (let run = 0; run < options.runs; run++) {
      for (const config of configs) {
        const relays = await processTree(config.server!.pid!);
        const redis = config.redis ? [config.redis.pid!] : [];
        const before = { relays: await cpuSeconds(relays, ticks), redis: await cpuSeconds(redis, ticks) };
        const load = check(
          config.key,
          await runLoad({ clients: options.clients, lines: options.lines, url: config.url! }),
        );
        const relayCpu = (await cpuSeconds(relays, ticks)) - before.relays;
        const redisCpu = (await cpuSeconds(redis, ticks)) - before.redis;
        // One line at a time between two tabs: the round trip with nothing queued before it.
        const paced = check(config.key, await runLoad({ clients: 2, lines: 20, intervalMs: 25, url: config.url! }));
        const relayed = load.clients * load.lines;
        rounds.get(config.key)!.push({
          load,
          cpuPerLine: (relayCpu + redisCpu) / relayed,
          redisPerLine: redisCpu / relayed,
          rttMs: paced.p50Ms,
          fanoutMs: NaN,
        });
      }
    }

    // Fan-out: every configuration's tabs connected at once (idle while another is measured), one line each in turn.
    const keyPair = await generateClientKeyPair();
    const fanTabs = new Map<string, CountingTab[]>();
    for (const config of configs) {
      log(`cluster: connecting ${options.fanout + 1} tabs to ${config.label}`);
      const mine = await connectTabs(options.fanout + 1, (i) => secureTab(config.url!, keyPair, `tab-${i}`));
      tabs.push(...mine);
      fanTabs.set(config.key, mine);
    }
    // The join announcements, through Redis too, are over when no tab's count changes for a while.
    await settle(tabs, 0, 1_000);
    const one = async (mine: CountingTab[], i: number) => {
      const received = allReceived(mine.slice(1), () => 1, 'a fan-out');
      const start = performance.now();
      mine[0]!.send(i);
      return (await received) - start;
    };
    for (const config of configs) await one(fanTabs.get(config.key)!, 0); // warm-up
    for (let run = 0; run < options.runs; run++) {
      for (const config of configs)
        rounds.get(config.key)![run]!.fanoutMs = await one(fanTabs.get(config.key)!, run + 1);
    }

    const figures: ClusterFigure[] = [];
    const base = rounds.get('alone')!;
    const of = (list: Round[], pick: (r: Round) => number) => list.map(pick);
    for (const config of configs.slice(1)) {
      const mine = rounds.get(config.key)!;
      const row = (measure: string, what: string, unit: string, pick: (r: Round) => number, baselineWhat?: string) =>
        figures.push(
          ratioFigure(
            `${config.key}.${measure}`,
            `${what}, ${config.label}`,
            unit,
            of(mine, pick),
            of(base, baselineWhat ? (r) => r.cpuPerLine * 1e6 : pick),
            options.runs,
            baselineWhat,
          ),
        );
      row('lines', `lines/s relayed (each to ${options.clients - 1} tabs)`, 'lines/s', (r) => r.load.linesPerSecond);
      row('deliveries', 'deliveries/s (fan-out of those lines)', 'deliveries/s', (r) => r.load.deliveriesPerSecond);
      row(
        'cpu',
        'CPU per line relayed (the whole round, joins and leaves too): every relay process and its Redis',
        'us',
        (r) => r.cpuPerLine * 1e6,
      );
      if (config.redis)
        row(
          'cpu.redis',
          "  of which redis-server's",
          'us',
          (r) => r.redisPerLine * 1e6,
          'CPU per line relayed of the one process without Redis',
        );
      row('rtt', 'round trip of a paced line, p50 (send to delivery)', 'ms', (r) => r.rttMs);
      row('fanout', `one line to ${options.fanout} tabs: send -> last arrival`, 'ms', (r) => r.fanoutMs);
    }
    return figures;
  } finally {
    for (const tab of tabs) tab.close();
    await Promise.all(children.reverse().map(stop));
    await rm(dir, { recursive: true, force: true });
  }
}
