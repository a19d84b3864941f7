/**
 * `npm run bench` as a test runs it: the command with its output collected and a deadline, and the rows of the
 * sections both test/tools/bench.test.ts (no browser) and test/e2e/bench.test.ts (all of it) expect.
 */
import { spawn } from 'node:child_process';
import { ROOT } from './process.ts';

export const CODEC_ROWS = ['node', 'web'].flatMap((who) =>
  [100, 16384, 65536].flatMap((bytes) => [`codec.${who}.${bytes}.encode`, `codec.${who}.${bytes}.decode`]),
);
export const RECORD_ROWS = ['seal', 'seal.fanout', 'open'].map((op) => `record.node.${op}`);
/** The fan-out against its primitives under one key set, beside its row (the floor before the eighth pass): no target. */
export const RECORD_ONE_KEY_ROW = 'record.node.seal.fanout.one-key';
export const LOG_ROWS = ['floor', 'memory', 'memory-sealed', 'sqlite-normal', 'sqlite-full'].flatMap((store) => [
  `log.${store}.single`,
  `log.${store}.burst`,
]);

/** `npm run bench -- ARGS`, killed (and the test failed) after `timeoutMs`. */
export function runBench(
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'bench', '--', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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

export const positive = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value > 0;
