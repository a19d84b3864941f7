/**
 * `npm run capture`: the Wireshark lesson, scripted. The same short chat (two tabs and the console) runs twice on
 * loopback, once in plain mode and once secure, each time recorded by tshark into a .pcapng file. Then tshark
 * itself decodes each file's WebSocket frames (unmasking what the pages sent), and the tool prints the two side by
 * side and checks two facts:
 *
 *   plain:  every chat line is readable in tshark's decoding of the capture;
 *   secure: no chat line appears in tshark's decoding nor anywhere in the capture's raw bytes, while the decoding
 *           does show the record frames that carried them (so the decoding worked and the lines were there).
 *
 * With --tls the same chat runs over TLS (wss://, the server's own self-signed certificate, its key log written
 * beside the captures), and the report has three layers side by side: what the capture shows without the key log
 * (TLS records and nothing else), and what tshark decodes with it, in secure mode (WebSocket frames carrying Fernet
 * tokens: TLS opened, the chat still sealed) and in plain mode (the chat text). Three facts are checked: without
 * the key log neither file shows a WebSocket frame or a chat line; with it, plain shows every line and secure none.
 *
 * Exits 0 when the checks hold, 1 when one fails, 2 when tshark is missing or may not capture.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { loadIdentity } from '../server/identity.ts';
import { serverNames } from '../server/origin.ts';
import { certificatePaths, loadSelfSigned, openKeyLog, type KeyLog } from '../server/tls.ts';
import { nodeCryptoBackend } from '../server/node-fernet.ts';
import { DEFAULTS } from '../server/options.ts';
import { startServer } from '../server/server.ts';
import { generateClientKeyPair } from '../shared/handshake.ts';
import type { Mode, ServerBody } from '../shared/protocol.ts';
import { ScriptedClient } from './client.ts';
import type { Direction } from '../shared/record.ts';
import { printable } from '../shared/text.ts';
import { describeFrame, routeText } from './wire-format.ts';
import { commandLine, runAsCommand } from '../server/command-line.ts';

export const CAPTURE_HELP = `npm run capture -- [options]: the same short chat, captured in plain and in secure mode.

Starts a wirechat server on a free loopback port, records a scripted chat (two tabs and the console) with
  tshark -i lo -f "tcp port PORT" -w FILE.pcapng
first in plain mode, then secure, decodes both files with tshark's WebSocket dissector, and prints what a
Wireshark user sees in each. Checks that every chat line is readable in the plain capture and that none
appears in the secure one, neither in tshark's decoding nor in the raw bytes.

  --out DIR       where to save plain.pcapng and secure.pcapng (default captures/)
  --tls           run the chat over TLS (wss://) and show three layers: the capture without the key log
                  (TLS records only), and with it the secure and the plain chat; saves tls-plain.pcapng,
                  tls-secure.pcapng and the key log tls-keys.log that opens them
  --tshark PATH   the tshark to run (default: tshark on the PATH)
  --json          print the result as JSON
  -h, --help      this text

Open the files in Wireshark with the display filter  websocket  (and Analyze > Decode As... TCP port PORT
as HTTP, since the port is not 80; for the TLS files, as TLS, with the key log set in Preferences >
Protocols > TLS > (Pre)-Master-Secret log filename). Needs tshark (sudo apt-get install tshark) and permission to capture on
the loopback interface. Exits 0 when both checks pass, 1 when one fails, 2 when tshark cannot run.`;

/** The chat, in order: who says what. Distinctive words, so that a search cannot match by chance. */
export const SCRIPT: ReadonlyArray<{ from: 'alice' | 'bob' | 'console'; text: string }> = [
  { from: 'alice', text: 'meet me at the library at six' },
  { from: 'bob', text: 'the locker code is 4711, keep it quiet' },
  { from: 'console', text: 'class starts in five minutes, bring your laptops' },
];

/** tshark is not installed, or may not capture here: the tool cannot do its job (exit 2). */
export class CaptureSetupError extends Error {}

export interface DecodedFrame {
  /** tshark's frame (packet) number, as Wireshark's first column shows it. */
  frame: number;
  direction: Direction;
  kind: 'upgrade' | 'text' | 'close' | 'other';
  /** The unmasked text payload (text frames), or a description (upgrade, close). */
  text: string;
}

export interface LineCheck {
  from: string;
  text: string;
  /** tshark frame numbers whose decoded WebSocket text contains the line. */
  decodedIn: number[];
  /** Whether the line's UTF-8 bytes occur anywhere in the .pcapng file. */
  inRawBytes: boolean;
}

