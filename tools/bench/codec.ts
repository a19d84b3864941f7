/**
 * Encode and decode throughput of wirechat's Fernet codec (Web Crypto backend, node:crypto backend) against the
 * `fernet` npm package (0.4.0, CryptoJS), in one run, at 100 B, 16 KiB and 64 KiB. Each figure is the median of
 * several time-boxed windows, and the implementations take turns within each round so drift hits all alike.
 *
 * Every operation goes string -> token -> string, as a chat line does: ours includes the UTF-8 conversion, the
 * package does the same internally.
 *
 * Web Crypto hops to a thread pool and back per call, so one-at-a-time ("sequential") understates what a server
 * gets with many messages in flight; the "concurrent" rows keep `inFlight` operations outstanding. node:crypto
 * and the package are synchronous, so only their sequential figure means anything.
 *
 *   npx tsx tools/bench/codec.ts [--runs N] [--window MS] [--in-flight N]
 */
import { createRequire } from 'node:module';
import { fromUtf8, utf8 } from '../../shared/bytes.ts';
import { webCryptoBackend, type CryptoBackend } from '../../shared/crypto-backend.ts';
import { encodeFernetKey, generateFernetKey } from '../../shared/fernet.ts';
import { commandLine, runAsCommand, UsageError, usage, wholeNumber } from '../../server/command-line.ts';
import { nodeCryptoBackend } from '../../server/node-fernet.ts';

export interface CodecRow {
  implementation: string;
  /** 'sequential': one operation at a time; 'concurrent': `inFlight` operations outstanding. */
  mode: 'sequential' | 'concurrent';
  inFlight: number;
  /** Message size in bytes. */
  bytes: number;
  encodePerSecond: number;
  decodePerSecond: number;
  /** Throughput against the fernet package's at the same size, the median of per-run ratios (above 1: ours is faster). */
  encodeVsPackage: number;
  decodeVsPackage: number;
  /** The lowest and highest of the per-run ratios against the package (each run against its own window). */
  encodeRange: { min: number; max: number };
  decodeRange: { min: number; max: number };
}

export interface BenchOptions {
  /** Rounds; each figure is the median over them. */
  runs?: number;
  /** Length of one measuring window in milliseconds. */
  windowMs?: number;
  /** Operations kept outstanding in the concurrent rows. */
  inFlight?: number;
}

const DEFAULTS: Required<BenchOptions> = { runs: 5, windowMs: 100, inFlight: 32 };

export const SIZES = [100, 16 * 1024, 64 * 1024];
export const PACKAGE = 'fernet 0.4.0 (npm, CryptoJS)';

/** The fernet package's surface used here (CommonJS, no types). It takes and returns strings. */
interface FernetPackage {
  Secret: new (key64: string) => object;
  Token: new (options: { secret: object; ttl: number; token?: string }) => {
    encode(message: string): string;
    decode(): string;
  };
}

interface Codec {
  encode(text: string): string | Promise<string>;
  decode(token: string): string | Promise<string>;
}

interface Contender {
  implementation: string;
  mode: CodecRow['mode'];
  inFlight: number;
  codec: Codec;
}

async function ours(backend: CryptoBackend, key: Uint8Array): Promise<Codec> {
  const fernet = await backend.createFernet(key.slice());
  return {
    encode: (text) => fernet.encrypt(utf8(text)),
    decode: async (token) => fromUtf8(await fernet.decrypt(token)),
  };
}

function theirs(key: Uint8Array): Codec {
  const reference = createRequire(import.meta.url)('fernet') as FernetPackage;
  const secret = new reference.Secret(encodeFernetKey(key));
  return {
    encode: (text) => new reference.Token({ secret, ttl: 0 }).encode(text),
    decode: (token) => new reference.Token({ secret, ttl: 0, token }).decode(),
  };
}

