/**
 * What a record costs against the cryptography it is made of, on the server's node:crypto backend: seal and open
 * of shared/record.ts's RecordChannel, each against the sum of its own primitives timed alone in the same run,
 * so that the overhead of our code (promises, buffers, JSON, base64) is a visible ratio on every bench run.
 *
 * The primitives, with KeyObjects made once as the backend makes them, on inputs of exactly the sizes a record
 * of a 300-byte body has:
 * - seal: createCipheriv('aes-128-cbc') update + final over the body; createHmac('sha256') over the Fernet
 *   token's signed part; createHmac('sha256') over the record MAC input (label, direction, seq, session id, token);
 * - open: the same two HMACs and createDecipheriv('aes-128-cbc') over the ciphertext.
 * Nothing else counts as the floor: base64, the token's assembly, the IV, JSON and the frame object are ours.
 *
 * Three shapes: one record at a time (each awaited before the next, as a round trip does); a fan-out (one body,
 * `fanout` channels, every seal started before any is awaited, as the relay sends one line to every tab); and
 * opening one at a time. The fan-out's primitives run under one key set per channel, used in turn as the fan-out
 * uses them: every recipient's session has keys of its own (the protocol's, never shared), so its seal's own
 * cryptography is 1,000 KeyObjects' worth, not one (docs/benchmarks.md, issue 14's eighth pass). The same
 * batches are also timed against the primitives under one key set, the floor before that pass, and reported
 * beside it (`oneKey`). Batches of each alternate with batches of the primitives; the ratio is the median of
 * the per-batch ratios. Each batch starts from a collected heap, its inputs (the frames an open batch opens) made
 * before that collection, so it pays for the scavenges of its own garbage and of nothing else.
 *
 *   npx tsx tools/bench/record.ts [--runs N] [--batch N]
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  randomFillSync,
  type KeyObject,
} from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fromBase64Url, randomBytes, utf8 } from '../../shared/bytes.ts';
import type { CryptoBackend } from '../../shared/crypto-backend.ts';
import { EncodedBody, RecordChannel, recordMacInput, type SessionKeys } from '../../shared/record.ts';
import type { RecordFrame } from '../../shared/protocol.ts';
import { slabFrame } from '../../server/frame-slab.ts';
import { nodeCryptoBackend } from '../../server/node-fernet.ts';

/**
 * A full collection, now. `gc` is only a global under `--expose-gc`; the flag can be set from here, and a new
 * context then has the function (the bench runs under tsx, which would not pass the flag on). Set on first use,
 * not on import: a process that only imports this module keeps V8's flags as they were.
 */
let gcFunction: (() => void) | undefined;
function collectGarbage(): void {
  if (gcFunction === undefined) {
    setFlagsFromString('--expose-gc');
    gcFunction = runInNewContext('gc') as () => void;
  }
  gcFunction();
}

export interface RecordBenchOptions {
  /** Batches of each kind; each figure is the median over them. */
  runs?: number;
  /** Records per batch. */
  batch?: number;
  /** Milliseconds of each shape (ours and its primitives, alternating) run before any is timed. */
  warmupMs?: number;
  /** Channels in the fan-out shape. */
  fanout?: number;
  /** Body size in bytes (as JSON). */
  bodyBytes?: number;
  backend?: CryptoBackend;
  /** The RecordChannel class to time: a before/after comparison passes the old tree's here. */
  Channel?: typeof RecordChannel;
}

export interface RecordRow {
  id: 'seal' | 'seal.fanout' | 'open';
  what: string;
  /** Microseconds per record, median over batches. */
  us: number;
  /** Microseconds per record for the primitives alone, median over batches. */
  primitivesUs: number;
  /** Median of the per-batch ratios. */
  ratio: number;
  /** The lowest and highest per-batch ratio. */
  range: { min: number; max: number };
  runs: number;
  /** The fan-out against its primitives under one key set (the floor before the eighth pass), beside the row. */
  oneKey?: { primitivesUs: number; ratio: number; range: { min: number; max: number } };
}

export const PRIMITIVES = "2 createHmac('sha256') + createCipheriv('aes-128-cbc'), KeyObjects, same sizes, timed alone";
/** The fan-out row's floor: the same, under each channel's own KeyObjects in turn. */
export const RECIPIENT_PRIMITIVES = `${PRIMITIVES}, a key set per recipient`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A chat line whose body is `bytes` bytes of JSON, as the relay sends it. */
export function lineBody(bytes: number): unknown {
  const shell = { kind: 'line', from: 'alice', id: 1, text: '' };
  const text = 'x'.repeat(Math.max(0, bytes - JSON.stringify(shell).length));
  return { ...shell, text };
}

