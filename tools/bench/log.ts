/**
 * What the chat log's durability costs: appends per second of the memory store against SQLite with
 * synchronous=NORMAL and =FULL (WAL), each behind the real sealing layer, one at a time and in bursts that the
 * log coalesces into one transaction, with the memory store without sealing as the floor. Each figure is the
 * median over runs; each ratio is the median of per-run ratios against the sealed memory store measured in the
 * same run, with the range over the runs. The contenders take turns within each run, so drift hits all alike.
 *
 * Retention is 1,000 lines while 6,400 are appended, so most appends also drop the oldest line, as in a chat
 * that has run a while.
 *
 *   npx tsx tools/bench/log.ts [--runs N] [--burst N] [--lines N]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ephemeralChatKey } from '../../server/log/chat-key.ts';
import type { LogStore, NewEntry, Retention } from '../../server/log/log.ts';
import { MemoryStore } from '../../server/log/memory.ts';
import { createChatLog, createLogSealer, inProcessSealer } from '../../server/log/sealed.ts';
import { openSqliteStore } from '../../server/log/sqlite.ts';
import { commandLine, runAsCommand, usage } from '../../server/command-line.ts';
import { median } from './net.ts';

export interface LogBenchOptions {
  runs: number;
  /** Appends made together (one turn of the event loop), coalesced into one transaction. */
  burst: number;
  /** Appends per measurement in the burst rows; the one-at-a-time rows make a tenth of them. */
  lines: number;
}

export const DEFAULTS: LogBenchOptions = { runs: 5, burst: 32, lines: 6_400 };
const RETENTION: Retention = { maxLines: 1_000, maxAgeMs: 3_600_000 };

export interface LogRow {
  /** Stable key of the store: floor, memory, sqlite-normal, sqlite-full. */
  key: string;
  store: string;
  /** 1: each append awaited before the next; more: that many made together. */
  burst: number;
  appendsPerSecond: number;
  /** The sealed memory store's appends/s at the same burst: the median over the same runs. */
  baselinePerSecond: number;
  /** Against the sealed memory store at the same burst, same run: median, lowest and highest over the runs. */
  ratio: { median: number; min: number; max: number };
  runs: number;
}

interface Contender {
  key: string;
  store: string;
  /** Appends `count` lines in bursts of `burst`; returns the seconds it took. */
  measure(count: number, burst: number): Promise<number>;
}

/** A chat line of about 100 bytes, each from its own origin, so none is a resend. */
function entry(i: number): NewEntry {
  return {
    kind: 'line',
    from: 'alice',
    text: `line ${i}: `.padEnd(100, 'the quick brown fox jumps over the lazy dog '),
    origin: { identity: 'bench-tab', lineId: i },
  };
}

async function timed(count: number, burst: number, append: (i: number) => Promise<unknown>): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < count; i += burst) {
    await Promise.all(Array.from({ length: Math.min(burst, count - i) }, (_, j) => append(i + j)));
  }
  return (performance.now() - start) / 1000;
}

/**
 * Through the chat log: sealing, batching and the store. A fresh store (and file) for each measurement. Sealed
 * under a chat key, as an SQLite file or Redis is; `inProcess`: kept open, as the memory log is.
 */
