/**
 * `--workers N` (with `--redis`): one command, N relay processes on this machine sharing one port, so that the
 * machine's cores seal for its tabs (docs/cluster.md). Node's `cluster` module forks the workers and shares the
 * listening socket: each new connection goes to one of them (round robin, except on Windows).
 *
 * The primary process is the operator's: it serves no tab itself, but joins the chat as one more relay (a
 * console with no tabs), so its console shows every line of every worker once, and /who, /msg, /kick and END
 * reach every worker through Redis as they reach any relay. The workers are relays with no console of their own
 * (their output goes nowhere; what they must say reaches the operator through Redis: joins, leaves, lines). A
 * worker that dies is started again; its tabs reconnect at once, through the shared port, to the others.
 */
import nodeCluster, { type Worker } from 'node:cluster';
import { PassThrough, Writable } from 'node:stream';
import type { ServerOptions } from './options.ts';

/** This process is a worker that `startWorkers` forked. */
export function isWorker(): boolean {
  return nodeCluster.isWorker;
}

/** A worker's console: no input, and output that goes nowhere (the primary's console shows the chat). */
export function quietConsole(): { input: PassThrough; output: Writable } {
  return { input: new PassThrough(), output: new Writable({ write: (_chunk, _encoding, done) => done() }) };
}

export interface Workers {
  url: string;
  port: number;
  /** A line for the banner. */
  banner: string;
  /** Stops every worker: at once (SIGTERM) or, after END, once each has ended its tabs' chat (at most `graceMs`). */
  close(graceMs?: number): Promise<void>;
}

/** How long a worker that keeps dying at once is left alone before it is started again. */
const RESTART_DELAY_MS = 1_000;

/**
 * Forks `options.workers` relays running this same command, and resolves once each listens. `alert` tells the
 * operator of a worker that died (it is started again).
 */
export async function startWorkers(
  options: ServerOptions,
  url: (port: number) => string,
  alert: (text: string) => void,
): Promise<Workers> {
  const count = options.workers ?? 1;
  let closing = false;
  const live = new Set<Worker>();
  nodeCluster.setupPrimary({ silent: false });
  const fork = (): Worker => {
    const worker = nodeCluster.fork({ WIRECHAT_WORKER: '1' });
    live.add(worker);
    worker.on('exit', (code, signal) => {
      live.delete(worker);
      if (closing) return;
      alert(
        `relay worker ${worker.process.pid} stopped (${signal ?? `exit ${code}`}); its tabs reconnect to the others; starting a new one`,
      );
      setTimeout(() => {
        if (!closing) fork();
      }, RESTART_DELAY_MS).unref();
    });
    return worker;
  };
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
    const onEarlyExit = (worker: Worker, code: number) => {
      nodeCluster.off('listening', onListening);
      nodeCluster.off('exit', onEarlyExit);
      reject(
        new Error(
          `a relay worker (${worker.process.pid}) exited with status ${code} before it listened; its error is above`,
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
