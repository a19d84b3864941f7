/**
 * What one idle connection holds on the server's JS heap: a bench server child (tools/bench/server.ts) takes a
 * heap snapshot, N connections make their handshake and stay open, idle, and it takes another; the difference is
 * shown per connection, by what V8 calls each object (constructor names for objects; strings, closures, code and
 * arrays by kind). Native memory outside V8's heap (OpenSSL's keys, socket buffers) is not in a snapshot: the
 * RSS line says how much the process grew in all.
 *
 *   npx tsx tools/bench/heap-diff.ts [--mode sessions|echo|secure] [--count N] [--top N]
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandLine, runAsCommand, UsageError, usage, wholeNumber } from '../../server/command-line.ts';
import { generateClientKeyPair } from '../../shared/handshake.ts';
import { helloOnly, publicKeyText, ServerChild } from './net.ts';

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface HeapGroup {
  /** "Object name" for objects, "(kind)" for V8's own kinds (strings, closures, code, arrays...). */
  what: string;
  count: number;
  bytes: number;
}

/** Self sizes and counts of a snapshot's nodes, grouped by what they are. */
export function heapGroups(snapshot: HeapSnapshot): Map<string, { count: number; bytes: number }> {
  const fields = snapshot.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = snapshot.snapshot.meta.node_types[0];
  const groups = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const type = types[snapshot.nodes[i + typeAt]!]!;
    const name = snapshot.strings[snapshot.nodes[i + nameAt]!]!;
    const key = type === 'object' || type === 'native' ? name : `(${type})`;
    const group = groups.get(key) ?? { count: 0, bytes: 0 };
    group.count++;
    group.bytes += snapshot.nodes[i + sizeAt]!;
    groups.set(key, group);
  }
  return groups;
}

/** What grew between two snapshots, per connection, largest first. */
export function perConnectionGrowth(
  before: Map<string, { count: number; bytes: number }>,
  after: Map<string, { count: number; bytes: number }>,
  connections: number,
): HeapGroup[] {
  const out: HeapGroup[] = [];
  for (const [what, a] of after) {
    const b = before.get(what) ?? { count: 0, bytes: 0 };
    out.push({ what, count: (a.count - b.count) / connections, bytes: (a.bytes - b.bytes) / connections });
  }
  return out.sort((x, y) => y.bytes - x.bytes);
}

const COMMAND = 'npx tsx tools/bench/heap-diff.ts';

const HELP = `${COMMAND} [--mode sessions|echo|secure] [--count N] [--top N]: what one idle connection holds on the
bench server's JS heap (a heap snapshot before and after N connections made their handshake), per connection.

  --mode M     sessions (secure ServerSessions, the memory row's server), echo (its bare ws baseline) or secure
               (the whole server: admission, relay, presence; each tab joins the chat); default sessions
  --count N    connections to open (default 1000)
  --top N      how many kinds of object to list (default 25)
  -h, --help   this text`;

type Mode = 'sessions' | 'echo' | 'secure';

async function measure(mode: Mode, count: number, top: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'wirechat-heap-'));
  const publicKey = await publicKeyText(await generateClientKeyPair());
  const server = await ServerChild.start(mode, { maxConnections: count + 100 });
  const sockets: Array<{ terminate(): void }> = [];
  try {
    // The echo server answers with a welcome-sized message, as in the memory row.
    if (mode === 'echo') await server.request({ cmd: 'sizes', forwardBytes: 0, replyBytes: 1200 });
    for (let i = 0; i < 50; i++) (await helloOnly(server.wsUrl, publicKey)).ws.terminate();
    await server.waitForConnections(0);
    const rssBefore = (await server.request({ cmd: 'memory' })).rss;
    await server.request({ cmd: 'snapshot', path: join(dir, 'before.heapsnapshot') });
    for (let i = 0; i < count; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, count - i) }, () => helloOnly(server.wsUrl, publicKey)),
      );
      sockets.push(...batch.map((b) => b.ws));
    }
    await server.waitForConnections(count);
    const rssAfter = (await server.request({ cmd: 'memory' })).rss;
    await server.request({ cmd: 'snapshot', path: join(dir, 'after.heapsnapshot') });
    const read = async (name: string) =>
      heapGroups(JSON.parse(await readFile(join(dir, name), 'utf8')) as HeapSnapshot);
    const growth = perConnectionGrowth(await read('before.heapsnapshot'), await read('after.heapsnapshot'), count);
    const heap = growth.reduce((sum, g) => sum + g.bytes, 0);
    console.log(`${mode}: ${count} idle connections`);
    console.log(`  RSS per connection:       ${((rssAfter - rssBefore) / count).toFixed(0)} bytes`);
    console.log(`  JS heap per connection:   ${heap.toFixed(0)} bytes (the rest of RSS is native: keys, sockets)`);
    for (const g of growth.slice(0, top)) {
      console.log(`  ${g.bytes.toFixed(0).padStart(7)} B  ${g.count.toFixed(2).padStart(6)} x  ${g.what}`);
    }
  } finally {
    for (const ws of sockets) ws.terminate();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const parsed = commandLine(
    COMMAND,
    HELP,
    { mode: { type: 'string' }, count: { type: 'string' }, top: { type: 'string' } },
    { positionals: false },
  );
  if ('exit' in parsed) return parsed.exit;
  let mode: Mode;
  let count: number;
  let top: number;
  try {
    const m = parsed.values.mode ?? 'sessions';
    if (m !== 'sessions' && m !== 'echo' && m !== 'secure') throw new UsageError('--mode is sessions, echo or secure');
    mode = m;
    count = wholeNumber(parsed.values.count, '--count', 1000, 1, 20_000);
    top = wholeNumber(parsed.values.top, '--top', 25, 1, 10_000);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(usage(COMMAND, error.message));
    return 2;
  }
  await measure(mode, count, top);
  return 0;
}

runAsCommand(import.meta.url, main);
