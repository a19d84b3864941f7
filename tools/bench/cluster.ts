/**
 * `npm run bench -- --only cluster`: many relays over Redis (docs/cluster.md) against one relay process without
 * Redis, in the same run. Each configuration is a real `npm run server` process (with `--redis URL --workers N`,
 * or alone), all started at once on their own ports and chats, and each run drives every configuration in turn
 * with the same `npm run load` round (tools/load.ts: simulated tabs with real keys, every line checked to reach
 * every other tab once, in one order), so that the machine's noise falls on all of them alike.
 *
 * Figures: lines relayed per second and deliveries per second (fan-out), the ratio of each to the one process
 * without Redis, median and range over the runs; and the round trip of a paced line (send to delivery, p50),
 * which with Redis holds one script round trip and one stream read more.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLoad, type LoadResult } from '../load.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ClusterBenchOptions {
  runs: number;
  /** Simulated tabs, and lines each sends, per round. */
  clients: number;
  lines: number;
  /** The `--workers` counts to measure. */
  workers: number[];
}

export interface ClusterFigure {
  key: string;
  what: string;
  value: number;
  unit: string;
  baseline: number;
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
    const timer = setTimeout(() => reject(new Error(`${command} was not ready in ${ms} ms:\n${output}`)), ms);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (ready.test(output)) {
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
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function benchCluster(
  options: ClusterBenchOptions,
  log: (line: string) => void,
): Promise<ClusterFigure[]> {
  const dir = await mkdtemp(join(tmpdir(), 'wirechat-bench-cluster-'));
  const children: ChildProcessWithoutNullStreams[] = [];
  try {
    const redisPort = await freePort();
    children.push(
      await started(
        'redis-server',
        ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
        /Ready to accept connections/,
      ),
    );
    const redis = `redis://127.0.0.1:${redisPort}`;
    const configs = [
      { key: 'alone', label: 'one process, no Redis', args: [] as string[] },
      ...options.workers.map((n) => ({
        key: `workers${n}`,
        label: `--redis --workers ${n}`,
        args: ['--redis', redis, '--chat', `bench-${n}`, '--workers', String(n)],
      })),
    ];
    const urls = new Map<string, string>();
    for (const config of configs) {
      const port = await freePort();
      children.push(
        await started(
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
        ),
      );
      urls.set(config.key, `ws://127.0.0.1:${port}/ws`);
    }
    log(
      `cluster: ${configs.map((c) => c.label).join(', ')}; ${options.clients} tabs x ${options.lines} lines, ${options.runs} runs each, in turn`,
    );
    const rounds = new Map<string, LoadResult[]>(configs.map((c) => [c.key, []]));
    const paced = new Map<string, number[]>(configs.map((c) => [c.key, []]));
    const check = (key: string, result: LoadResult) => {
      if (result.problems.length > 0)
        throw new Error(`cluster bench, ${key}: ${result.problems.slice(0, 3).join('; ')}`);
      return result;
    };
    for (let run = 0; run < options.runs; run++) {
      for (const config of configs) {
        rounds
          .get(config.key)!
          .push(
            check(
              config.key,
              await runLoad({ clients: options.clients, lines: options.lines, url: urls.get(config.key)! }),
            ),
          );
        // One line at a time between two tabs: the round trip with nothing queued before it.
        paced
          .get(config.key)!
          .push(
            check(config.key, await runLoad({ clients: 2, lines: 20, intervalMs: 25, url: urls.get(config.key)! }))
              .p50Ms,
          );
      }
    }
    const figures: ClusterFigure[] = [];
    const base = rounds.get('alone')!;
    for (const config of configs.slice(1)) {
      const mine = rounds.get(config.key)!;
      for (const [measure, unit, pick] of [
        ['lines', 'lines/s', (r: LoadResult) => r.linesPerSecond],
        ['deliveries', 'deliveries/s', (r: LoadResult) => r.deliveriesPerSecond],
      ] as const) {
        const ratios = mine.map((r, i) => pick(r) / pick(base[i]!));
        figures.push({
          key: `${config.key}.${measure}`,
          what: `${measure === 'lines' ? 'lines/s relayed' : `deliveries/s (each line to ${options.clients - 1} tabs)`}, ${config.label}`,
          value: median(mine.map(pick)),
          unit,
          baseline: median(base.map(pick)),
          ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
          runs: options.runs,
        });
      }
      const rtt = paced.get(config.key)!;
      const rttRatios = rtt.map((v, i) => v / paced.get('alone')![i]!);
      figures.push({
        key: `${config.key}.rtt`,
        what: `round trip of a paced line, p50 (send to delivery), ${config.label}`,
        value: median(rtt),
        unit: 'ms',
        baseline: median(paced.get('alone')!),
        ratio: { median: median(rttRatios), min: Math.min(...rttRatios), max: Math.max(...rttRatios) },
        runs: options.runs,
      });
    }
    return figures;
  } finally {
    await Promise.all(children.reverse().map(stop));
    await rm(dir, { recursive: true, force: true });
  }
}
