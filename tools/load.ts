/**
 * `npm run load`: N simulated tabs, each speaking the real protocol with real crypto, each send M lines
 * through the relay. Prints lines per second and delivery latency, and checks that every line reached every
 * other tab exactly once and in order. Runs its own server on a free loopback port unless --url is given.
 *
 * With `--attack MODE` it measures the server under a flood from one address (tools/attack.ts, in a child
 * process): the honest tabs, from another loopback address, join and chat once alone and once during the flood,
 * and the two rounds are printed side by side.
 */
import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadIdentity } from '../server/identity.ts';
import { nodeCryptoBackend } from '../server/node-fernet.ts';
import { UsageError } from '../server/command-line.ts';
import { DEFAULTS, parseOptions } from '../server/options.ts';
import type { AdmissionStats } from '../server/admission.ts';
import type { ServerOptions } from '../server/options.ts';
import type { PresenceStats } from '../server/presence.ts';
import { startServer, type RunningServer } from '../server/server.ts';
import { generateClientKeyPair } from '../shared/handshake.ts';
import type { ServerBody } from '../shared/protocol.ts';
import {
  ATTACK_MODES,
  MAX_SECONDS,
  MAX_SOCKETS,
  type AttackMode,
  type AttackOptions,
  type AttackReport,
} from './attack.ts';
import { ScriptedClient } from './client.ts';
import { ResumingClient } from './resuming-client.ts';
import { commandLine, runAsCommand } from '../server/command-line.ts';

export const LOAD_HELP = `npm run load -- [options]: N simulated tabs each send M lines through the relay.

  --clients N     simulated tabs (default 20)
  --lines M       lines each tab sends (default 20)
  --interval MS   pause between one tab's lines (default 0: each tab sends as fast as it can, so the latency
                  includes queueing behind every other line)
  --url URL       an already running server's WebSocket URL (default: start one in this process on a free
                  loopback port, sharing this process's one thread with the simulated tabs); repeat it for
                  relays of one chat (npm run server -- --redis URL): tab i connects to the (i mod n)-th, and
                  every tab must then see every other tab's lines in one and the same order
  --plain         run the relay in plain mode (only with its own server)
  --from ADDR     the local address the tabs connect from (default 127.0.0.1)
  --json          print the result as JSON
  --resume        cut tabs' sockets at random while they send (--cut P: the chance before each line, default
                  0.05); each comes back with its resume secret; checks that every tab ends with every line
                  exactly once and prints how many lines were replayed (docs/protocol.md 9.1); with --url
                  repeated, a tab comes back through any of the relays, at random (docs/cluster.md)
  -h, --help      this text

Each tab has its own handshake and keys; RSA key pairs are drawn from a pool of four, because making 200
3072-bit key pairs would measure key generation, not the relay. Exits 1 if any line was lost, duplicated or
out of order. All tabs come from one address: the server started here raises its per-address limits; one
started with npm run server needs them raised too (--max-per-address, --max-pending-per-address,
--handshake-rate, --handshake-burst).

Under attack: the same tabs, once alone and once while one other address floods the server.

  --attack MODE       hold:  upgraded sockets that never say hello
                      hello: completed hellos (one public key for all, no crypto on the attacker's side) that stay
                      join:  hellos that close as soon as they are welcomed, again and again
  --attackers N       connections the attacker keeps going at once (default 1000, at most ${MAX_SOCKETS})
  --attack-from ADDR  the attacker's local address (default 127.0.0.2; any of 127.0.0.0/8 works on Linux)
  --warmup S          seconds the flood runs before the tabs connect (default 2)
  --server='FLAGS'    flags for the server started here, as npm run server takes them (with the = sign); e.g. the
                      server as it was before its per-address limits and batched announcements:
                      --server='--max-per-address 1000 --max-pending-per-address 1000 --handshake-rate 1000000
                      --handshake-burst 1000000 --presence-interval 0'

The server started here has the default limits, per address too, and one process thread shared with the
honest tabs (the attacker has its own process). Exits 1 if an honest tab could not join or a line was lost.`;

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
  /** Relays of one chat (docs/cluster.md): the tabs are spread over them, in turn. */
  urls?: readonly string[];
  plain?: boolean;
  intervalMs?: number;
  /** The local address the tabs connect from. */
  from?: string;
}

