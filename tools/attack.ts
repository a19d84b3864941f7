/**
 * The attacker of `npm run load -- --attack MODE`: one address that tries to take every seat of a server. It runs
 * in a child process of its own (started by tools/load.ts), so that its work does not share the event loop of the
 * server or of the honest tabs being measured. Modes, each keeping up to `sockets` connections going, and opening
 * a new one whenever one closes, for as long as it runs:
 *
 *   hold    upgraded sockets that never say hello (each is closed by the handshake timeout, then opened again)
 *   hello   sockets that send a hello, all with one public key and one nonce, and stay joined: no crypto on the
 *           attacker's side at all, while the server wraps, signs and announces a join for each
 *   join    hello, and close as soon as the welcome comes: a stream of joins and leaves for the room to hear
 *
 * Bounded: at most MAX_SOCKETS connections at once and MAX_SECONDS of running, whatever it is asked.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { toBase64Url } from '../shared/bytes.ts';
import { PROTOCOL_VERSION, type HelloFrame } from '../shared/protocol.ts';
import { isCommand } from '../server/command-line.ts';

export type AttackMode = 'hold' | 'hello' | 'join';
export const ATTACK_MODES: readonly AttackMode[] = ['hold', 'hello', 'join'];
export const MAX_SOCKETS = 5000;
export const MAX_SECONDS = 300;

export interface AttackOptions {
  url: string;
  mode: AttackMode;
  /** Connections kept going at once. */
  sockets: number;
  /** The local address every connection comes from. */
  from: string;
  seconds: number;
}

export interface AttackReport {
  mode: AttackMode;
  from: string;
  /** Connections attempted. */
  opened: number;
  /** Of those, upgraded to a WebSocket. */
  upgraded: number;
  /** Welcomes received: handshakes the server did for the attacker. */
  welcomed: number;
  /** The most connections open (upgraded, not yet closed) at one time, and the most joined at one time. */
  peakOpen: number;
  peakJoined: number;
  /**
   * How the connections ended: by close code ("1013", "1008", ...) once upgraded; "http 429" (or another status) for
   * an upgrade refused with an HTTP answer; "error" for a connection that failed otherwise.
   */
  closes: Record<string, number>;
  seconds: number;
}

/** A hello the server will take, made once: one RSA key and one nonce for every connection. */
function helloFrame(): string {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 });
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  return JSON.stringify({
    type: 'hello',
    version: PROTOCOL_VERSION,
    name: 'flood',
    publicKey: toBase64Url(spki),
    nonce: toBase64Url(new Uint8Array(randomBytes(32))),
    acceptPlain: true,
    resume: false,
  } satisfies HelloFrame);
}

/**
 * Runs the attack until `stop` resolves or `seconds` pass, then closes every connection and reports. `started` is
 * called once the first connections are on their way.
 */
export async function attack(
  options: AttackOptions,
  stop: Promise<void>,
  started: () => void = () => {},
): Promise<AttackReport> {
  const target = Math.min(options.sockets, MAX_SOCKETS);
  const hello = options.mode === 'hold' ? '' : helloFrame();
  const begun = performance.now();
  const report: AttackReport = {
    mode: options.mode,
    from: options.from,
    opened: 0,
    upgraded: 0,
    welcomed: 0,
    peakOpen: 0,
    peakJoined: 0,
    closes: {},
    seconds: 0,
  };
  const live = new Set<WebSocket>();
  let open = 0;
  let joined = 0;
  let running = true;
  let refill: NodeJS.Immediate | undefined;

  const count = (key: string) => {
    report.closes[key] = (report.closes[key] ?? 0) + 1;
  };
  const openOne = () => {
    report.opened++;
    const ws = new WebSocket(options.url, {
      localAddress: options.from,
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
    });
    live.add(ws);
    let upgraded = false;
    let welcomed = false;
    let refusedWith: number | undefined;
    ws.on('unexpected-response', (_req, res) => {
      refusedWith = res.statusCode;
      // Aborts the handshake and, unlike destroying the request, still ends in 'close', which opens the next one.
      ws.terminate();
    });
    ws.on('open', () => {
      upgraded = true;
      report.upgraded++;
      report.peakOpen = Math.max(report.peakOpen, ++open);
      if (hello) ws.send(hello);
    });
    ws.on('message', (data) => {
      if (welcomed || !data.toString().startsWith('{"type":"welcome"')) return;
      welcomed = true;
      report.welcomed++;
      report.peakJoined = Math.max(report.peakJoined, ++joined);
      if (options.mode === 'join') ws.close(1000);
    });
    ws.on('error', () => undefined);
    ws.on('close', (code) => {
      live.delete(ws);
      if (upgraded) open--;
      if (welcomed) joined--;
      // The attacker's own teardown at the end is not the server's doing.
      if (running) count(upgraded ? String(code) : refusedWith !== undefined ? `http ${refusedWith}` : 'error');
      schedule();
    });
  };
  // Refills on the next turn of the loop, so that a server that refuses at once is not answered by a busy loop
  // inside one event, and closes are counted before the next wave.
  const schedule = () => {
    if (!running || refill) return;
    refill = setImmediate(() => {
      refill = undefined;
      while (running && live.size < target) openOne();
    });
  };

  schedule();
  started();
  const seconds = Math.min(options.seconds, MAX_SECONDS);
  await Promise.race([stop, new Promise((resolve) => setTimeout(resolve, seconds * 1000))]);
  running = false;
  if (refill) clearImmediate(refill);
  report.seconds = (performance.now() - begun) / 1000;
  const closing = [...live].map(
    (ws) =>
      new Promise((resolve) => {
        ws.once('close', resolve);
        ws.terminate();
      }),
  );
  await Promise.all(closing);
  return report;
}

/**
 * As a child process (tools/load.ts forks this file): the options come as JSON in argv[2]; it sends {started}
 * once running, stops when the parent sends "stop" (or disconnects), and sends {report} before it exits.
 */
async function child(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as AttackOptions;
  const stop = new Promise<void>((resolve) => {
    process.on('message', (message) => {
      if (message === 'stop') resolve();
    });
    process.on('disconnect', () => resolve());
  });
  const report = await attack(options, stop, () => process.send?.({ started: true }));
  if (process.connected) process.send?.({ report }, () => process.exit(0));
  else process.exit(0);
}

if (process.send !== undefined && isCommand(import.meta.url)) void child();
