/**
 * `--workers N` (with `--redis`): one command, N relay processes on this machine sharing one port, so that the
 * machine's cores seal for its tabs (docs/cluster.md). Node's `cluster` module forks the workers and shares the
 * listening socket: each new connection goes to one of them (round robin, except on Windows).
 *
 * The primary process is the operator's: it serves no tab itself, but joins the chat as one more relay (a
 * console with no tabs), so its console shows every line of every worker once, and /who, /msg, /kick and END
 * reach every worker through Redis as they reach any relay. The workers are relays with no console of their own:
 * what the chat says (joins, leaves, lines) reaches the operator through Redis, and what a worker alone knows
 * (its alerts: an internal error, Redis lost from its side, a tab's handshake failing) comes to the primary over
 * node:cluster's IPC channel, as does whatever it writes to stderr (a failed start, a crash's stack): the primary
 * prints both on its console, labelled with the worker and escaped as any untrusted text is (shared/text.ts).
 *
 * A worker that dies is started again; its tabs reconnect at once, through the shared port, to the others. One
 * that stops again soon after its start (a crash loop: Redis unreachable, a port refused) is tried again after 1,
 * 2 and 4 s, then given up; when none is left, the server says so and exits 1 rather than loop forever.
 */
import nodeCluster, { type Worker } from 'node:cluster';
import type { Readable } from 'node:stream';
import { PassThrough, Writable } from 'node:stream';
import { printable } from '../shared/text.ts';
import type { ServerOptions } from './options.ts';

/** This process is a worker that `startWorkers` forked. */
export function isWorker(): boolean {
  return nodeCluster.isWorker;
}

/** A worker's console: no input, and output that goes nowhere (the primary's console shows the chat). */
export function quietConsole(): { input: PassThrough; output: Writable } {
  return { input: new PassThrough(), output: new Writable({ write: (_chunk, _encoding, done) => done() }) };
}

/** What a worker tells the primary over IPC: one of its console's alerts. */
interface WorkerReport {
  wirechat: 'alert';
  text: string;
}

function isReport(message: unknown): message is WorkerReport {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as WorkerReport).wirechat === 'alert' &&
    typeof (message as WorkerReport).text === 'string'
  );
}

/**
 * In a worker: its console's alerts go to the primary (its own console prints nowhere). Before the IPC channel
 * is up, or once it is gone, they go to stderr, which the primary reads too.
 */
export function reportToPrimary(console: { alert(text: string): void }): void {
  console.alert = (text: string) => {
    const report: WorkerReport = { wirechat: 'alert', text };
    if (process.connected && process.send) process.send(report);
    else process.stderr.write(`wirechat: ${text}\n`);
  };
}

/** How long, and how many lines, of a worker's stdout and stderr the primary shows (a stack is a few dozen). */
const WORKER_OUTPUT_LINES = 40;
const LINE_CHARS = 500;
/** How long the primary waits for the same alert from other workers, to print it once. */
const REPORT_GATHER_MS = 250;

/**
 * A worker's stdout and stderr, line by line, to `say` (at most WORKER_OUTPUT_LINES of them); `last` keeps the
 * latest line for the error of a worker that could not start.
 */
function readOutput(stream: Readable | null | undefined, say: (line: string) => void, last: { line: string }): void {
  if (!stream) return;
  let partial = '';
  let shown = 0;
  stream.setEncoding('utf8');
  const line = (text: string) => {
    if (text.trim() === '') return;
    last.line = text.replace(/^wirechat: /, '');
    if (shown < WORKER_OUTPUT_LINES) say(printable(text, LINE_CHARS));
    else if (shown === WORKER_OUTPUT_LINES) say(`(more of its output not shown)`);
    shown += 1;
  };
  stream.on('data', (chunk: string) => {
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    // A line that never ends is cut, not kept growing.
    if (partial.length > LINE_CHARS * 4) {
      lines.push(partial);
      partial = '';
    }
    lines.forEach(line);
  });
  stream.on('end', () => line(partial));
}

export interface Workers {
  url: string;
  port: number;
  /** A line for the banner. */
  banner: string;
  /** Stops every worker: at once (SIGTERM) or, after END, once each has ended its tabs' chat (at most `graceMs`). */
  close(graceMs?: number): Promise<void>;
}

/** How long a worker that stopped is left before it is started again. */
const RESTART_DELAY_MS = 1_000;
/** A worker that stops within this of its start failed to start (a crash loop, not a crash)... */
export const QUICK_EXIT_MS = 10_000;
/** ...and is tried again after each of these in turn, then given up. */
export const RETRY_DELAYS_MS = [1_000, 2_000, 4_000];

/**
 * Forks `options.workers` relays running this same command, and resolves once each listens; rejects when one
 * stops before then (with what it said). `say` tells the operator of a worker that died (it is started again),
 * of its replacement, and of what a worker reports; `allGone` that no worker is left (each kept failing to start).
 */