/** A server in this process on a free loopback port, with a fresh identity; `stop` removes it all. */
async function ownServer(
  options: Partial<ServerOptions>,
): Promise<{ server: RunningServer; url: string; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'wirechat-load-'));
  const server = await startServer({
    options: { ...DEFAULTS, ...options, port: 0, host: '127.0.0.1', build: false },
    identity: await loadIdentity(join(dir, 'identity.jwk')),
    backend: nodeCryptoBackend,
    events: { line: () => {}, joined: () => {}, left: () => {} },
  });
  return {
    server,
    url: `ws://127.0.0.1:${server.port}/ws`,
    async stop() {
      server.relay.endAll(1001, 'load test over');
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Lines as fast as the tabs can send them, and no reader dropped for being slow: the load decides. */
const LOAD_LIMITS: Partial<ServerOptions> = { rate: 1_000_000, burst: 1_000_000, maxBuffered: 64 * 1024 * 1024 };

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const given = options.urls ?? (options.url ? [options.url] : []);
  const own =
    given.length > 0
      ? undefined
      : await ownServer({
          ...LOAD_LIMITS,
          plain: options.plain ?? false,
          maxConnections: options.clients + 10,
          // Every tab comes from one address.
          maxPerAddress: options.clients + 10,
          maxPendingPerAddress: options.clients + 10,
          handshakeRate: 1_000_000,
          handshakeBurst: 1_000_000,
        });
  try {
    return await honestRound(own ? [own.url] : given, options);
  } finally {
    await own?.stop();
  }
}

export interface ResumeLoadResult {
  clients: number;
  lines: number;
  cuts: number;
  recovered: number;
  replayed: number;
  resent: number;
  seconds: number;
  problems: string[];
}

/**
 * `npm run load -- --resume`: tabs that send their lines while their sockets are cut at random, and come back
 * each time with their resume secret (tools/resuming-client.ts). In the end every tab must show every line of the
 * chat exactly once, under the same number as every other tab.
 */
export async function runResumeLoad(options: {
  clients: number;
  lines: number;
  url?: string;
  /** Relays of one chat (--redis, docs/cluster.md): tabs join spread over them and come back to any of them. */
  urls?: readonly string[];
  cut: number;
}): Promise<ResumeLoadResult> {
  const given = options.urls ?? (options.url ? [options.url] : []);
  const own =
    given.length > 0
      ? undefined
      : await ownServer({
          ...LOAD_LIMITS,
          maxConnections: options.clients * 3 + 10,
          maxPerAddress: options.clients * 3 + 10,
          maxPendingPerAddress: options.clients * 3 + 10,
          handshakeRate: 1_000_000,
          handshakeBurst: 1_000_000,
          // A cut socket is found by the resume that replaces it, not by a heartbeat.
          heartbeatMs: 600_000,
          // Hundreds of handshakes at once on one thread, with the tabs' own crypto: time, not a refusal.
          handshakeTimeoutMs: 120_000,
        });
  const urls = own ? [own.url] : given;
  const anyUrl = () => urls[Math.floor(Math.random() * urls.length)]!;
  const problems: string[] = [];
  let cuts = 0;
  let recovered = 0;
  try {
    const pool = await Promise.all(Array.from({ length: 4 }, () => generateClientKeyPair()));
    const tabs: ResumingClient[] = [];
    for (let i = 0; i < options.clients; i += 25) {
      const batch = Array.from({ length: Math.min(25, options.clients - i) }, (_, j) =>
        ResumingClient.join({
          url: urls[(i + j) % urls.length]!,
          name: `tab-${i + j}`,
          keyPair: pool[(i + j) % pool.length]!,
          backend: nodeCryptoBackend,
        }),
      );
      tabs.push(...(await Promise.all(batch)));
    }
    const started = performance.now();
    await Promise.all(
      tabs.map(async (tab, t) => {
        for (let i = 0; i < options.lines; i++) {
          if (Math.random() < options.cut) {
            tab.cut();
            cuts++;
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 50));
            const answer = await tab.resume(anyUrl());
            if (answer.recovered) recovered++;
            else problems.push(`tab-${t}: resume not recovered (${answer.reason})`);
          }
          tab.send(`tab-${t} line ${i}`);
          await new Promise((resolve) => setImmediate(resolve));
        }
      }),
    );
    await Promise.all(tabs.map((tab) => tab.settled(60_000).catch((error: Error) => problems.push(error.message))));
    const all = new Map<number, string>();
    for (const tab of tabs) for (const [n, line] of tab.lines) all.set(n, line.text);
    const highest = Math.max(0, ...all.keys());
    await Promise.all(
      tabs.map((tab) => tab.reached(highest, 60_000).catch((error: Error) => problems.push(error.message))),
    );
    const expected = options.clients * options.lines;
    if (all.size !== expected) problems.push(`the chat has ${all.size} lines, not ${expected}`);
    if (new Set(all.values()).size !== all.size) problems.push('a line is in the chat under two numbers');
    for (const [t, tab] of tabs.entries()) {
      if (tab.duplicates > 0) problems.push(`tab-${t} was shown ${tab.duplicates} lines twice`);
      const missing = [...all.keys()].filter((n) => tab.lines.get(n)?.text !== all.get(n));
      if (missing.length > 0) problems.push(`tab-${t} lacks ${missing.length} lines (first #${missing[0]})`);
    }
    const seconds = (performance.now() - started) / 1000;
    const replayed = tabs.reduce((sum, tab) => sum + tab.replayed, 0);
    const resent = tabs.reduce((sum, tab) => sum + tab.resent, 0);
    await Promise.all(tabs.map((tab) => tab.goodbye(GOODBYE_MS)));
    return { clients: options.clients, lines: options.lines, cuts, recovered, replayed, resent, seconds, problems };
  } finally {
    await own?.stop();
  }
}