function sealed(key: string, store: string, open: (dir: string) => Promise<LogStore>, inProcess = false): Contender {
  return {
    key,
    store,
    async measure(count, burst) {
      const dir = await mkdtemp(join(tmpdir(), 'wirechat-bench-log-'));
      try {
        const sealer = inProcess ? inProcessSealer() : await createLogSealer(ephemeralChatKey());
        const log = await createChatLog(await open(dir), sealer);
        const seconds = await timed(count, burst, (i) => log.append(entry(i)));
        await log.close();
        return seconds;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

/** The floor: the memory store alone, given records already sealed, a burst as one appendMany. */
const unsealedMemory: Contender = {
  key: 'floor',
  store: 'memory store alone (records pre-sealed): the floor',
  async measure(count, burst) {
    const store = new MemoryStore({ retention: RETENTION });
    const sealer = await createLogSealer(ephemeralChatKey());
    const token = sealer.seal(entry(0));
    const start = performance.now();
    for (let i = 0; i < count; i += burst) {
      const n = Math.min(burst, count - i);
      await store.appendMany(Array.from({ length: n }, (_, j) => ({ tag: `t${i + j}`, sealed: token })));
    }
    return (performance.now() - start) / 1000;
  },
};

export const BASELINE = 'memory (the default)';

export async function benchLog(
  options: LogBenchOptions = DEFAULTS,
  log: (line: string) => void = () => {},
): Promise<LogRow[]> {
  const contenders: Contender[] = [
    unsealedMemory,
    sealed('memory', BASELINE, async () => new MemoryStore({ retention: RETENTION }), true),
    sealed(
      'memory-sealed',
      "memory store, entries sealed under a key (the default before issue 14's third pass)",
      async () => new MemoryStore({ retention: RETENTION }),
    ),
  ];
  // better-sqlite3 is an optional dependency: without it there is no --history, and nothing to measure for it.
  if (
    await import('better-sqlite3').then(
      () => true,
      () => false,
    )
  ) {
    contenders.push(
      sealed('sqlite-normal', 'SQLite, WAL, synchronous=NORMAL', (dir) =>
        openSqliteStore(join(dir, 'h.db'), { retention: RETENTION, synchronous: 'normal' }),
      ),
      sealed('sqlite-full', 'SQLite, WAL, synchronous=FULL (--history)', (dir) =>
        openSqliteStore(join(dir, 'h.db'), { retention: RETENTION, synchronous: 'full' }),
      ),
    );
  } else {
    log('log bench: better-sqlite3 is not installed here, so the SQLite stores are left out');
  }
  const rows: LogRow[] = [];
  for (const burst of [1, options.burst]) {
    const count = burst === 1 ? Math.max(1, Math.round(options.lines / 10)) : options.lines;
    // Warm the JIT and the file system once, not counted.
    for (const c of contenders) await c.measure(Math.min(count, 200), burst);
    const rates = contenders.map(() => [] as number[]);
    for (let run = 0; run < options.runs; run++) {
      // Take turns, starting one further each run.
      for (let k = 0; k < contenders.length; k++) {
        const i = (k + run) % contenders.length;
        rates[i]!.push(count / (await contenders[i]!.measure(count, burst)));
      }
      log(`log bench: burst ${burst}, run ${run + 1}/${options.runs}`);
    }
    const base = rates[contenders.findIndex((c) => c.store === BASELINE)]!;
    contenders.forEach((c, i) => {
      const ratios = rates[i]!.map((rate, run) => rate / base[run]!);
      rows.push({
        key: c.key,
        store: c.store,
        burst,
        appendsPerSecond: median(rates[i]!),
        baselinePerSecond: median(base),
        ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
        runs: options.runs,
      });
    });
  }
  return rows;
}

export function formatLogRows(rows: LogRow[]): string {
  const header = ['store', 'appends', 'appends/s', `vs ${BASELINE}`, 'range over runs'];
  const ratio = (n: number) => (n >= 10 ? n.toFixed(0) : n >= 1 ? n.toFixed(2) : n.toPrecision(2));
  const body = rows.map((r) => [
    r.store,
    r.burst === 1 ? 'one at a time' : `bursts of ${r.burst}`,
    Math.round(r.appendsPerSecond).toLocaleString('en-US'),
    `${ratio(r.ratio.median)}x`,
    `${ratio(r.ratio.min)}-${ratio(r.ratio.max)}x`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i >= 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

const COMMAND = 'npx tsx tools/bench/log.ts';

const HELP = `${COMMAND} [options]: appends/s of the chat log stores, as ratios against the memory store
measured in the same run.

  --runs N    runs per figure; each figure is the median (default ${DEFAULTS.runs})
  --burst N   appends made together in the burst rows (default ${DEFAULTS.burst})
  --lines N   appends per measurement in the burst rows; a tenth of them one at a time (default ${DEFAULTS.lines})
  -h, --help  this text`;

async function main(): Promise<number> {
  const parsed = commandLine(COMMAND, HELP, {
    runs: { type: 'string', default: String(DEFAULTS.runs) },
    burst: { type: 'string', default: String(DEFAULTS.burst) },
    lines: { type: 'string', default: String(DEFAULTS.lines) },
  });
  if ('exit' in parsed) return parsed.exit;
  const options = {
    runs: Number(parsed.values.runs),
    burst: Number(parsed.values.burst),
    lines: Number(parsed.values.lines),
  };
  for (const [name, value] of Object.entries(options)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      console.error(usage(COMMAND, `--${name} takes a whole number >= 1, not ${String(value)}`));
      return 2;
    }
  }
  const started = performance.now();
  const rows = await benchLog(options, (line) => process.stderr.write(line + '\n'));
  console.log(formatLogRows(rows));
  console.log(
    `\nretention ${RETENTION.maxLines.toLocaleString('en-US')} lines; node ${process.version}; ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  return 0;
}

runAsCommand(import.meta.url, main);