/** Operations per second over one window, with `inFlight` loops each awaiting its own operation. */
async function rate(operation: () => unknown, windowMs: number, inFlight: number): Promise<number> {
  const start = performance.now();
  const deadline = start + windowMs;
  let done = 0;
  const loop = async () => {
    do {
      await operation();
      done++;
    } while (performance.now() < deadline);
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  return done / ((performance.now() - start) / 1000);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** ASCII text of `bytes` bytes, so both sides see the same byte count. */
function message(bytes: number): string {
  const letters = 'abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  let text = '';
  for (let i = 0; i < bytes; i++) text += letters[(i * 7919) % letters.length];
  return text;
}

/** The lowest and highest of some ratios. */
function spread(ratios: number[]): { min: number; max: number } {
  return { min: Math.min(...ratios), max: Math.max(...ratios) };
}

export async function benchCodec(options: BenchOptions = {}): Promise<CodecRow[]> {
  const runs = options.runs ?? DEFAULTS.runs;
  const windowMs = options.windowMs ?? DEFAULTS.windowMs;
  const inFlight = options.inFlight ?? DEFAULTS.inFlight;
  const key = generateFernetKey();
  const contenders: Contender[] = [
    { implementation: PACKAGE, mode: 'sequential', inFlight: 1, codec: theirs(key) },
    {
      implementation: 'wirechat, Web Crypto',
      mode: 'sequential',
      inFlight: 1,
      codec: await ours(webCryptoBackend, key),
    },
    { implementation: 'wirechat, Web Crypto', mode: 'concurrent', inFlight, codec: await ours(webCryptoBackend, key) },
    {
      implementation: 'wirechat, node:crypto',
      mode: 'sequential',
      inFlight: 1,
      codec: await ours(nodeCryptoBackend, key),
    },
  ];
  const rows: CodecRow[] = [];
  for (const bytes of SIZES) {
    const text = message(bytes);
    // Each contender decodes tokens it made itself; all of them are checked to round-trip before timing.
    const tokens = await Promise.all(contenders.map(async ({ codec }) => codec.encode(text)));
    for (const [i, { codec, implementation }] of contenders.entries()) {
      if ((await codec.decode(tokens[i]!)) !== text) throw new Error(`${implementation} does not round-trip`);
    }
    const samples = contenders.map(() => ({ encode: [] as number[], decode: [] as number[] }));
    // One short window each to warm the JIT, not counted.
    for (const c of contenders) await rate(() => c.codec.encode(text), windowMs / 4, c.inFlight);
    for (let run = 0; run < runs; run++) {
      for (const [i, c] of contenders.entries()) {
        samples[i]!.encode.push(await rate(() => c.codec.encode(text), windowMs, c.inFlight));
        samples[i]!.decode.push(await rate(() => c.codec.decode(tokens[i]!), windowMs, c.inFlight));
      }
    }
    const medians = samples.map((s) => ({ encode: median(s.encode), decode: median(s.decode) }));
    // Each run's figure against the package's in the same run: the ratios are their median, with their range.
    const ratios = (i: number, op: 'encode' | 'decode') =>
      samples[i]![op].map((value, run) => value / samples[0]![op][run]!);
    for (const [i, c] of contenders.entries()) {
      const encode = ratios(i, 'encode');
      const decode = ratios(i, 'decode');
      rows.push({
        implementation: c.implementation,
        mode: c.mode,
        inFlight: c.inFlight,
        bytes,
        encodePerSecond: medians[i]!.encode,
        decodePerSecond: medians[i]!.decode,
        encodeVsPackage: median(encode),
        decodeVsPackage: median(decode),
        encodeRange: spread(encode),
        decodeRange: spread(decode),
      });
    }
  }
  return rows;
}

export function formatRows(rows: CodecRow[]): string {
  const size = (bytes: number) => (bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} B`);
  const count = (n: number) => Math.round(n).toLocaleString('en-US');
  const ratio = (n: number) => `${n.toFixed(1)}x`;
  const header = ['size', 'implementation', 'mode', 'encode/s', 'vs pkg', 'decode/s', 'vs pkg'];
  const body = rows.map((r) => [
    size(r.bytes),
    r.implementation,
    r.mode === 'concurrent' ? `concurrent (${r.inFlight} in flight)` : 'sequential',
    count(r.encodePerSecond),
    ratio(r.encodeVsPackage),
    count(r.decodePerSecond),
    ratio(r.decodeVsPackage),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i >= 3 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

const COMMAND = 'npx tsx tools/bench/codec.ts';

const HELP = `${COMMAND} [options]: Fernet encode and decode per second, wirechat (Web Crypto and node:crypto
backends) against the fernet npm package, at 100 B, 16 KiB and 64 KiB; each figure is the median of N windows.

  --runs N        windows per figure (default ${DEFAULTS.runs})
  --window MS     length of one window (default ${DEFAULTS.windowMs})
  --in-flight N   operations outstanding in the concurrent Web Crypto rows (default ${DEFAULTS.inFlight})
  -h, --help      this text`;

async function main(): Promise<number> {
  const parsed = commandLine(COMMAND, HELP, {
    runs: { type: 'string' },
    window: { type: 'string' },
    'in-flight': { type: 'string' },
  });
  if ('exit' in parsed) return parsed.exit;
  let options: Required<BenchOptions>;
  try {
    options = {
      runs: wholeNumber(parsed.values.runs, '--runs', DEFAULTS.runs, 1, 1000),
      windowMs: wholeNumber(parsed.values.window, '--window', DEFAULTS.windowMs, 1, 60_000),
      inFlight: wholeNumber(parsed.values['in-flight'], '--in-flight', DEFAULTS.inFlight, 1, 10_000),
    };
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(usage(COMMAND, error.message));
    return 2;
  }
  const started = performance.now();
  const rows = await benchCodec(options);
  console.log(formatRows(rows));
  console.log(`\nnode ${process.version}, ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

runAsCommand(import.meta.url, main);