export interface HonestRound extends LoadResult {
  /** Tabs that joined (within JOIN_DEADLINE_MS, retrying a refusal as a page does). */
  joined: number;
  /** Connect to welcome, per tab, retries included. */
  joinP50Ms: number;
  joinP99Ms: number;
  joinMaxMs: number;
  /** Connections refused (1013, or HTTP 429) before a tab got in, all tabs together. */
  refusedTries: number;
}

/** How long an honest tab keeps trying to join before it counts as kept out. */
const JOIN_DEADLINE_MS = 20_000;

/**
 * One tab's join, as a page makes it: a failed attempt (a refusal, 1013 or HTTP 429, or any other) is
 * retried after a pause that doubles up to 1 s, until JOIN_DEADLINE_MS. Returns the client (or why it never got
 * in), the time it took, and the refusals.
 */
async function joinAsAPage(
  connect: () => Promise<ScriptedClient>,
): Promise<{ client?: ScriptedClient; ms: number; refused: number; error?: string }> {
  const started = performance.now();
  let refused = 0;
  let last = '';
  for (let attempt = 0; performance.now() - started < JOIN_DEADLINE_MS; attempt++) {
    try {
      return { client: await connect(), ms: performance.now() - started, refused };
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
      if (/closed 1013|Unexpected server response: 429/.test(last)) refused++;
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 100 * 2 ** attempt)));
    }
  }
  return { ms: performance.now() - started, refused, error: last };
}

/**
 * Connects `clients` tabs to `url` (in turn to each, when several relays of one chat), has each send `lines`
 * lines, and checks what every tab received: every other tab's lines, once, in their order, and all in one
 * chat-wide order (every two tabs agree on the order of the lines both received).
 */