async function keys(backend: CryptoBackend, fernetKey: Uint8Array, macKey: Uint8Array): Promise<SessionKeys> {
  // The backends zero what they import, so each gets copies.
  return { fernet: await backend.createFernet(fernetKey.slice()), mac: await backend.createMac(macKey.slice()) };
}

export async function benchRecord(options: RecordBenchOptions = {}): Promise<RecordRow[]> {
  const runs = options.runs ?? 7;
  const batch = options.batch ?? 2000;
  const fanout = options.fanout ?? 1000;
  const warmupMs = options.warmupMs ?? 500;
  const bodyBytes = options.bodyBytes ?? 300;
  const backend = options.backend ?? nodeCryptoBackend;
  const Channel = options.Channel ?? RecordChannel;
  const sessionId = randomBytes(16);
  const fernetKey = randomBytes(32);
  const macKey = randomBytes(32);
  const body = lineBody(bodyBytes);

  const sender = new Channel(await keys(backend, fernetKey, macKey), sessionId, 's2c');
  const fans = await Promise.all(
    Array.from({ length: fanout }, async () => new Channel(await keys(backend, fernetKey, macKey), sessionId, 's2c')),
  );

  // The primitives' inputs, at the sizes a real record of this body has.
  const sample = (await new Channel(await keys(backend, fernetKey, macKey), sessionId, 's2c').seal(
    body,
  )) as RecordFrame;
  const token = fromBase64Url(sample.token);
  const plaintext = new TextEncoder().encode(JSON.stringify(body));
  const ciphertextLength = token.length - 25 - 32;
  const signed = new Uint8Array(25 + ciphertextLength);
  const macInput = recordMacInput('s2c', 12345, sessionId, sample.token);
  const ciphertext = new Uint8Array(ciphertextLength);
  const signingKey = createSecretKey(fernetKey.subarray(0, 16));
  const encryptionKey = createSecretKey(fernetKey.subarray(16));
  const recordKey = createSecretKey(macKey);
  const iv = new Uint8Array(16);
  randomFillSync(iv);
  let sink = 0;
  type KeySet = { signing: KeyObject; encryption: KeyObject; record: KeyObject };
  const sealUnder = (keys: KeySet) => {
    const cipher = createCipheriv('aes-128-cbc', keys.encryption, iv);
    sink += cipher.update(plaintext).length + cipher.final().length;
    sink += createHmac('sha256', keys.signing).update(signed).digest()[0]!;
    sink += createHmac('sha256', keys.record).update(macInput).digest()[0]!;
  };
  const oneKeySet: KeySet = { signing: signingKey, encryption: encryptionKey, record: recordKey };
  const sealPrimitives = () => sealUnder(oneKeySet);
  // The fan-out's: a key set for each of its channels, as each recipient's session has (random keys of their own,
  // made as the backend makes them), taken in turn as the fan-out takes its channels.
  const recipientKeys: KeySet[] = Array.from({ length: fanout }, () => ({
    signing: createSecretKey(randomBytes(16)),
    encryption: createSecretKey(randomBytes(16)),
    record: createSecretKey(randomBytes(32)),
  }));
  let recipient = 0;
  const recipientPrimitives = () => {
    const keys = recipientKeys[recipient]!;
    recipient = recipient + 1 === fanout ? 0 : recipient + 1;
    sealUnder(keys);
  };
  {
    const cipher = createCipheriv('aes-128-cbc', encryptionKey, iv);
    cipher.setAutoPadding(false);
    ciphertext.set(Buffer.concat([cipher.update(new Uint8Array(ciphertextLength)), cipher.final()]));
  }
  const openPrimitives = () => {
    sink += createHmac('sha256', recordKey).update(macInput).digest()[0]!;
    sink += createHmac('sha256', signingKey).update(signed).digest()[0]!;
    const decipher = createDecipheriv('aes-128-cbc', encryptionKey, iv);
    decipher.setAutoPadding(false);
    sink += decipher.update(ciphertext).length + decipher.final().length;
  };

  const timePrimitives = (operation: () => void): number => {
    const t = performance.now();
    for (let i = 0; i < batch; i++) operation();
    return ((performance.now() - t) * 1000) / batch;
  };
  // What the server does with a body: seal it into the frame's bytes for the socket (sealWire), in the memory its
  // session takes for a socket with nothing queued (server/frame-slab.ts: a line's one frame to each recipient, a
  // receipt); a tree from before sealWire existed seals the frame object and serializes it, as its session did.
  // A value is not awaited: over a synchronous backend there is no promise to wait for.
  const toWire = (channel: RecordChannel, input: unknown): unknown => {
    if ('sealWire' in channel) return channel.sealWire(input, slabFrame);
    const frame = (channel as RecordChannel).seal(input);
    return frame instanceof Promise ? frame.then((f) => utf8(JSON.stringify(f))) : utf8(JSON.stringify(frame));
  };
  const timeSeal = async (): Promise<number> => {
    const t = performance.now();
    for (let i = 0; i < batch; i++) {
      const wire = toWire(sender, body);
      if (wire instanceof Promise) await wire;
    }
    return ((performance.now() - t) * 1000) / batch;
  };
  const timeFanout = async (): Promise<number> => {
    const rounds = Math.max(1, Math.round(batch / fanout));
    const t = performance.now();
    for (let r = 0; r < rounds; r++) {
      const encoded = new EncodedBody(body);
      // As the relay does it: every seal started before any is awaited, and values not awaited at all (a
      // Promise.all over 1,000 values makes a promise and a microtask for each, which the relay does not).
      let pending: unknown[] | undefined;
      for (const channel of fans) {
        const wire = toWire(channel, encoded);
        if (wire instanceof Promise) (pending ??= []).push(wire);
      }
      if (pending) await Promise.all(pending);
    }
    return ((performance.now() - t) * 1000) / (rounds * fanout);
  };
  // The peer's frames for the next open batch and the channel that opens them, made by prepareOpen before the
  // batch's collection (shapes' `prepare`), so the batch pays for no garbage of their making.
  let opener: RecordChannel | undefined;
  let frames: RecordFrame[] = [];
  const prepareOpen = async (): Promise<void> => {
    const peer = new Channel(await keys(backend, fernetKey, macKey), sessionId, 'c2s');
    opener = new Channel(await keys(backend, fernetKey, macKey), sessionId, 's2c');
    frames = [];
    for (let i = 0; i < batch; i++) frames.push((await peer.seal(body)) as RecordFrame);
  };
  const timeOpen = async (): Promise<number> => {
    if (opener === undefined || frames.length !== batch) throw new Error('the open batch was not prepared');
    const t = performance.now();
    for (const frame of frames) {
      const body = opener.open(frame);
      if (body instanceof Promise) await body;
    }
    const us = ((performance.now() - t) * 1000) / batch;
    opener = undefined; // each batch opens the frames of its own peer once
    return us;
  };

  const shapes: Array<{
    id: RecordRow['id'];
    what: string;
    /** Made before each batch of ours and its collection: its inputs, not timed and not its garbage. */
    prepare?: () => Promise<void>;
    ours: () => Promise<number>;
    floor: () => void;
    /** A second floor timed beside the first, each batch, for the row's `oneKey`. */
    oneKeyFloor?: () => void;
  }> = [
    {
      id: 'seal',
      what: `seal a ${bodyBytes}-byte body into its frame's bytes, one at a time`,
      ours: timeSeal,
      floor: sealPrimitives,
    },
    {
      id: 'seal.fanout',
      what: `seal one ${bodyBytes}-byte body for ${fanout} channels (fan-out)`,
      ours: timeFanout,
      floor: recipientPrimitives,
      oneKeyFloor: sealPrimitives,
    },
    {
      id: 'open',
      what: `open a ${bodyBytes}-byte record, one at a time`,
      prepare: prepareOpen,
      ours: timeOpen,
      floor: openPrimitives,
    },
  ];
  const rows: RecordRow[] = [];
  for (const shape of shapes) {
    // Warm-up, not counted, for a time rather than a count: V8 compiles the hot functions on another thread, and
    // on a busy machine that took longer than one batch (RecordLayout alone 58 ms, `--trace-opt`), so the first
    // timed batches of the first shape ran unoptimized in some processes and not in others.
    for (const until = performance.now() + warmupMs; performance.now() < until;) {
      await shape.prepare?.();
      await shape.ours();
      timePrimitives(shape.floor);
      if (shape.oneKeyFloor) timePrimitives(shape.oneKeyFloor);
    }
    const pairs: Array<{ ours: number; floor: number; oneKey: number }> = [];
    for (let run = 0; run < runs; run++) {
      // Each batch starts from a collected heap and pays for the scavenges its own garbage causes: without this a
      // collection made due by one batch's garbage often landed in the next, the other side's, and the per-batch
      // ratios alternated high and low (0.5x-4.4x for the seal in one process, fifth pass).
      await shape.prepare?.();
      collectGarbage();
      const floor = timePrimitives(shape.floor);
      let oneKey = floor;
      if (shape.oneKeyFloor) {
        collectGarbage();
        oneKey = timePrimitives(shape.oneKeyFloor);
      }
      collectGarbage();
      const ours = await shape.ours();
      pairs.push({ ours, floor, oneKey });
    }
    rows.push({
      id: shape.id,
      what: shape.what,
      us: median(pairs.map((p) => p.ours)),
      primitivesUs: median(pairs.map((p) => p.floor)),
      ratio: median(pairs.map((p) => p.ours / p.floor)),
      range: {
        min: Math.min(...pairs.map((p) => p.ours / p.floor)),
        max: Math.max(...pairs.map((p) => p.ours / p.floor)),
      },
      runs,
      ...(shape.oneKeyFloor && {
        oneKey: {
          primitivesUs: median(pairs.map((p) => p.oneKey)),
          ratio: median(pairs.map((p) => p.ours / p.oneKey)),
          range: {
            min: Math.min(...pairs.map((p) => p.ours / p.oneKey)),
            max: Math.max(...pairs.map((p) => p.ours / p.oneKey)),
          },
        },
      }),
    });
  }
  if (sink === -1) console.log(sink);
  return rows;
}