export interface ModeCapture {
  mode: Mode;
  file: string;
  port: number;
  packets: number;
  /** What tshark decodes: over TLS, with the key log. */
  frames: DecodedFrame[];
  lines: LineCheck[];
  /** Text frames per wirechat frame type, as tshark decoded them. */
  types: Record<string, number>;
  /** Over TLS: what the same file shows without the key log. */
  sealed?: SealedLayer;
}

/** One packet's TLS records as Wireshark's Info column names them, and their lengths. */
export interface TlsRecordRow {
  frame: number;
  direction: Direction;
  text: string;
}

export interface SealedLayer {
  records: TlsRecordRow[];
  /** The same packets' records with the key log: the TLS handshake opened (Certificate, Finished, ...). */
  opened: TlsRecordRow[];
  /** WebSocket frames and HTTP messages tshark decodes without the key log: none, when TLS does its job. */
  frames: DecodedFrame[];
  /** Bytes of the layers inside TLS found anywhere in the file: a chat line, a Fernet token, a JSON frame. */
  leaks: string[];
}

export interface CaptureResult {
  plain: ModeCapture;
  secure: ModeCapture;
  /** With --tls: where the key log is, and whether both files showed nothing but TLS records without it. */
  tls?: { keylog: string; sealed: boolean };
  /** Every line found in tshark's decoding of the plain capture. */
  plainReadable: boolean;
  /** No line in the secure capture (decoded or raw), and tshark did decode its record frames. */
  secureHidden: boolean;
  ok: boolean;
}

export interface CaptureOptions {
  out: string;
  tshark?: string;
  /** Run the chat over TLS and check the three layers. */
  tls?: boolean;
  /** Progress for a person ("capturing plain mode..."); silent by default. */
  progress?: (text: string) => void;
}

const TSHARK_INSTALL =
  'install it with: sudo apt-get install tshark  (Debian/Ubuntu; it brings dumpcap, the capture helper)';

/** tshark's words when dumpcap may not open the interface ("You do not have permission to capture on device"). */
const NO_PERMISSION = /permission to capture|operation not permitted|couldn't run .*dumpcap/i;

function permissionHelp(stderr: string): string {
  const lines = stderr.split('\n');
  const at = lines.findIndex((line) => NO_PERMISSION.test(line));
  const said = lines
    .slice(Math.max(0, at), at + 2)
    .map((line) => line.trim())
    .filter(Boolean);
  return (
    `tshark may not capture on the loopback interface as this user (uid ${process.getuid?.() ?? '?'}):\n  ${said.join('\n  ')}\n` +
    'Either run the capture as root (sudo npm run capture), or let your user capture, then log out and in again:\n' +
    '  sudo dpkg-reconfigure wireshark-common   (answer Yes: non-superusers may capture packets)\n' +
    '  sudo usermod -aG wireshark "$USER"'
  );
}

