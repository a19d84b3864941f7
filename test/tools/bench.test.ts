/**
 * `npm run bench`: the quick run has every row, and every figure in it is a finite positive number. No time is
 * asserted: the figures depend on the machine and on what else runs on it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { BenchResult } from '../../tools/bench.ts';
import { benchRecord } from '../../tools/bench/record.ts';
import { CHROMIUM } from '../helpers/browser.ts';
import { ROOT } from '../helpers/process.ts';

const p = (prefix: string, ids: string[]) => ids.flatMap((id) => [`${prefix}.${id}.p50`, `${prefix}.${id}.p99`]);

const ROWS = [
  'handshake.node.p50',
  'handshake.node.p99',
  ...p('handshake.node', ['server', 'verify', 'unwrap']),
  'handshake.node.keypair.p50',
  ...p('handshake.server', ['import', 'wrap', 'sign']),
  'handshake.chromium.p50',
  'handshake.chromium.p99',
  ...['load', 'making', 'only-making', 'after', 'keypair', 'socket', 'server', 'verify', 'unwrap'].map((id) => `handshake.chromium.${id}.p50`),
  'handshake.rate',
  'handshake.rate.cpu',
  ...p('roundtrip', ['secure', 'plain']),
  ...['1', '10', '100'].flatMap((n) => [`throughput.${n}`, `throughput.${n}.cpu`]),
  'fanout',
  'memory',
  ...['node', 'web'].flatMap((who) =>
    [100, 16384, 65536].flatMap((bytes) => [`codec.${who}.${bytes}.encode`, `codec.${who}.${bytes}.decode`]),
  ),
  ...['seal', 'seal.fanout', 'open'].map((op) => `record.node.${op}`),
];

/** The rows that carry one of issue 7's targets. */
const TARGETED = ['handshake.rate', 'handshake.chromium.p50', 'roundtrip.secure.p50', 'throughput.1', 'throughput.10', 'throughput.100', 'fanout', 'memory', 'record.node.seal', 'record.node.seal.fanout', 'record.node.open'];

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'bench', '--', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`npm run bench ${args.join(' ')} took more than ${timeoutMs} ms; stderr:\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const positive = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value > 0;

describe('npm run bench', () => {
  it('times a seal and an open against their primitives (tools/bench/record.ts)', async () => {
    // Every timed open checks what it opens, so a broken channel throws here instead of timing nothing.
    const rows = await benchRecord({ runs: 2, batch: 20, fanout: 5 });
    assert.deepEqual(rows.map((r) => r.id), ['seal', 'seal.fanout', 'open']);
    for (const row of rows) {
      assert.ok(positive(row.us) && positive(row.primitivesUs) && positive(row.ratio), `${row.id}: ${JSON.stringify(row)}`);
      assert.equal(row.runs, 2);
    }
  });

  it('prints every row with finite positive figures (--quick --json)', { skip: !existsSync(CHROMIUM) && `no Chromium at ${CHROMIUM}`, timeout: 240_000 }, async () => {
    const { code, stdout, stderr } = await run(['--quick', '--json'], 230_000);
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout) as BenchResult;
    assert.deepEqual(result.rows.map((r) => r.id).sort(), [...ROWS].sort());
    for (const row of result.rows) {
      assert.ok(positive(row.value), `${row.id}: value ${row.value}`);
      assert.ok(row.unit.length > 0 && row.what.length > 0, row.id);
      assert.ok(Number.isInteger(row.runs) && row.runs >= 1, `${row.id}: runs ${row.runs}`);
      if (row.baseline) {
        assert.ok(positive(row.baseline.value), `${row.id}: baseline ${row.baseline.value}`);
        assert.ok(positive(row.ratio), `${row.id}: ratio ${row.ratio}`);
      }
    }
    for (const id of TARGETED) {
      const row = result.rows.find((r) => r.id === id)!;
      assert.ok(row.baseline, `${id} has a baseline`);
      assert.ok(row.target, `${id} has a target`);
      assert.ok(positive(row.target.bound), id);
      // Met or not is the machine's business; a miss must say by how much.
      assert.equal(typeof row.target.met, 'boolean');
      if (!row.target.met) assert.match(row.target.miss ?? '', /\d/);
    }
    assert.equal(result.quick, true);
  });

  it('answers --help and refuses unknown options and sections', () => {
    const help = spawnSync('npx', ['tsx', 'tools/bench.ts', '--help'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--only NAME/);
    assert.match(help.stdout, /--quick/);
    const section = spawnSync('npx', ['tsx', 'tools/bench.ts', '--only', 'nonsense'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(section.status, 2);
    assert.match(section.stderr, /--only takes one of handshake/);
    const option = spawnSync('npx', ['tsx', 'tools/bench.ts', '--fast'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(option.status, 2);
    assert.match(option.stderr, /unknown option --fast/);
  });
});
