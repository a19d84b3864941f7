/**
 * `npm run server`: builds the page if needed, loads (or makes) the server's identity, serves the page and the
 * chat on one port, and hands the terminal to the operator.
 */
import { fileURLToPath } from 'node:url';
import { Close } from '../shared/errors.ts';
import { buildPage, pageIsStale } from './build.ts';
import { Console } from './console.ts';
import { clusterRelay, ClusterError, relayLabel, startCluster, type Cluster } from './cluster.ts';
import { clusterCommand } from './cluster-console.ts';
import type { ClusterRelay } from './cluster-relay.ts';
import { isWorker, quietConsole, reportToPrimary, startWorkers, type Workers } from './workers.ts';
import { IdentityError, loadIdentity, type Identity } from './identity.ts';
import { nodeCryptoBackend } from './node-fernet.ts';
import { UsageError } from './command-line.ts';
import { HELP, parseOptions, type ServerOptions } from './options.ts';
import { openHistory, type History } from './history.ts';
import { HistoryError } from './log/log.ts';
import { Relay } from './relay.ts';
import { SecretFileError } from './secret-file.ts';
import { startServer, type RunningServer } from './server.ts';
import { paint as painted } from './terminal.ts';
import { isIP } from 'node:net';
import { isLoopback, serverNames } from './origin.ts';
import { loadTls, openKeyLog, type KeyLog, type TlsCertificate } from './tls.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

function banner(
  options: ServerOptions,
  server: Pick<RunningServer, 'url' | 'port'>,
  fingerprint: string,
  identityNote: string,
  tls?: TlsCertificate,
): string {
  const paint = (text: string) => painted(options.color, 'alarm', text);
  const mode = options.plain
    ? paint(' PLAIN MODE: chat lines cross the network UNENCRYPTED, readable by anyone who captures them ')
    : 'secure: RSA-OAEP key exchange signed by this server, every line a Fernet token + HMAC-SHA256';
  const lines = [
    'wirechat server',
    `  open        ${server.url}`,
    `  mode        ${mode}`,
    `  fingerprint ${fingerprint}`,
    `              ${identityNote}`,
    ...tlsLines(options, server, tls, paint),
    '  type a line and Enter to send it to every tab; /help lists commands',
    '  EXIT or END ends the chat for everyone and stops the server',
  ];
  return lines.join('\n');
}

/**
 * The banner's lines about reaching the server from other machines: the addresses to open, the certificate's
 * fingerprint and how to compare it, the key log warning; or, beyond loopback without --tls, why other machines
 * cannot chat and the fix.
 */
function tlsLines(
  options: ServerOptions,
  server: Pick<RunningServer, 'url' | 'port'>,
  tls: TlsCertificate | undefined,
  paint: (t: string) => string,
): string[] {
  const lines: string[] = [];
  const scheme = tls ? 'https' : 'http';
  const others = isLoopback(options.host)
    ? []
    : serverNames(options.host)
        // addresses only: this machine's own name may not resolve on the other machines
        .filter((n) => !isLoopback(n) && isIP(n) !== 0)
        .map((n) => `${scheme}://${n.includes(':') ? `[${n}]` : n}:${server.port}/`)
        .filter((u) => u !== server.url);
  if (others.length) lines.push(`  also        ${others.join('  ')}`);
  if (tls) {
    lines.push(
      `  tls         SHA-256 ${tls.fingerprint}`,
      `              ${tls.note}`,
      tls.status === 'given'
        ? '              browsers check this certificate; the fingerprint is the one their certificate viewer shows'
        : '              self-signed: a browser warns once; before you accept, compare this SHA-256 fingerprint with the\n' +
            '              one in its certificate viewer (Not secure > Certificate details; Firefox: Advanced > View Certificate)',
    );
    if (options.tlsKeylog) {
      lines.push(
        `  key log     ${paint(` TLS SESSION SECRETS ARE WRITTEN TO ${options.tlsKeylog} `)}`,
        '              whoever holds that file can decrypt every captured TLS record of this server; keep it for',
        '              Wireshark on this machine, and delete it when the lesson is over',
      );
    }
  } else if (!isLoopback(options.host)) {
    lines.push(
      "  warning     other machines that open http://<this machine's address> get a page without Web Crypto (not a",
      '              secure context) and cannot chat; start the server with --tls to serve https:',
      `              npm run server -- --tls --host ${options.host}`,
    );
  }
  return lines;
}