/** Throws CaptureSetupError when tshark cannot be run at all. */
export function checkTshark(tshark = 'tshark'): string {
  const result = spawnSync(tshark, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (result.error) {
    const code = (result.error as NodeJS.ErrnoException).code;
    throw new CaptureSetupError(
      code === 'ENOENT'
        ? `tshark was not found (${tshark}): ${TSHARK_INSTALL}`
        : `tshark could not run: ${result.error.message}`,
    );
  }
  return (result.stdout.split('\n')[0] ?? '').trim().replace(/\.$/, '');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface RunningCapture {
  stop(): Promise<void>;
}

/**
 * Starts tshark on the loopback interface for one TCP port and resolves once it is really capturing. tshark's
 * "Capturing on 'Loopback: lo'" comes before dumpcap has opened the interface (a refusal for want of permission
 * follows it), so the signal is dumpcap's own: tshark's "Capture started." message, or the file's pcapng header,
 * which dumpcap writes once the interface is open. A short grace then lets the capture filter settle.
 */
export async function startTshark(
  tshark: string,
  port: number,
  file: string,
  where: { iface?: string; wrap?: string[] } = {},
): Promise<RunningCapture> {
  const [command, ...args] = [
    ...(where.wrap ?? []),
    tshark,
    '-i',
    where.iface ?? 'lo',
    '-f',
    `tcp port ${port}`,
    '-w',
    file,
  ];
  const child = spawn(command!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let exitCode: number | null | undefined;
  let spawnError: Error | undefined;
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  child.on('error', (error) => (spawnError = error));
  const exited = new Promise<void>((resolve) =>
    child.on('close', (code) => {
      exitCode = code;
      resolve();
    }),
  );
  const started = async () =>
    /Capture started/.test(stderr) || ((await stat(file).catch(() => undefined))?.size ?? 0) > 0;
  try {
    const deadline = Date.now() + 15_000;
    while (!(await started())) {
      if (spawnError) throw new CaptureSetupError(`tshark could not run: ${spawnError.message}; ${TSHARK_INSTALL}`);
      if (exitCode !== undefined) {
        throw NO_PERMISSION.test(stderr)
          ? new CaptureSetupError(permissionHelp(stderr))
          : new CaptureSetupError(`tshark stopped before capturing (exit ${exitCode}):\n${stderr.trim()}`);
      }
      if (Date.now() > deadline)
        throw new CaptureSetupError(`tshark did not start capturing within 15 s:\n${stderr.trim()}`);
      await delay(50);
    }
    await delay(300);
    if (exitCode !== undefined || NO_PERMISSION.test(stderr)) {
      throw NO_PERMISSION.test(stderr)
        ? new CaptureSetupError(permissionHelp(stderr))
        : new CaptureSetupError(`tshark stopped as soon as it started (exit ${exitCode}):\n${stderr.trim()}`);
    }
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    async stop() {
      // Let the last close frames reach the interface, then stop tshark the way Ctrl-C does: it writes the file out.
      await delay(300);
      child.kill('SIGINT');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

function runTshark(tshark: string, args: string[]): string {
  const result = spawnSync(tshark, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 60_000 });
  if (result.error) throw new CaptureSetupError(`tshark could not run: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`tshark ${args.join(' ')} failed (${result.status}):\n${result.stderr}`);
  return result.stdout;
}

interface TsharkPacket {
  _source: { layers: Record<string, string[] | undefined> };
}

/**
 * How tshark is told what the port carries: HTTP (so the upgrade, and after it WebSocket); or TLS with HTTP
 * inside, opened with the key log when there is one. Without one the preference is set empty explicitly, so that
 * a key log in the user's Wireshark preferences cannot open what this decoding claims stays closed.
 */
function dissectAs(port: number, tls?: { keylog?: string }): string[] {
  if (tls === undefined) return ['-d', `tcp.port==${port},http`];
  return ['-o', `tls.keylog_file:${tls.keylog ?? ''}`, '-d', `tcp.port==${port},tls`, '-d', `tls.port==${port},http`];
}

/**
 * Reads a capture back with tshark's own dissectors (see dissectAs), and the WebSocket payload text is taken from
 * `websocket.payload.text`, which tshark has already unmasked. One packet may hold several WebSocket frames; each
 * of their texts is listed.
 */
export function decodeCapture(
  tshark: string,
  file: string,
  port: number,
  tls?: { keylog?: string },
): { packets: number; frames: DecodedFrame[] } {
  const packets = runTshark(tshark, ['-r', file, '-T', 'fields', '-e', 'frame.number'])
    .split('\n')
    .filter(Boolean).length;
  const fields = [
    'frame.number',
    'tcp.srcport',
    'http.request.method',
    'http.request.uri',
    'http.response.code',
    'websocket.payload.text',
    'websocket.payload.close.status_code',
    'websocket.payload.close.reason',
  ];
  const json = runTshark(tshark, [
    '-r',
    file,
    ...dissectAs(port, tls),
    '-Y',
    'websocket || http',
    '-T',
    'json',
    ...fields.flatMap((f) => ['-e', f]),
  ]);
  const frames: DecodedFrame[] = [];
  for (const packet of JSON.parse(json || '[]') as TsharkPacket[]) {
    const layers = packet._source.layers;
    const first = (name: string) => layers[name]?.[0];
    const frame = Number(first('frame.number'));
    const direction: Direction = Number(first('tcp.srcport')) === port ? 's2c' : 'c2s';
    if (first('http.request.method') !== undefined) {
      frames.push({
        frame,
        direction,
        kind: 'upgrade',
        text: `HTTP ${first('http.request.method')} ${first('http.request.uri')}`,
      });
    }
    if (first('http.response.code') !== undefined) {
      frames.push({ frame, direction, kind: 'upgrade', text: `HTTP ${first('http.response.code')}` });
    }
    for (const text of layers['websocket.payload.text'] ?? []) frames.push({ frame, direction, kind: 'text', text });
    const codes = layers['websocket.payload.close.status_code'] ?? [];
    codes.forEach((code, i) => {
      const reason = layers['websocket.payload.close.reason']?.[i];
      frames.push({ frame, direction, kind: 'close', text: `close ${code}${reason ? ` "${reason}"` : ''}` });
    });
  }
  return { packets, frames };
}

/**
 * A TLS capture as it is without the key log: per packet, its TLS records as Wireshark's Info column names them
 * (repeats counted: "Application Data x3") and their lengths. This is all an eavesdropper gets.
 */
export function decodeTlsRecords(tshark: string, file: string, port: number, keylog?: string): TlsRecordRow[] {
  const json = runTshark(tshark, [
    '-r',
    file,
    ...dissectAs(port, { keylog }),
    '-Y',
    'tls',
    '-T',
    'json',
    '-e',
    'frame.number',
    '-e',
    'tcp.srcport',
    '-e',
    '_ws.col.Info',
    '-e',
    'tls.record.length',
  ]);
  return (JSON.parse(json || '[]') as TsharkPacket[]).map(({ _source: { layers } }) => {
    const parts: Array<{ name: string; count: number }> = [];
    for (const name of (layers['_ws.col.Info']?.[0] ?? '')
      .split(', ')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const last = parts[parts.length - 1];
      if (last?.name === name) last.count++;
      else parts.push({ name, count: 1 });
    }
    const lengths = layers['tls.record.length'] ?? [];
    return {
      frame: Number(layers['frame.number']?.[0]),
      direction: Number(layers['tcp.srcport']?.[0]) === port ? 's2c' : 'c2s',
      text: `${parts.map((p) => (p.count > 1 ? `${p.name} x${p.count}` : p.name)).join(', ')} (${lengths.join('+')} B)`,
    };
  });
}

/** What must never be found in a TLS capture's bytes without the key log: the layers inside TLS. */
function leaksIn(raw: Buffer): string[] {
  const marks = [...SCRIPT.map((l) => l.text), 'gAAAAA', '"type":', 'GET /ws', 'Sec-WebSocket'];
  return marks.filter((mark) => raw.includes(Buffer.from(mark, 'utf8')));
}

/** The scripted chat against a server at `url`: each line is awaited at its recipients before the next. */
async function chat(
  url: string,
  mode: Mode,
  keyPairs: Promise<CryptoKeyPair>[],
  say: (text: string) => void,
  ca?: string,
): Promise<void> {
  const options = { url, acceptPlain: mode === 'plain', backend: nodeCryptoBackend, ...(ca ? { ca } : {}) };
  const alice = await ScriptedClient.connect({ ...options, name: 'alice', keyPair: keyPairs[0]! });
  const bob = await ScriptedClient.connect({ ...options, name: 'bob', keyPair: keyPairs[1]! });
  const tabs = { alice, bob };
  try {
    for (const { from, text } of SCRIPT) {
      if (from === 'console') say(text);
      else await tabs[from].send(text);
      const heard = (body: ServerBody) => body.kind === 'line' && body.text === text;
      await Promise.all(
        Object.entries(tabs)
          .filter(([name]) => name !== from)
          .map(([, tab]) => tab.waitFor(heard, 10_000)),
      );
    }
    await alice.bye('EXIT');
    await bob.bye('EXIT');
  } finally {
    alice.close();
    bob.close();
  }
}

/** Runs the chat in one mode under tshark; over TLS (with the key log going to `keyLog`) when one is given. */
async function captureMode(
  mode: Mode,
  options: Required<Pick<CaptureOptions, 'out' | 'tshark'>>,
  keyPairs: Promise<CryptoKeyPair>[],
  keyLog?: KeyLog,
): Promise<{ mode: Mode; file: string; port: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'wirechat-capture-'));
  const file = resolve(options.out, `${keyLog ? 'tls-' : ''}${mode}.pcapng`);
  await rm(file, { force: true });
  let port: number;
  try {
    const identity = join(dir, 'identity.jwk');
    // The server's own --tls certificate, made as `npm run server -- --tls` makes it.
    const cert = keyLog ? await loadSelfSigned(certificatePaths(identity), serverNames('127.0.0.1')) : undefined;
    const server = await startServer({
      options: {
        ...DEFAULTS,
        port: 0,
        host: '127.0.0.1',
        plain: mode === 'plain',
        build: false,
        identity,
        tls: keyLog !== undefined,
      },
      identity: await loadIdentity(identity),
      backend: nodeCryptoBackend,
      events: { line: () => {}, joined: () => {}, left: () => {} },
      ...(cert && keyLog ? { tls: { cert: cert.cert, key: cert.key, keylog: keyLog.write } } : {}),
    });
    port = server.port;
    try {
      const capture = await startTshark(options.tshark, port, file);
      try {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          chat(
            `${cert ? 'wss' : 'ws'}://127.0.0.1:${port}/ws`,
            mode,
            keyPairs,
            (text) => server.relay.say(text),
            cert?.cert,
          ),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`the ${mode} chat did not finish within 30 s`)), 30_000);
          }),
        ]).finally(() => clearTimeout(timer));
      } finally {
        await capture.stop();
      }
    } finally {
      server.relay.endAll(1001, 'capture over');
      await server.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { mode, file, port };
}

