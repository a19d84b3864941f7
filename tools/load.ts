/**
 * `npm run load`: N simulated tabs, each speaking the real protocol with real crypto, each send M lines
 * through the relay. Prints lines per second and delivery latency, and checks that every line reached every
 * other tab exactly once and in order. Runs its own server on a free loopback port unless --url is given.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadIdentity } from '../server/identity.ts';
import { nodeCryptoBackend } from '../server/node-crypto.ts';
import { DEFAULTS } from '../server/options.ts';
import { startServer, type RunningServer } from '../server/server.ts';
import { generateClientKeyPair } from '../shared/handshake.ts';
import type { ServerBody } from '../shared/protocol.ts';
import { ScriptedClient } from './client.ts';
import { commandLine, runAsCommand } from './cli.ts';

export const LOAD_HELP = `npm run load -- [options]: N simulated tabs each send M lines through the relay.

  --clients N     simulated tabs (default 20)
  --lines M       lines each tab sends (default 20)
  --interval MS   pause between one tab's lines (default 0: each tab sends as fast as it can, so the latency
                  includes queueing behind every other line)
  --url URL       an already running server's WebSocket URL (default: start one in this process on a free
                  loopback port, sharing this process's one thread with the simulated tabs)
  --plain         run the relay in plain mode (only with its own server)
  --json          print the result as JSON
  -h, --help      this text

Each tab has its own handshake and keys; RSA key pairs are drawn from a pool of four, because making 200
3072-bit key pairs would measure key generation, not the relay. Exits 1 if any line was lost, duplicated or
out of order.`;

export interface LoadResult {
  clients: number;
  lines: number;
  deliveries: number;
  expected: number;
  seconds: number;
  linesPerSecond: number;
  deliveriesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  problems: string[];
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface LoadOptions {
  clients: number;
  lines: number;
  url?: string;
  plain?: boolean;
  intervalMs?: number;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  let server: RunningServer | undefined;
  let dir: string | undefined;
  let url = options.url;
  if (!url) {
    dir = await mkdtemp(join(tmpdir(), 'wirechat-load-'));
    server = await startServer({
      options: {
        ...DEFAULTS,
        port: 0,
        host: '127.0.0.1',
        plain: options.plain ?? false,
        rate: 1_000_000,
        burst: 1_000_000,
        maxConnections: options.clients + 10,
        // Every tab comes from one address.
        maxPerAddress: options.clients + 10,
        maxPendingPerAddress: options.clients + 10,
        handshakeRate: 1_000_000,
        handshakeBurst: 1_000_000,
        maxBuffered: 64 * 1024 * 1024,
        build: false,
      },
      identity: await loadIdentity(join(dir, 'identity.jwk')),
      backend: nodeCryptoBackend,
      events: { line: () => {}, joined: () => {}, left: () => {} },
    });
    url = `ws://127.0.0.1:${server.port}/ws`;
  }
  const pool = Array.from({ length: 4 }, () => generateClientKeyPair());
  const clients: ScriptedClient[] = [];
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  // next[recipient] maps each sender to the index of the line expected from it next
  const next = Array.from({ length: options.clients }, () => new Map<string, number>());
  const problems: string[] = [];
  let deliveries = 0;
  const expected = options.clients * options.lines * (options.clients - 1);
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  try {
    const onBody = (r: number) => (body: ServerBody) => {
      if (body.kind !== 'line') return;
      const match = /^load (\d+) (\d+)$/.exec(body.text);
      if (!match) return;
      const sender = Number(match[1]);
      const index = Number(match[2]);
      const want = next[r]!.get(body.from) ?? 0;
      if (index !== want) problems.push(`load-${r} got line ${index} of load-${sender} when ${want} was next`);
      next[r]!.set(body.from, index + 1);
      latencies.push(performance.now() - sentAt.get(`${sender}:${index}`)!);
      if (++deliveries === expected) done();
    };
    for (let i = 0; i < options.clients; i += 25) {
      const batch = Array.from({ length: Math.min(25, options.clients - i) }, (_, j) =>
        ScriptedClient.connect({
          url: url!,
          name: `load-${i + j}`,
          keyPair: pool[(i + j) % pool.length]!,
          acceptPlain: true,
          backend: nodeCryptoBackend,
          onBody: onBody(i + j),
        }),
      );
      clients.push(...(await Promise.all(batch)));
    }
    const started = performance.now();
    await Promise.all(
      clients.map(async (client, s) => {
        for (let i = 0; i < options.lines; i++) {
          sentAt.set(`${s}:${i}`, performance.now());
          await client.send(`load ${s} ${i}`);
          if (options.intervalMs) await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
        }
      }),
    );
    // Wait for the last delivery, but not for ever: give up once nothing has arrived for 10 s.
    let seen = -1;
    const watchdog = setInterval(() => {
      if (deliveries === seen) done();
      seen = deliveries;
    }, 10_000);
    await finished;
    clearInterval(watchdog);
    const seconds = (performance.now() - started) / 1000;
    if (deliveries !== expected) problems.push(`${deliveries} deliveries of ${expected} expected`);
    latencies.sort((a, b) => a - b);
    return {
      clients: options.clients,
      lines: options.lines,
      deliveries,
      expected,
      seconds,
      linesPerSecond: (options.clients * options.lines) / seconds,
      deliveriesPerSecond: deliveries / seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      problems,
    };
  } finally {
    for (const client of clients) client.close();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const parsed = commandLine('load', LOAD_HELP, {
    clients: { type: 'string', default: '20' },
    lines: { type: 'string', default: '20' },
    url: { type: 'string' },
    interval: { type: 'string', default: '0' },
    plain: { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if ('exit' in parsed) return parsed.exit;
  const { values } = parsed;
  const clients = Number(values.clients);
  const lines = Number(values.lines);
  const intervalMs = Number(values.interval);
  if (!Number.isInteger(intervalMs) || intervalMs < 0) {
    console.error('wirechat load: --interval takes a whole number of milliseconds');
    return 2;
  }
  if (!Number.isInteger(clients) || clients < 2 || !Number.isInteger(lines) || lines < 1) {
    console.error('wirechat load: --clients must be 2 or more and --lines 1 or more');
    return 2;
  }
  const result = await runLoad({ clients, lines, url: values.url, plain: values.plain, intervalMs });
  if (values.json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(`${result.clients} tabs x ${result.lines} lines, each line to ${result.clients - 1} others`);
    console.log(`  relayed     ${result.clients * result.lines} lines, the last delivered after ${result.seconds.toFixed(2)} s: ${result.linesPerSecond.toFixed(0)} lines/s`);
    console.log(`  delivered   ${result.deliveries} of ${result.expected}: ${result.deliveriesPerSecond.toFixed(0)} deliveries/s`);
    console.log(`  latency     p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms (send to delivery)`);
    console.log(result.problems.length === 0 ? '  check       every line reached every other tab once, in order' : `  PROBLEMS\n    ${result.problems.slice(0, 20).join('\n    ')}`);
  }
  return result.problems.length === 0 ? 0 : 1;
}

runAsCommand(import.meta.url, main);