export async function startWorkers(
  options: ServerOptions,
  url: (port: number) => string,
  say: { alert(text: string): void; notice(text: string): void },
  allGone: (text: string) => void = () => undefined,
): Promise<Workers> {
  const alert = (text: string) => say.alert(text);
  const count = options.workers ?? 1;
  let closing = false;
  const live = new Set<Worker>();
  /** Restarts waiting for their delay. */
  let pending = 0;
  /** Each worker's latest line of output, and when its output has all been read (at most a second after it exits). */
  const outputs = new Map<Worker, { last: { line: string }; read: () => Promise<unknown> }>();
  // The same alert from several workers at once (Redis lost, seen by each) is printed once, with every pid.
  const reported = new Map<string, number[]>();
  const report = (pid: number | undefined, text: string) => {
    const pids = reported.get(text);
    if (pids) return void pids.push(pid ?? 0);
    reported.set(text, [pid ?? 0]);
    setTimeout(() => {
      const all = reported.get(text)!;
      reported.delete(text);
      alert(`relay worker${all.length > 1 ? 's' : ''} ${all.join(', ')}: ${printable(text, LINE_CHARS)}`);
    }, REPORT_GATHER_MS).unref();
  };
  // Piped, not inherited: the primary labels what each worker says and prints it on its console.
  nodeCluster.setupPrimary({ silent: true });
  const fork = (failures = 0, replacing?: number): Worker => {
    const worker = nodeCluster.fork({ WIRECHAT_WORKER: '1' });
    const forkedAt = Date.now();
    let listened = false;
    const last = { line: '' };
    const drained = new Promise<void>((resolve) => worker.process.once('close', () => resolve()));
    const read = () => Promise.race([drained, new Promise((resolve) => setTimeout(resolve, 1_000))]);
    outputs.set(worker, { last, read });
    const label = `relay worker ${worker.process.pid}`;
    live.add(worker);
    worker.on('listening', () => {
      listened = true;
      if (replacing !== undefined) say.notice(`${label} serves in place of ${replacing}`);
    });
    worker.on('message', (message: unknown) => {
      if (isReport(message)) report(worker.process.pid, message.text);
    });
    readOutput(worker.process.stdout, (line) => alert(`${label}: ${line}`), last);
    readOutput(worker.process.stderr, (line) => alert(`${label}: ${line}`), last);
    worker.on('exit', (code, signal) => {
      live.delete(worker);
      // What it said before it stopped is printed first.
      void read().then(() => stopped(code, signal));
    });
    const stopped = (code: number, signal: string | null) => {
      outputs.delete(worker);
      if (closing || !started) return;
      const why = signal ?? `exit ${code}`;
      const quick = !listened || Date.now() - forkedAt < QUICK_EXIT_MS;
      const failed = quick ? failures + 1 : 0;
      if (failed > RETRY_DELAYS_MS.length) {
        alert(
          `${label} stopped (${why}); it stopped within ${QUICK_EXIT_MS / 1000} s of its start ${failed} times in a row: not starting it again (${live.size} of ${count} workers serve)`,
        );
        if (live.size === 0 && pending === 0)
          allGone(
            `no relay worker is left: each stopped within ${QUICK_EXIT_MS / 1000} s of its start ${failed} times in a row (what they said is above)`,
          );
        return;
      }
      const delay = failed === 0 ? RESTART_DELAY_MS : RETRY_DELAYS_MS[failed - 1]!;
      const retry = ` in ${delay / 1000} s (try ${failed} of ${RETRY_DELAYS_MS.length}: it stopped within ${QUICK_EXIT_MS / 1000} s of its start)`;
      alert(
        listened
          ? `${label} stopped (${why}); its tabs reconnect to the others; starting a new one${failed === 0 ? '' : retry}`
          : `${label} stopped (${why}) before it listened; starting a new one${retry}`,
      );
      pending += 1;
      setTimeout(() => {
        pending -= 1;
        if (!closing) fork(failed, worker.process.pid);
      }, delay).unref();
    };
    return worker;
  };
  /** Set once every first worker listens: before that, a worker that stops fails the start instead. */
  let started = false;
  const listening = new Promise<number>((resolve, reject) => {
    let ready = 0;
    const onListening = (_worker: Worker, address: { port: number }) => {
      ready += 1;
      if (ready === count) {
        nodeCluster.off('listening', onListening);
        nodeCluster.off('exit', onEarlyExit);
        resolve(address.port);
      }
    };
    const onEarlyExit = (worker: Worker, code: number, signal: string | null) => {
      nodeCluster.off('listening', onListening);
      nodeCluster.off('exit', onEarlyExit);
      const output = outputs.get(worker);
      void (output?.read() ?? Promise.resolve()).then(() =>
        reject(
          new Error(
            `relay worker ${worker.process.pid} stopped (${signal ?? `exit ${code}`}) before it listened` +
              (output?.last.line ? `: ${printable(output.last.line, LINE_CHARS)}` : ''),
          ),
        ),
      );
    };
    nodeCluster.on('listening', onListening);
    nodeCluster.on('exit', onEarlyExit);
  });
  for (let i = 0; i < count; i++) fork();
  let port: number;
  try {
    port = await listening;
    started = true;
  } catch (error) {
    closing = true;
    for (const worker of live) worker.kill('SIGTERM');
    throw error;
  }
  return {
    url: url(port),
    port,
    banner: `  workers     ${count} relay processes share port ${port} (pids ${[...live].map((w) => w.process.pid).join(', ')}); this console is one more relay of the chat, with no tabs`,
    async close(graceMs = 0) {
      closing = true;
      const exited = [...live].map(
        (worker) =>
          new Promise<void>((resolve) => (worker.isDead() ? resolve() : worker.once('exit', () => resolve()))),
      );
      const all = Promise.all(exited);
      if (graceMs > 0) await Promise.race([all, new Promise((resolve) => setTimeout(resolve, graceMs))]);
      for (const worker of live) if (!worker.isDead()) worker.kill('SIGTERM');
      const hard = setTimeout(() => {
        for (const worker of live) if (!worker.isDead()) worker.kill('SIGKILL');
      }, 5_000);
      await all;
      clearTimeout(hard);
    },
  };
}