function analyse(
  mode: Mode,
  file: string,
  port: number,
  packets: number,
  frames: DecodedFrame[],
  raw: Buffer,
): ModeCapture {
  const types: Record<string, number> = {};
  for (const f of frames) {
    if (f.kind !== 'text') continue;
    const type = describeFrame(f.text).type;
    types[type] = (types[type] ?? 0) + 1;
  }
  const lines = SCRIPT.map(({ from, text }) => ({
    from,
    text,
    decodedIn: frames.filter((f) => f.kind === 'text' && f.text.includes(text)).map((f) => f.frame),
    inRawBytes: raw.includes(Buffer.from(text, 'utf8')),
  }));
  return { mode, file, port, packets, frames, lines, types };
}

export async function runCapture(options: CaptureOptions): Promise<CaptureResult> {
  const tshark = options.tshark ?? 'tshark';
  checkTshark(tshark);
  await mkdir(options.out, { recursive: true });
  // Two key pairs for both runs, made once: 3072 bits as the page makes them.
  const keyPairs = [generateClientKeyPair(), generateClientKeyPair()];
  const keylogPath = resolve(options.out, 'tls-keys.log');
  let keyLog: KeyLog | undefined;
  if (options.tls) {
    await rm(keylogPath, { force: true });
    keyLog = await openKeyLog(keylogPath);
  }
  const runs: Array<{ mode: Mode; file: string; port: number }> = [];
  try {
    for (const mode of ['plain', 'secure'] as const) {
      options.progress?.(`capturing the ${mode} chat${options.tls ? ' over TLS' : ''}...`);
      runs.push(await captureMode(mode, { out: options.out, tshark }, keyPairs, keyLog));
    }
  } finally {
    await keyLog?.close();
  }
  // Decoded once the key log is complete on disk.
  const [plain, secure] = (await Promise.all(
    runs.map(async ({ mode, file, port }) => {
      const raw = await readFile(file);
      const { packets, frames } = decodeCapture(tshark, file, port, options.tls ? { keylog: keylogPath } : undefined);
      const capture = analyse(mode, file, port, packets, frames, raw);
      if (options.tls) {
        capture.sealed = {
          records: decodeTlsRecords(tshark, file, port),
          opened: decodeTlsRecords(tshark, file, port, keylogPath),
          frames: decodeCapture(tshark, file, port, {}).frames,
          leaks: leaksIn(raw),
        };
      }
      return capture;
    }),
  )) as [ModeCapture, ModeCapture];
  const plainReadable = plain.lines.every((l) => l.decodedIn.length > 0);
  const secureHidden =
    secure.lines.every((l) => l.decodedIn.length === 0 && !l.inRawBytes) &&
    // The decoding worked: tshark found the record frames that carried the lines (each line: at least one
    // record from its sender, one to each recipient), and no plain frame.
    (secure.types.record ?? 0) >= SCRIPT.length * 2 &&
    (secure.types.plain ?? 0) === 0;
  if (!options.tls) return { plain, secure, plainReadable, secureHidden, ok: plainReadable && secureHidden };
  // Without the key log: TLS records (application data among them) and nothing from the layers inside.
  const sealed = [plain, secure].every(
    (m) =>
      m.sealed!.frames.length === 0 &&
      m.sealed!.leaks.length === 0 &&
      m.sealed!.records.some((r) => r.text.includes('Application Data')),
  );
  return {
    plain,
    secure,
    plainReadable,
    secureHidden,
    tls: { keylog: keylogPath, sealed },
    ok: plainReadable && secureHidden && sealed,
  };
}

