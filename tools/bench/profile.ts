/**
 * Reads a V8 CPU profile (`node --cpu-prof`, or `npm run bench -- --cpu-prof DIR`) and prints where the time went:
 * the functions with the most self time, and the project's functions with the most total time (self plus what
 * they called), each as a share of all samples.
 *
 *   npx tsx tools/bench/profile.ts FILE.cpuprofile [--top N]
 */
import { readFileSync } from 'node:fs';
import { commandLine, runAsCommand, UsageError, usage, wholeNumber } from '../../server/command-line.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface Share {
  name: string;
  where: string;
  share: number;
}

function label(node: ProfileNode): { name: string; where: string } {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/(node_modules\/)/, '$1')
    .replace(/^\/.*?\/((?:shared|server|tools|web)\/)/, '$1');
  return { name: functionName || '(anonymous)', where: file ? `${file}:${lineNumber + 1}` : '' };
}

/** Self and total time per function (summed over every place it appears in the call tree), as shares. */
export function summarize(profile: Profile): { self: Share[]; total: Share[]; samples: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const weight = new Map<number, number>();
  profile.samples.forEach((id, i) => weight.set(id, (weight.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  let all = 0;
  for (const w of weight.values()) all += w;
  const self = new Map<string, Share>();
  const total = new Map<string, Share>();
  for (const [id, w] of weight) {
    const node = byId.get(id)!;
    const { name, where } = label(node);
    const key = `${name} ${where}`;
    const s = self.get(key) ?? { name, where, share: 0 };
    s.share += w / all;
    self.set(key, s);
    // Every distinct function on the stack gets the sample once (recursion is not counted twice).
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const l = label(byId.get(at)!);
      const k = `${l.name} ${l.where}`;
      if (seen.has(k)) continue;
      seen.add(k);
      const t = total.get(k) ?? { ...l, share: 0 };
      t.share += w / all;
      total.set(k, t);
    }
  }
  const sorted = (m: Map<string, Share>) => [...m.values()].sort((a, b) => b.share - a.share);
  return { self: sorted(self), total: sorted(total), samples: profile.samples.length };
}

const COMMAND = 'npx tsx tools/bench/profile.ts';

const HELP = `${COMMAND} FILE.cpuprofile... [--top N]: where a V8 CPU profile's time went.

  --top N      how many functions each list shows (default 25)
  -h, --help   this text`;

function main(): number {
  const parsed = commandLine(COMMAND, HELP, { top: { type: 'string' } }, { positionals: true });
  if ('exit' in parsed) return parsed.exit;
  let top: number;
  try {
    top = wholeNumber(parsed.values.top, '--top', 25, 1, 10_000);
    if (parsed.positionals.length === 0) throw new UsageError('give it one or more .cpuprofile files');
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(usage(COMMAND, error.message));
    return 2;
  }
  const pct = (s: number) => `${(s * 100).toFixed(1).padStart(5)}%`;
  for (const file of parsed.positionals) {
    const { self, total, samples } = summarize(JSON.parse(readFileSync(file, 'utf8')) as Profile);
    console.log(`${file}: ${samples} samples\n\nself time:`);
    for (const s of self.slice(0, top)) console.log(`  ${pct(s.share)}  ${s.name}  ${s.where}`);
    console.log('\ntotal time, project code (shared/, server/, tools/):');
    for (const s of total.filter((t) => /^(shared|server|tools)\//.test(t.where)).slice(0, top)) {
      console.log(`  ${pct(s.share)}  ${s.name}  ${s.where}`);
    }
    console.log('');
  }
  return 0;
}

runAsCommand(import.meta.url, main);