async function main(): Promise<number> {
  let options: ServerOptions | 'help';
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`wirechat: ${error.message}\n(npm run server -- --help lists the options)\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(HELP + '\n');
    return 0;
  }

  if (options.build && !isWorker() && (await pageIsStale(root))) {
    process.stdout.write('building the page with Vite (only when its sources changed)...\n');
    await buildPage(root);
  }
  let identity: Identity;
  try {
    identity = await loadIdentity(options.identity);
  } catch (error) {
    if (!(error instanceof IdentityError)) throw error;
    process.stderr.write(`wirechat: ${error.message}\n`);
    return 1;
  }
  const identityNote = identity.created
    ? `a new identity key, saved in ${identity.path}`
    : `identity key ${identity.path}`;
  let tls: TlsCertificate | undefined;
  let keyLog: KeyLog | undefined;
  if (options.tls) {
    try {
      tls = await loadTls(options);
      if (options.tlsKeylog) keyLog = await openKeyLog(options.tlsKeylog);
    } catch (error) {
      process.stderr.write(`wirechat: --tls: ${(error as Error).message}\n`);
      return 1;
    }
  }

  let cluster: Cluster | undefined;
  if (options.redis !== undefined) {
    try {
      cluster = await startCluster(options, relayLabel(options.port, options.workers));
    } catch (error) {
      if (!(error instanceof ClusterError)) throw error;
      process.stderr.write(`wirechat: ${error.message}\n`);
      return 1;
    }
  }

  // The relay first, then the console that listens to it, then the server that serves it: each is whole when the
  // next needs it, and the console hears every event from the server's first connection on.
  let history: History;
  try {
    // With --redis the history is the chat's log in Redis, and its seats open on every relay of the chat.
    history = cluster ? cluster.history : await openHistory(options);
  } catch (error) {
    if (!(error instanceof HistoryError) && !(error instanceof SecretFileError)) throw error;
    const flag = error instanceof SecretFileError ? '--chat-key' : '--history';
    process.stderr.write(`wirechat: ${flag}: ${error.message}\n`);
    return 1;
  }
  // With --redis the cluster relay fans out from the log in Redis and resumes a tab from any relay of the chat.
  const manyRelay: ClusterRelay | undefined = cluster ? clusterRelay(cluster, options, () => operator) : undefined;
  const relay: Relay =
    manyRelay ??
    new Relay(options.name, {
      history,
      plain: options.plain,
      presenceIntervalMs: options.presenceIntervalMs,
      alert: (text) => operator.alert(text),
    });
  let server: RunningServer | undefined;
  // --workers: this process forks the relays that serve the tabs, and keeps the console (server/workers.ts).
  let workers: Workers | undefined;
  let stopping = false;
  let exitStatus = 0;
  const stop = (code: number, reason: string, fromElsewhere = false, status = 0): void => {
    if (stopping) return;
    stopping = true;
    exitStatus = status;
    operator.notice(`ending the chat: ${reason}`);
    if (cluster && !fromElsewhere) cluster.end(options.name, reason, code);
    relay.endAll(code, reason);
    // Give every tab a moment to receive its sealed `end` and the close frame, then stop.
    const deadline = Date.now() + 2000;
    const wait = setInterval(() => {
      if (relay.size === 0 || Date.now() > deadline) {
        clearInterval(wait);
        operator.close();
        // The log writes what it was given before it closes: nothing receipted is left in a batch.
        void (server?.close() ?? Promise.resolve())
          .then(() => workers?.close(code === Close.NORMAL ? 3_000 : 0))
          .then(() => cluster?.hub.close())
          .then(() => history.hub.close())
          .catch(() => undefined)
          .then(() => process.exit(exitStatus));
      }
    }, 25);
  };
  const operator: Console = new Console({
    ...(isWorker() ? quietConsole() : { input: process.stdin, output: process.stdout }),
    relay,
    plain: options.plain,
    color: options.color,
    onEnd: (word) => stop(Close.NORMAL, `The server operator ended the chat (${word})`),
    onInterrupt: () => stop(Close.GOING_AWAY, 'The server is shutting down (Ctrl-C)'),
    ...(manyRelay
      ? {
          command: (command: string, args: string): boolean =>
            clusterCommand(manyRelay, operator, command, args, options.workers !== undefined && !isWorker()),
        }
      : {}),
  });
  // A worker's console prints nowhere: its alerts go to the primary's (server/workers.ts).
  if (isWorker()) reportToPrimary(operator);
  relay.listen(operator);
  cluster?.watch(operator, (by, reason) =>
    stop(Close.NORMAL, `${by} ended the chat on another relay: ${reason}`, true),
  );

  try {
    if (options.workers !== undefined && !isWorker()) {
      const shown = options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host;
      const url = (port: number) =>
        `${tls ? 'https' : 'http'}://${shown.includes(':') ? `[${shown}]` : shown}:${port}/`;
      workers = await startWorkers(options, url, operator, (text) => {
        operator.alert(text);
        stop(Close.GOING_AWAY, 'The server is shutting down (no relay worker is left)', false, 1);
      });
    } else
      server = await startServer({
        options,
        identity,
        backend: nodeCryptoBackend,
        relay,
        dist: `${root}dist`,
        ...(tls ? { tls: { cert: tls.cert, key: tls.key, keylog: keyLog?.write } } : {}),
        // What the server had to guard against (a request that made a handler fail) is the operator's to see.
        log: (text) => operator.alert(text),
      });
  } catch (error) {
    operator.close();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      process.stderr.write(
        `wirechat: port ${options.port} is already in use (another wirechat?). Stop it, or pick another port: npm run server -- --port 8081\n`,
      );
      return 1;
    }
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
      process.stderr.write(`wirechat: cannot listen on ${options.host}: no such interface on this machine\n`);
      return 1;
    }
    if (options.workers !== undefined) {
      process.stderr.write(`wirechat: ${(error as Error).message}\n`);
      return 1;
    }
    throw error;
  }

  if (!isWorker())
    process.stdout.write(banner(options, (workers ?? server)!, identity.fingerprint, identityNote, tls) + '\n');
  if (cluster && !isWorker())
    process.stdout.write([...cluster.banner, ...(workers ? [workers.banner] : [])].join('\n') + '\n');
  process.on('SIGINT', () => stop(Close.GOING_AWAY, 'The server is shutting down (Ctrl-C)'));
  process.on('SIGTERM', () => stop(Close.GOING_AWAY, 'The server is shutting down (SIGTERM)'));
  // A worker whose primary is gone (killed) stops too, rather than serve on with nobody at the console.
  if (isWorker())
    process.on('disconnect', () => stop(Close.GOING_AWAY, 'The server is shutting down (its primary process ended)'));
  operator.start();
  operator.describeHistory().catch((error: unknown) => operator.alert(`chat log: ${(error as Error).message}`));
  return -1;
}

main().then(
  (status) => {
    if (status >= 0) process.exit(status);
  },
  (error: unknown) => {
    process.stderr.write(`wirechat: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);