/** A file name as short as it can be said from here. */
function shown(file: string): string {
  const near = relative(process.cwd(), file);
  return near.startsWith('..') || near === '' ? file : near;
}

function cut(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text + ' '.repeat(width - chars.length) : chars.slice(0, width - 1).join('') + '…';
}

function frameRow(f: DecodedFrame | undefined): string {
  if (f === undefined) return '';
  const arrow = f.direction === 'c2s' ? '->' : '<-';
  const what = f.kind === 'text' ? describeFrame(f.text, true).text : f.text;
  return `${String(f.frame).padStart(4)} ${arrow} ${printable(what, 400)}`;
}

function where(frames: number[]): string {
  if (frames.length === 0) return 'nowhere';
  return `frame${frames.length > 1 ? 's' : ''} ${frames.join(', ')}`;
}

/** What a person reads: both captures side by side (one after the other below 100 columns), then the checks. */
export function formatReport(result: CaptureResult, width = 160): string {
  if (result.tls) return formatTlsReport(result, result.tls, width);
  const { plain, secure } = result;
  const out = header(
    'wirechat capture: the same chat on loopback, recorded by tshark in plain mode and in secure mode',
  );
  out.push(`What tshark decodes (tshark -r FILE -d tcp.port==PORT,http -Y websocket, field websocket.payload.text):`);
  out.push(
    `numbers are tshark's frame numbers; -> is ${routeText('c2s')} (masked on the wire, unmasked by tshark), <- is ${routeText('s2c')}`,
    '',
  );
  const title = (m: ModeCapture) => `${m.mode.toUpperCase()}  ${shown(m.file)} (${m.packets} packets, port ${m.port})`;
  const rows = Math.max(plain.frames.length, secure.frames.length);
  if (width >= 100) {
    const col = Math.floor((width - 3) / 2);
    out.push(`${cut(title(plain), col)} | ${title(secure)}`);
    out.push(`${'-'.repeat(col)}-+-${'-'.repeat(col)}`);
    for (let i = 0; i < rows; i++)
      out.push(`${cut(frameRow(plain.frames[i]), col)} | ${cut(frameRow(secure.frames[i]), col)}`.trimEnd());
  } else {
    for (const m of [plain, secure]) {
      out.push(title(m));
      for (const f of m.frames) out.push(cut(frameRow(f), width));
      out.push('');
    }
  }
  out.push('');
  const first = plain.frames.findIndex((f) => f.kind === 'text' && f.text.includes(SCRIPT[0]!.text));
  if (first >= 0) {
    out.push(
      `Wireshark's "Text" field for ${SCRIPT[0]!.from}'s line, verbatim, and the frame in the same place of the secure chat:`,
    );
    out.push(`  plain  frame ${plain.frames[first]!.frame}: ${printable(plain.frames[first]!.text, 300)}`);
    const other = secure.frames[first];
    if (other !== undefined) out.push(`  secure frame ${other.frame}: ${printable(other.text, 300)}`);
    out.push('');
  }
  out.push("Each chat line, searched for in tshark's decoding and in the raw bytes of each file:");
  const w = Math.max(...SCRIPT.map((l) => l.text.length)) + 3;
  out.push(
    `  ${'line'.padEnd(w)} ${'plain: decoded'.padEnd(20)} ${'plain: raw'.padEnd(11)} ${'secure: decoded'.padEnd(16)} secure: raw`,
  );
  SCRIPT.forEach((line, i) => {
    const p = plain.lines[i]!;
    const s = secure.lines[i]!;
    out.push(
      `  ${`"${line.text}"`.padEnd(w)} ${where(p.decodedIn).padEnd(20)} ${(p.inRawBytes ? 'found' : 'not found').padEnd(11)} ` +
        `${where(s.decodedIn).padEnd(16)} ${s.inRawBytes ? 'FOUND' : 'not found'}`,
    );
  });
  out.push("  (a page's frames are masked on the wire as RFC 6455 requires, so plain raw bytes show only the server's");
  out.push('   copies; the masking hides nothing from tshark, which unmasks them)', '');
  const records = secure.types.record ?? 0;
  out.push(
    `${result.plainReadable ? 'PASS' : 'FAIL'}  plain:  ${result.plainReadable ? 'every chat line is readable' : 'some chat line is NOT readable'} in tshark's decoding of ${shown(plain.file)}`,
  );
  const leaked = secure.lines.filter((l) => l.decodedIn.length > 0 || l.inRawBytes).length;
  out.push(
    `${result.secureHidden ? 'PASS' : 'FAIL'}  secure: ` +
      (leaked > 0
        ? `${leaked} chat line(s) FOUND in ${shown(secure.file)}`
        : `no chat line in tshark's decoding of ${shown(secure.file)} nor in its raw bytes; tshark decoded ${records} record frames ` +
          `(${Object.entries(secure.types)
            .map(([t, n]) => `${n} ${t}`)
            .join(', ')})`),
  );
  return out.join('\n');
}