export function formatRecordRows(rows: RecordRow[]): string {
  return rows
    .map(
      (r) =>
        `${r.what.padEnd(64)} ${r.us.toFixed(2).padStart(7)} us  primitives ${r.primitivesUs.toFixed(2).padStart(6)} us  ${r.ratio.toFixed(2)}x` +
        (r.oneKey ? `  (one key set: ${r.oneKey.primitivesUs.toFixed(2)} us, ${r.oneKey.ratio.toFixed(2)}x)` : ''),
    )
    .join('\n');
}

/**
 * Another tree's RecordChannel and node:crypto backend (a checkout of an older commit, e.g. made with
 * `git archive COMMIT | tar -x -C DIR` and node_modules linked in), for a before/after comparison in one process.
 */
async function loadTree(dir: string): Promise<{ Channel: typeof RecordChannel; backend: CryptoBackend }> {
  const { existsSync } = await import('node:fs');
  const { resolve } = await import('node:path');
  const record = (await import(pathToFileURL(resolve(dir, 'shared/record.ts')).href)) as {
    RecordChannel: typeof RecordChannel;
  };
  const fernetFile = ['server/node-fernet.ts', 'server/node-crypto.ts']
    .map((f) => resolve(dir, f))
    .find((f) => existsSync(f));
  if (!fernetFile) throw new Error(`${dir} has no server/node-fernet.ts or server/node-crypto.ts`);
  const node = (await import(pathToFileURL(fernetFile).href)) as { nodeCryptoBackend: CryptoBackend };
  return { Channel: record.RecordChannel, backend: node.nodeCryptoBackend };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const value = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  if (args.includes('--help') || args.includes('-h')) {
    console.log(`usage: npx tsx tools/bench/record.ts [--runs N] [--batch N] [--against DIR [--rounds N]]

RecordChannel seal and open (node:crypto) against their primitives timed alone.
  --against DIR  also time DIR's RecordChannel and backend (an older tree), alternating with this one N rounds
                 (default 3), and print both and the new/old ratio per row`);
    process.exit(0);
  }
  const options: RecordBenchOptions = {};
  if (value('--runs')) options.runs = Number(value('--runs'));
  if (value('--batch')) options.batch = Number(value('--batch'));
  const against = value('--against');
  if (!against) {
    console.log(formatRecordRows(await benchRecord(options)));
  } else {
    const old = await loadTree(against);
    const rounds = Number(value('--rounds') ?? 3);
    const before: RecordRow[][] = [];
    const after: RecordRow[][] = [];
    for (let round = 0; round < rounds; round++) {
      before.push(await benchRecord({ ...options, ...old }));
      after.push(await benchRecord(options));
      console.error(
        `round ${round + 1} of ${rounds}: before ${before
          .at(-1)!
          .map((r) => r.ratio.toFixed(2))
          .join(' ')}, after ${after
          .at(-1)!
          .map((r) => r.ratio.toFixed(2))
          .join(' ')}`,
      );
    }
    const range = (values: number[], digits = 2) =>
      `${median(values).toFixed(digits)} [${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)}]`;
    for (const [i, row] of after[0]!.entries()) {
      const b = before.map((run) => run[i]!);
      const a = after.map((run) => run[i]!);
      console.log(row.what);
      console.log(
        `  before ${range(
          b.map((r) => r.us),
          1,
        )} us, ${range(b.map((r) => r.ratio))}x its primitives`,
      );
      console.log(
        `  after  ${range(
          a.map((r) => r.us),
          1,
        )} us, ${range(a.map((r) => r.ratio))}x its primitives`,
      );
      console.log(`  after/before per round: ${range(a.map((r, k) => r.us / b[k]!.us))}`);
    }
  }
}
