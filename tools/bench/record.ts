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
 * opening one at a time. Batches of each alternate with batches of the primitives; the ratio is the median of
 * the per-batch ratios.
 *
 *   npx tsx tools/bench/record.ts [--runs N] [--batch N]
 */
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomFillSync } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { fromBase64Url, randomBytes } from '../../shared/bytes.ts';
import type { CryptoBackend } from '../../shared/crypto-backend.ts';
import { EncodedBody, RecordChannel, recordMacInput, type SessionKeys } from '../../shared/record.ts';
import type { RecordFrame } from '../../shared/protocol.ts';
import { nodeCryptoBackend } from '../../server/node-fernet.ts';

export interface RecordBenchOptions {
  /** Batches of each kind; each figure is the median over them. */
  runs?: number;
  /** Records per batch. */
  batch?: number;
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
  runs: number;
}

export const PRIMITIVES = "2 createHmac('sha256') + createCipheriv('aes-128-cbc'), KeyObjects, same sizes, timed alone";

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
  const sample = (await new Channel(await keys(backend, fernetKey, macKey), sessionId, 's2c').seal(body)) as RecordFrame;
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
  const sealPrimitives = () => {
    const cipher = createCipheriv('aes-128-cbc', encryptionKey, iv);
    sink += cipher.update(plaintext).length + cipher.final().length;
    sink += createHmac('sha256', signingKey).update(signed).digest()[0]!;
    sink += createHmac('sha256', recordKey).update(macInput).digest()[0]!;
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
  const timeSeal = async (): Promise<number> => {
    const t = performance.now();
    for (let i = 0; i < batch; i++) await sender.seal(body);
    return ((performance.now() - t) * 1000) / batch;
  };
  const timeFanout = async (): Promise<number> => {
    const rounds = Math.max(1, Math.round(batch / fanout));
    const t = performance.now();
    for (let r = 0; r < rounds; r++) {
      const encoded = new EncodedBody(body);
      await Promise.all(fans.map((channel) => channel.seal(encoded)));
    }
    return ((performance.now() - t) * 1000) / (rounds * fanout);
  };
  const timeOpen = async (): Promise<number> => {
    // The peer's frames for this batch, made before the clock starts.
    const peer = new Channel(await keys(backend, fernetKey, macKey), sessionId, 'c2s');
    const opener = new Channel(await keys(backend, fernetKey, macKey), sessionId, 's2c');
    const frames: RecordFrame[] = [];
    for (let i = 0; i < batch; i++) frames.push((await peer.seal(body)) as RecordFrame);
    const t = performance.now();
    for (const frame of frames) await opener.open(frame);
    return ((performance.now() - t) * 1000) / batch;
  };

  const shapes: Array<{ id: RecordRow['id']; what: string; ours: () => Promise<number>; floor: () => void }> = [
    { id: 'seal', what: `seal a ${bodyBytes}-byte body, one at a time`, ours: timeSeal, floor: sealPrimitives },
    { id: 'seal.fanout', what: `seal one ${bodyBytes}-byte body for ${fanout} channels at once (fan-out)`, ours: timeFanout, floor: sealPrimitives },
    { id: 'open', what: `open a ${bodyBytes}-byte record, one at a time`, ours: timeOpen, floor: openPrimitives },
  ];
  const rows: RecordRow[] = [];
  for (const shape of shapes) {
    // Warm-up, not counted.
    await shape.ours();
    timePrimitives(shape.floor);
    const pairs: Array<{ ours: number; floor: number }> = [];
    for (let run = 0; run < runs; run++) {
      const floor = timePrimitives(shape.floor);
      const ours = await shape.ours();
      pairs.push({ ours, floor });
    }
    rows.push({
      id: shape.id,
      what: shape.what,
      us: median(pairs.map((p) => p.ours)),
      primitivesUs: median(pairs.map((p) => p.floor)),
      ratio: median(pairs.map((p) => p.ours / p.floor)),
      runs,
    });
  }
  if (sink === -1) console.log(sink);
  return rows;
}

export function formatRecordRows(rows: RecordRow[]): string {
  return rows
    .map((r) => `${r.what.padEnd(64)} ${r.us.toFixed(2).padStart(7)} us  primitives ${r.primitivesUs.toFixed(2).padStart(6)} us  ${r.ratio.toFixed(2)}x`)
    .join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const value = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : undefined;
  };
  if (args.includes('--help') || args.includes('-h')) {
    console.log('usage: npx tsx tools/bench/record.ts [--runs N] [--batch N]\n\nRecordChannel seal and open (node:crypto) against their primitives timed alone.');
    process.exit(0);
  }
  const options: RecordBenchOptions = {};
  if (value('--runs')) options.runs = value('--runs')!;
  if (value('--batch')) options.batch = value('--batch')!;
  console.log(formatRecordRows(await benchRecord(options)));
}