/** A report's first lines: its title and the chat it captured. */
function header(title: string): string[] {
  return [title, '', 'The chat:', ...SCRIPT.map(({ from, text }) => `  ${(from + ':').padEnd(9)}${text}`), ''];
}

function tlsRow(r: TlsRecordRow | undefined): string {
  if (r === undefined) return '';
  return `${String(r.frame).padStart(4)} ${r.direction === 'c2s' ? '->' : '<-'} ${r.text}`;
}

/**
 * The --tls report: three layers side by side (one after another below 150 columns). Rows follow the secure
 * file's packets: its TLS records as an eavesdropper sees them, what tshark opens in the same packet with the key
 * log, and the plain chat's frame in the same place of its conversation.
 */
function formatTlsReport(result: CaptureResult, tls: { keylog: string; sealed: boolean }, width: number): string {
  const { plain, secure } = result;
  const out = header(
    'wirechat capture --tls: the same chat over TLS on loopback, in plain and in secure mode, seen in three layers',
  );
  out.push(
    `1 NO KEY LOG      what anyone on the path sees: TLS records, their sizes and times (${shown(secure.file)})`,
  );
  out.push(
    `2 KEY LOG, SECURE TLS opened with ${shown(tls.keylog)}: WebSocket frames, in them Fernet tokens (same file)`,
  );
  out.push(`3 KEY LOG, PLAIN  the same opened TLS around the plain chat: the text (${shown(plain.file)})`);
  out.push(
    `(tshark -r FILE -d tcp.port==PORT,tls -d tls.port==PORT,http -o tls.keylog_file:KEYLOG; -> is ${routeText('c2s')})`,
    '',
  );
  const inside = new Map<number, DecodedFrame[]>();
  for (const f of secure.frames) inside.set(f.frame, [...(inside.get(f.frame) ?? []), f]);
  const opened = new Map(secure.sealed!.opened.map((r) => [r.frame, r]));
  // TLS record lists wrap onto further lines (every record counts); frames are cut, as in the plain report.
  type Cell = { text: string; wrap: boolean };
  const record = (r: TlsRecordRow | undefined): Cell => ({ text: tlsRow(r), wrap: true });
  const frame = (f: DecodedFrame | undefined): Cell => ({ text: frameRow(f), wrap: false });
  const none: Cell = { text: '', wrap: false };
  const rows: Array<[Cell, Cell, Cell]> = [];
  let k = 0;
  for (const r of secure.sealed!.records) {
    const frames = inside.get(r.frame) ?? [];
    if (frames.length === 0) {
      const o = opened.get(r.frame);
      rows.push([record(r), o && o.text !== r.text ? record(o) : none, none]);
      continue;
    }
    frames.forEach((f, i) => rows.push([i === 0 ? record(r) : none, frame(f), frame(plain.frames[k++])]));
  }
  while (k < plain.frames.length) rows.push([none, none, frame(plain.frames[k++])]);
  const lines = (cell: Cell, col: number): string[] => {
    if (!cell.wrap || [...cell.text].length <= col) return [cut(cell.text, col)];
    // Word-wrapped, continuation lines indented past the frame number and arrow.
    const parts: string[] = [];
    const indent = /^ */.exec(cell.text)![0];
    let line = indent;
    for (const word of cell.text.slice(indent.length).split(' ')) {
      if (line.trim() !== '' && [...line].length + 1 + [...word].length > col) {
        parts.push(line);
        line = ' '.repeat(8) + word;
      } else {
        line = line.trim() === '' ? line + word : `${line} ${word}`;
      }
    }
    parts.push(line);
    return parts.map((p) => cut(p, col));
  };
  const titles = ['1 NO KEY LOG', '2 KEY LOG, SECURE', '3 KEY LOG, PLAIN'] as const;
  if (width >= 150) {
    const col = Math.floor((width - 6) / 3);
    out.push(
      titles
        .map((t) => cut(t, col))
        .join(' | ')
        .trimEnd(),
    );
    out.push(Array(3).fill('-'.repeat(col)).join('-+-'));
    for (const row of rows) {
      const cells = row.map((c) => lines(c, col));
      const height = Math.max(...cells.map((c) => c.length));
      for (let i = 0; i < height; i++)
        out.push(
          cells
            .map((c) => c[i] ?? ' '.repeat(col))
            .join(' | ')
            .trimEnd(),
        );
    }
  } else {
    titles.forEach((title, i) => {
      out.push(title);
      for (const row of rows) if (row[i]!.text) out.push(...lines(row[i]!, width));
      out.push('');
    });
  }
  out.push('');
  out.push('Each chat line, searched for in each layer:');
  const w = Math.max(...SCRIPT.map((l) => l.text.length)) + 3;
  out.push(
    `  ${'line'.padEnd(w)} ${'1 no key log: decoded, raw'.padEnd(30)} ${'2 key log, secure'.padEnd(18)} 3 key log, plain`,
  );
  SCRIPT.forEach((line, i) => {
    const found = [plain, secure].some((m) => m.sealed!.frames.some((f) => f.text.includes(line.text)));
    const raw = [plain, secure].some((m) => m.lines[i]!.inRawBytes);
    out.push(
      `  ${`"${line.text}"`.padEnd(w)} ${`${found ? 'FOUND' : 'nowhere'}, ${raw ? 'FOUND' : 'not found'}`.padEnd(30)} ` +
        `${where(secure.lines[i]!.decodedIn).padEnd(18)} ${where(plain.lines[i]!.decodedIn)}`,
    );
  });
  out.push('');
  const appData = (m: ModeCapture) => m.sealed!.records.filter((r) => r.text.includes('Application Data')).length;
  const leaks = [plain, secure].flatMap((m) => [
    ...m.sealed!.leaks,
    ...m.sealed!.frames.map((f) => `frame ${f.frame}`),
  ]);
  out.push(
    `${tls.sealed ? 'PASS' : 'FAIL'}  1 no key log:      ` +
      (tls.sealed
        ? `tshark decodes no HTTP and no WebSocket frame in either file, and their bytes hold no chat line, no Fernet ` +
          `token, no JSON frame: only TLS records (${appData(plain)} + ${appData(secure)} packets of application data)`
        : `the layers inside TLS are visible without the key log: ${leaks.map((l) => JSON.stringify(l)).join(', ')}`),
  );
  const leaked = secure.lines.filter((l) => l.decodedIn.length > 0).length;
  out.push(
    `${result.secureHidden ? 'PASS' : 'FAIL'}  2 key log, secure: ` +
      (leaked > 0
        ? `${leaked} chat line(s) readable once TLS is opened`
        : `TLS opened: tshark decoded ${secure.types.record ?? 0} record frames (Fernet tokens and MACs) and no chat line`),
  );
  out.push(
    `${result.plainReadable ? 'PASS' : 'FAIL'}  3 key log, plain:  ` +
      (result.plainReadable
        ? 'every chat line is readable once TLS is opened'
        : 'some chat line is NOT readable with the key log'),
  );
  out.push(
    '',
    "TLS protects the path; wirechat's own records protect the chat inside it, even from whoever holds the key log.",
  );
  return out.join('\n');
}

async function main(): Promise<number> {
  const parsed = commandLine('capture', CAPTURE_HELP, {
    out: { type: 'string', default: 'captures' },
    tshark: { type: 'string', default: 'tshark' },
    json: { type: 'boolean' },
    tls: { type: 'boolean' },
  });
  if ('exit' in parsed) return parsed.exit;
  const { values } = parsed;
  let result: CaptureResult;
  try {
    const version = checkTshark(values.tshark);
    if (!values.json) console.log(`using ${version}; saving to ${shown(resolve(values.out))}/`);
    result = await runCapture({
      out: values.out,
      tshark: values.tshark,
      tls: values.tls === true,
      progress: values.json ? undefined : (text) => console.log(text),
    });
  } catch (error) {
    if (error instanceof CaptureSetupError) {
      console.error(`wirechat capture: ${error.message}`);
      return 2;
    }
    throw error;
  }
  if (values.json) console.log(JSON.stringify(result, null, 2));
  else
    console.log(
      '\n' + formatReport(result, process.stdout.isTTY ? process.stdout.columns : Number(process.env.COLUMNS) || 160),
    );
  return result.ok ? 0 : 1;
}

runAsCommand(import.meta.url, main);