async function honestRound(url: string | readonly string[], options: LoadOptions): Promise<HonestRound> {
  const urls = typeof url === 'string' ? [url] : url;
  // Made before the clock starts: a join's time is the handshake's, not the key generation's.
  const pool = await Promise.all(Array.from({ length: 4 }, () => generateClientKeyPair()));
  const clients: ScriptedClient[] = [];
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  // next[recipient] maps each sender to the index of the line expected from it next
  const next = Array.from({ length: options.clients }, () => new Map<string, number>());
  // received[recipient]: every line it received, "sender:index", in the order received
  const received = Array.from({ length: options.clients }, () => [] as string[]);
  const problems: string[] = [];
  let deliveries = 0;
  let expected = 0;
  const joinMs: number[] = [];
  /** The number in each joined tab's lines ("load N i"): its place among the tabs asked for. */
  const senders: number[] = [];
  let refusedTries = 0;
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
      received[r]!.push(`${sender}:${index}`);
      latencies.push(performance.now() - sentAt.get(`${sender}:${index}`)!);
      if (++deliveries === expected) done();
    };
    for (let i = 0; i < options.clients; i += 25) {
      const batch = Array.from({ length: Math.min(25, options.clients - i) }, (_, j) =>
        joinAsAPage(() =>
          ScriptedClient.connect({
            url: urls[(i + j) % urls.length]!,
            name: `load-${i + j}`,
            keyPair: pool[(i + j) % pool.length]!,
            acceptPlain: true,
            backend: nodeCryptoBackend,
            localAddress: options.from,
            onBody: onBody(i + j),
          }),
        ),
      );
      for (const [j, joined] of (await Promise.all(batch)).entries()) {
        refusedTries += joined.refused;
        joinMs.push(joined.ms);
        if (joined.client) {
          clients.push(joined.client);
          senders.push(i + j);
        } else {
          problems.push(`load-${i + j} could not join within ${JOIN_DEADLINE_MS / 1000} s (last: ${joined.error})`);
        }
      }
    }
    expected = clients.length * options.lines * (clients.length - 1);
    if (expected === 0) done();
    const started = performance.now();
    await Promise.all(
      clients.map(async (client, c) => {
        const s = senders[c]!;
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
    problems.push(...orderProblems(received));
    latencies.sort((a, b) => a - b);
    joinMs.sort((a, b) => a - b);
    return {
      clients: options.clients,
      lines: options.lines,
      deliveries,
      expected,
      seconds,
      linesPerSecond: (clients.length * options.lines) / seconds,
      deliveriesPerSecond: deliveries / seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      problems,
      joined: clients.length,
      joinP50Ms: percentile(joinMs, 50),
      joinP99Ms: percentile(joinMs, 99),
      joinMaxMs: joinMs.at(-1) ?? NaN,
      refusedTries,
    };
  } finally {
    // Each tab leaves as a page does (EXIT, a 1000 close), not as a cut connection: the server's console shows
    // "left", not "disconnected (1006)". Bounded: a server that does not answer has the socket cut.
    await Promise.all(clients.map((client) => client.goodbye(GOODBYE_MS)));
  }
}

/** How long a tab waits for the server's answer to its goodbye before it cuts its socket. */
const GOODBYE_MS = 5_000;

/**
 * Whether the tabs saw one chat-wide order: every tab's lines, each after the one before it, are edges of one
 * graph; one order holds them all exactly when that graph has no cycle (Kahn's topological sort).
 */
export function orderProblems(received: readonly (readonly string[])[]): string[] {
  const after = new Map<string, Set<string>>();
  const before = new Map<string, number>();
  for (const line of received.flat()) if (!before.has(line)) before.set(line, 0);
  for (const lines of received) {
    for (let i = 1; i < lines.length; i++) {
      const edges = after.get(lines[i - 1]!) ?? new Set<string>();
      if (!edges.has(lines[i]!)) {
        edges.add(lines[i]!);
        before.set(lines[i]!, before.get(lines[i]!)! + 1);
      }
      after.set(lines[i - 1]!, edges);
    }
  }
  const ready = [...before].filter(([, n]) => n === 0).map(([line]) => line);
  let placed = 0;
  while (ready.length > 0) {
    placed++;
    for (const next of after.get(ready.pop()!) ?? []) {
      const left = before.get(next)! - 1;
      before.set(next, left);
      if (left === 0) ready.push(next);
    }
  }
  if (placed === before.size) return [];
  return [
    `the tabs saw lines in different orders: no one order holds them all (${before.size - placed} of ${before.size} lines cannot be placed)`,
  ];
}

export interface AttackLoadOptions extends LoadOptions {
  attack: AttackMode;
  /** Connections the attacker keeps going at once. */
  attackers: number;
  attackFrom: string;
  /** Seconds the flood runs before the honest tabs connect. */
  warmupSeconds: number;
  /** The server's own flags (npm run server's), for the server started here. */
  serverArgs?: string[];
}

/** What the server counted during the round under attack (only when it runs in this process). */
export interface ServerCounts {
  admission: AdmissionStats;
  presence: PresenceStats;
  /** Connections from the attacker's address open when the honest tabs began, and how many were joined. */
  attackerOpen: number;
  attackerJoined: number;
}

export interface AttackLoadResult {
  alone: HonestRound;
  underAttack: HonestRound;
  attacker: AttackReport;
  server: ServerCounts | undefined;
  problems: string[];
}

function delta<T extends object>(after: T, before: T): T {
  return Object.fromEntries(
    Object.entries(after).map(([k, v]) => [k, (v as number) - (before[k as keyof T] as number)]),
  ) as T;
}

/** Starts tools/attack.ts in a child process; resolves once it runs, with a function that stops it and reports. */
async function startAttacker(options: AttackOptions): Promise<() => Promise<AttackReport>> {
  const child = fork(fileURLToPath(new URL('attack.ts', import.meta.url)), [JSON.stringify(options)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const report = new Promise<AttackReport>((resolve, reject) => {
    child.on('message', (message: { report?: AttackReport }) => {
      if (message.report) resolve(message.report);
    });
    child.once('exit', (code) => reject(new Error(`the attacker exited (${code}) without a report`)));
  });
  report.catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    child.on('message', (message: { started?: boolean }) => {
      if (message.started) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the attacker exited (${code}) before it started`)));
  });
  return async () => {
    child.send('stop');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    try {
      return await report;
    } finally {
      clearTimeout(timer);
    }
  };
}

/**
 * The honest tabs' round alone, then the same round while one address floods the server (from `attackFrom`,
 * `attackers` connections kept going), and what the flood got and cost.
 */
export async function runAttackLoad(options: AttackLoadOptions): Promise<AttackLoadResult> {
  // The defaults, per-address limits included (or what --server says); only the honest tabs' own lines are not
  // rate-limited.
  const parsed = parseOptions(options.serverArgs ?? [], {});
  if (parsed === 'help') throw new UsageError("--server takes the server's flags, not --help");
  const own = options.url
    ? undefined
    : await ownServer({ ...parsed, ...LOAD_LIMITS, plain: options.plain ?? parsed.plain });
  const url = own?.url ?? options.url!;
  try {
    const alone = await honestRound(url, options);
    const stopAttack = await startAttacker({
      url,
      mode: options.attack,
      sockets: options.attackers,
      from: options.attackFrom,
      seconds: MAX_SECONDS,
    });
    let underAttack: HonestRound;
    let attacker: AttackReport;
    let server: ServerCounts | undefined;
    try {
      await new Promise((resolve) => setTimeout(resolve, options.warmupSeconds * 1000));
      const admission = { ...own?.server.admission.stats } as AdmissionStats;
      const presence = { ...own?.server.relay.presence.stats } as PresenceStats;
      const held = own?.server.admission.count(options.attackFrom);
      underAttack = await honestRound(url, options);
      if (own && held) {
        server = {
          admission: delta(own.server.admission.stats, admission),
          presence: delta(own.server.relay.presence.stats, presence),
          attackerOpen: held.open,
          attackerJoined: held.open - held.inHandshake,
        };
      }
    } finally {
      attacker = await stopAttack();
    }
    const problems = [
      ...alone.problems.map((p) => `alone: ${p}`),
      ...underAttack.problems.map((p) => `under attack: ${p}`),
    ];
    return { alone, underAttack, attacker, server, problems };
  } finally {
    await own?.stop();
  }
}

function ms(value: number): string {
  return Number.isNaN(value) ? '-' : `${value.toFixed(1)} ms`;
}

function ratio(after: number, before: number): string {
  return before > 0 && Number.isFinite(after) ? `${(after / before).toFixed(2)}x` : '-';
}

function printAttack(result: AttackLoadResult, options: AttackLoadOptions): void {
  const { alone, underAttack: under, attacker, server } = result;
  const closes = Object.entries(attacker.closes)
    .sort((a, b) => b[1] - a[1])
    .map(([code, n]) => `${code} x${n}`)
    .join(', ');
  console.log(
    `${options.clients} honest tabs from ${options.from ?? '127.0.0.1'} x ${options.lines} lines; ` +
      `attack "${attacker.mode}" from ${attacker.from}, ${options.attackers} connections kept going, for ${attacker.seconds.toFixed(1)} s`,
  );
  console.log(
    `  attacker    ${attacker.opened} connections tried, ${attacker.upgraded} upgraded, ${attacker.welcomed} welcomed; ` +
      `at most ${attacker.peakOpen} open and ${attacker.peakJoined} joined at once`,
  );
  console.log(`              closed: ${closes || 'none'}`);
  if (server) {
    const a = server.admission;
    console.log(
      `  server      during the honest round: ${a.knocked} upgrades asked for, ${a.admitted} admitted; refused ${a.refusedRate} (rate, HTTP 429), ` +
        `${a.refusedPerAddress} (per address), ${a.refusedPending} (handshakes), ${a.refusedFull} (full); ` +
        `attacker held ${server.attackerOpen} (${server.attackerJoined} joined)`,
    );
    console.log(
      `              presence: ${server.presence.changes} joins and leaves in ${server.presence.batches} batches, ` +
        `${server.presence.sent} sealed bodies`,
    );
  }
  const rows: Array<[string, string, string, string]> = [
    ['joined', `${alone.joined}/${alone.clients}`, `${under.joined}/${under.clients}`, ''],
    ['refused tries', String(alone.refusedTries), String(under.refusedTries), ''],
    ['join p50', ms(alone.joinP50Ms), ms(under.joinP50Ms), ratio(under.joinP50Ms, alone.joinP50Ms)],
    ['join p99', ms(alone.joinP99Ms), ms(under.joinP99Ms), ratio(under.joinP99Ms, alone.joinP99Ms)],
    ['delivered', `${alone.deliveries}/${alone.expected}`, `${under.deliveries}/${under.expected}`, ''],
    ['line p50', ms(alone.p50Ms), ms(under.p50Ms), ratio(under.p50Ms, alone.p50Ms)],
    ['line p99', ms(alone.p99Ms), ms(under.p99Ms), ratio(under.p99Ms, alone.p99Ms)],
  ];
  console.log(`  honest tabs   ${'alone'.padEnd(16)}${'under attack'.padEnd(16)}ratio`);
  for (const [label, a, u, r] of rows) console.log(`  ${label.padEnd(14)}${a.padEnd(16)}${u.padEnd(16)}${r}`);
  console.log(
    result.problems.length === 0
      ? '  check         every honest tab joined; every line reached every other tab once, in order'
      : `  PROBLEMS\n    ${result.problems.slice(0, 20).join('\n    ')}`,
  );
}

async function main(): Promise<number> {
  const parsed = commandLine('load', LOAD_HELP, {
    clients: { type: 'string', default: '20' },
    lines: { type: 'string', default: '20' },
    url: { type: 'string', multiple: true },
    interval: { type: 'string', default: '0' },
    plain: { type: 'boolean' },
    from: { type: 'string' },
    attack: { type: 'string' },
    attackers: { type: 'string', default: '1000' },
    'attack-from': { type: 'string', default: '127.0.0.2' },
    warmup: { type: 'string', default: '2' },
    server: { type: 'string' },
    json: { type: 'boolean' },
    resume: { type: 'boolean' },
    cut: { type: 'string', default: '0.05' },
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
  if (values.attack !== undefined) {
    const attack = values.attack as AttackMode;
    const attackers = Number(values.attackers);
    const warmupSeconds = Number(values.warmup);
    if (!ATTACK_MODES.includes(attack)) {
      console.error(`wirechat load: --attack takes ${ATTACK_MODES.join(', ')}, not "${values.attack}"`);
      return 2;
    }
    if (
      !Number.isInteger(attackers) ||
      attackers < 1 ||
      attackers > MAX_SOCKETS ||
      !(warmupSeconds >= 0 && warmupSeconds <= 60)
    ) {
      console.error(`wirechat load: --attackers must be 1 to ${MAX_SOCKETS} and --warmup 0 to 60 seconds`);
      return 2;
    }
    const options: AttackLoadOptions = {
      clients,
      lines,
      url: values.url?.[0],
      plain: values.plain,
      intervalMs,
      from: values.from ?? '127.0.0.1',
      attack,
      attackers,
      attackFrom: values['attack-from'],
      warmupSeconds,
      serverArgs: values.server?.split(/\s+/).filter((arg) => arg !== ''),
    };
    let result: AttackLoadResult;
    try {
      result = await runAttackLoad(options);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      console.error(`wirechat load: --server: ${error.message}`);
      return 2;
    }
    if (values.json) console.log(JSON.stringify(result, null, 2));
    else printAttack(result, options);
    return result.problems.length === 0 ? 0 : 1;
  }
  if (values.attack !== undefined && (values.url?.length ?? 0) > 1) {
    console.error('wirechat load: --attack takes one --url');
    return 2;
  }
  if (values.resume) {
    const cut = Number(values.cut);
    if (!(cut >= 0 && cut <= 1)) {
      console.error('wirechat load: --cut takes a chance from 0 to 1');
      return 2;
    }
    const result = await runResumeLoad({ clients, lines, urls: values.url, cut });
    if (values.json) console.log(JSON.stringify(result, null, 2));
    else {
      console.log(
        `${result.clients} tabs x ${result.lines} lines, sockets cut at random (chance ${cut} before each line)`,
      );
      console.log(`  cuts        ${result.cuts}, each followed by a resume (${result.recovered} recovered)`);
      console.log(`  replayed    ${result.replayed} lines, marked late, to tabs that were away`);
      console.log(`  resent      ${result.resent} lines whose receipt was lost to a cut`);
      console.log(`  took        ${result.seconds.toFixed(2)} s`);
      console.log(
        result.problems.length === 0
          ? `  check       every tab ends with all ${result.clients * result.lines} lines, each exactly once, by number`
          : `  PROBLEMS\n    ${result.problems.slice(0, 20).join('\n    ')}`,
      );
    }
    return result.problems.length === 0 ? 0 : 1;
  }
  const result = await runLoad({
    clients,
    lines,
    urls: values.url,
    plain: values.plain,
    intervalMs,
    from: values.from,
  });
  if (values.json) console.log(JSON.stringify(result, null, 2));
  else {
    const relays = values.url && values.url.length > 1 ? `, spread over ${values.url.length} relays` : '';
    console.log(`${result.clients} tabs x ${result.lines} lines, each line to ${result.clients - 1} others${relays}`);
    console.log(
      `  relayed     ${result.clients * result.lines} lines, the last delivered after ${result.seconds.toFixed(2)} s: ${result.linesPerSecond.toFixed(0)} lines/s`,
    );
    console.log(
      `  delivered   ${result.deliveries} of ${result.expected}: ${result.deliveriesPerSecond.toFixed(0)} deliveries/s`,
    );
    console.log(
      `  latency     p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms (send to delivery)`,
    );
    console.log(
      result.problems.length === 0
        ? '  check       every line reached every other tab once, in order, and every tab saw one order'
        : `  PROBLEMS\n    ${result.problems.slice(0, 20).join('\n    ')}`,
    );
  }
  return result.problems.length === 0 ? 0 : 1;
}

runAsCommand(import.meta.url, main);
