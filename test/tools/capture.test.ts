/**
 * `npm run capture` on this machine's loopback with the real tshark: the plain capture shows every chat line
 * and the secure one shows none. The facts are checked here against tshark's own decoding of the files (run
 * again by the test, not taken from the tool's report) and against the files' raw bytes. The reports rendered as
 * a terminal shows them, for the README, are test/e2e/capture.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseClientFrame, parseServerFrame } from '../../shared/protocol.ts';
import { CaptureSetupError, formatReport, runCapture, SCRIPT, type CaptureResult } from '../../tools/capture.ts';
import { ROOT } from '../helpers/process.ts';

const haveTshark = spawnSync('tshark', ['--version']).error === undefined;
// Skipped only on a developer's machine without tshark; in CI (which installs it) a missing tshark fails.
const skip = haveTshark || process.env.CI ? false : 'tshark is not installed (sudo apt-get install tshark)';

/** tshark's options to read a TLS capture, opened with `keylog` or (empty) not. */
function overTls(port: number, keylog: string): string[] {
  return ['-o', `tls.keylog_file:${keylog}`, '-d', `tcp.port==${port},tls`, '-d', `tls.port==${port},http`];
}

/** Every WebSocket text payload in a capture, as tshark decodes (and unmasks) it; `decodeAs` for TLS. */
function tsharkTexts(
  file: string,
  port: number,
  decodeAs = ['-d', `tcp.port==${port},http`],
): Array<{ frame: number; fromServer: boolean; text: string }> {
  const result = spawnSync(
    'tshark',
    [
      '-r',
      file,
      ...decodeAs,
      '-Y',
      'websocket',
      '-T',
      'json',
      '-e',
      'frame.number',
      '-e',
      'tcp.srcport',
      '-e',
      'websocket.payload.text',
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  assert.equal(result.status, 0, result.stderr);
  const packets = JSON.parse(result.stdout) as Array<{ _source: { layers: Record<string, string[] | undefined> } }>;
  return packets.flatMap(({ _source: { layers } }) =>
    (layers['websocket.payload.text'] ?? []).map((text) => ({
      frame: Number(layers['frame.number']![0]),
      fromServer: Number(layers['tcp.srcport']![0]) === port,
      text,
    })),
  );
}

describe('npm run capture', { skip }, () => {
  let dir: string;
  let result: CaptureResult;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wirechat-capture-test-'));
    result = await runCapture({ out: dir });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('saves a plain capture in which tshark decodes every chat line', () => {
    assert.equal(result.plain.file, join(dir, 'plain.pcapng'));
    const texts = tsharkTexts(result.plain.file, result.plain.port);
    for (const { text } of SCRIPT) {
      const found = texts.filter((t) => t.text.includes(text));
      // The sender's frame (masked on the wire, unmasked by tshark) or the console's, and the server's copy to
      // the other tab.
      assert.ok(
        found.some((t) => t.fromServer),
        `"${text}" from the server, readable`,
      );
      assert.ok(found.length >= 2, `"${text}" readable in ${found.length} frames`);
    }
    assert.ok(
      texts.some((t) => !t.fromServer && parseClientFrame(t.text).type === 'plain'),
      "a page's plain frame, unmasked",
    );
    assert.equal(result.plainReadable, true);
  });

  it('saves a secure capture in which no chat line appears, decoded or raw, though tshark decodes its records', async () => {
    assert.equal(result.secure.file, join(dir, 'secure.pcapng'));
    const texts = tsharkTexts(result.secure.file, result.secure.port);
    const raw = await readFile(result.secure.file);
    for (const { text } of SCRIPT) {
      assert.deepEqual(
        texts.filter((t) => t.text.includes(text)),
        [],
        `"${text}" in tshark's decoding`,
      );
      assert.equal(raw.includes(Buffer.from(text)), false, `"${text}" in the raw bytes`);
    }
    // The decoding worked: the frames are there and are wirechat records in both directions.
    const fromPages = texts.filter((t) => !t.fromServer).map((t) => parseClientFrame(t.text).type);
    const fromServer = texts.filter((t) => t.fromServer).map((t) => parseServerFrame(t.text).type);
    assert.deepEqual([...new Set(fromPages)].sort(), ['hello', 'record']);
    assert.deepEqual([...new Set(fromServer)].sort(), ['record', 'welcome']);
    // Each line crossed as a record at least twice (from its sender, to the other tab), plus joins and receipts.
    assert.ok(fromPages.filter((t) => t === 'record').length >= 2);
    assert.ok(fromServer.filter((t) => t === 'record').length >= SCRIPT.length + 1);
    assert.equal(result.secureHidden, true);
    assert.equal(result.ok, true);
  });

  it('prints both captures side by side and both verdicts', () => {
    const report = formatReport(result, 160);
    assert.match(report, /PLAIN .*\| SECURE /);
    assert.match(report, /plain seq 0: line #0: "meet me at the library at six"/);
    assert.match(report, /record seq 0: token gAAAAA/);
    assert.match(report, /PASS {2}plain: {2}every chat line is readable/);
    assert.match(report, /PASS {2}secure: no chat line in tshark's decoding/);
    assert.doesNotMatch(formatReport(result, 80), /\| SECURE/, 'stacked, not side by side, in 80 columns');
  });
});

describe('npm run capture -- --tls', { skip }, () => {
  let dir: string;
  let result: CaptureResult;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wirechat-capture-tls-test-'));
    result = await runCapture({ out: dir, tls: true });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('saves both TLS captures and the key log that opens them', async () => {
    assert.equal(result.plain.file, join(dir, 'tls-plain.pcapng'));
    assert.equal(result.secure.file, join(dir, 'tls-secure.pcapng'));
    assert.equal(result.tls?.keylog, join(dir, 'tls-keys.log'));
    const keylog = await readFile(join(dir, 'tls-keys.log'), 'utf8');
    assert.match(keylog, /^CLIENT_HANDSHAKE_TRAFFIC_SECRET [0-9a-f]{64} [0-9a-f]+$/m);
    assert.match(keylog, /^SERVER_TRAFFIC_SECRET_0 [0-9a-f]{64} [0-9a-f]+$/m);
  });

  it('without the key log: TLS records only, no HTTP, no WebSocket frame, no chat line, no token in either file', async () => {
    for (const m of [result.plain, result.secure]) {
      const sealed = spawnSync(
        'tshark',
        ['-r', m.file, ...overTls(m.port, ''), '-Y', 'websocket || http', '-T', 'fields', '-e', 'frame.number'],
        { encoding: 'utf8' },
      );
      assert.equal(sealed.status, 0, sealed.stderr);
      assert.equal(sealed.stdout.trim(), '', `${m.mode}: nothing inside TLS decoded without the key log`);
      const records = spawnSync(
        'tshark',
        ['-r', m.file, ...overTls(m.port, ''), '-Y', 'tls.app_data', '-T', 'fields', '-e', 'frame.number'],
        { encoding: 'utf8' },
      );
      assert.ok(records.stdout.trim().split('\n').length >= 20, `${m.mode}: TLS application data records are there`);
      const raw = await readFile(m.file);
      for (const mark of [...SCRIPT.map((l) => l.text), 'gAAAAA', '"type":', 'GET /ws']) {
        assert.equal(raw.includes(Buffer.from(mark)), false, `${m.mode}: ${JSON.stringify(mark)} in the raw bytes`);
      }
    }
    assert.equal(result.tls?.sealed, true);
  });

  it('with the key log, secure: WebSocket frames carrying Fernet tokens, and no chat line', () => {
    const texts = tsharkTexts(result.secure.file, result.secure.port, overTls(result.secure.port, result.tls!.keylog));
    for (const { text } of SCRIPT)
      assert.deepEqual(
        texts.filter((t) => t.text.includes(text)),
        [],
        text,
      );
    const records = texts
      .map((t) => (t.fromServer ? parseServerFrame(t.text) : parseClientFrame(t.text)))
      .filter((f) => f.type === 'record');
    assert.ok(records.length >= SCRIPT.length * 2, `${records.length} record frames`);
    for (const r of records) assert.match((r as { token: string }).token, /^gAAAAA/);
    assert.equal(result.secureHidden, true);
  });

  it('with the key log, plain: every chat line readable', () => {
    const texts = tsharkTexts(result.plain.file, result.plain.port, overTls(result.plain.port, result.tls!.keylog));
    for (const { text } of SCRIPT) assert.ok(texts.filter((t) => t.text.includes(text)).length >= 2, text);
    assert.equal(result.plainReadable, true);
    assert.equal(result.ok, true);
  });

  it('prints the three layers side by side and the three verdicts', () => {
    const report = formatReport(result, 200);
    assert.match(report, /1 NO KEY LOG +\| 2 KEY LOG, SECURE +\| 3 KEY LOG, PLAIN/);
    assert.match(report, /Client Hello \(\d+ B\)/);
    assert.match(
      report,
      /Application Data \(\d+ B\) +\| +\d+ -> record seq 0: token gAAAAA.* \| +\d+ -> plain seq 0: line #0: "meet me at the library at six"/,
    );
    // The TLS handshake, opened by the key log (wrapped over two lines in its column).
    assert.match(report, /Encrypted Extensions,/);
    assert.match(report, /Certificate, Certificate Verify, Finished/);
    assert.match(report, /PASS {2}1 no key log: {6}tshark decodes no HTTP and no WebSocket frame in either file/);
    assert.match(report, /PASS {2}2 key log, secure: TLS opened: tshark decoded \d+ record frames/);
    assert.match(report, /PASS {2}3 key log, plain: {2}every chat line is readable once TLS is opened/);
    assert.doesNotMatch(formatReport(result, 100), /\| 2 KEY LOG/, 'stacked, not side by side, in 100 columns');
  });
});

describe('npm run capture without tshark', () => {
  it('says how to install it, and the command exits 2', async () => {
    await assert.rejects(runCapture({ out: tmpdir(), tshark: '/nonexistent/tshark' }), (error: unknown) => {
      assert.ok(error instanceof CaptureSetupError);
      assert.match(error.message, /sudo apt-get install tshark/);
      return true;
    });
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'tools/capture.ts', '--tshark', '/nonexistent/tshark'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /tshark was not found .*sudo apt-get install tshark/);
  });

  it('answers --help', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'tools/capture.ts', '--help'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(run.status, 0);
    assert.match(run.stdout, /--out DIR/);
  });
});

const canDropRoot = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).error === undefined;

describe(
  'npm run capture as a user who may not capture',
  { skip: !haveTshark || !canDropRoot ? 'needs root, setpriv and tshark' : false },
  () => {
    it('says it is a permission problem, how to fix it, and exits 2', async () => {
      const home = await mkdtemp(join(tmpdir(), 'wirechat-nobody-'));
      try {
        await chmod(home, 0o777);
        const run = spawnSync(
          'setpriv',
          [
            '--reuid=65534',
            '--regid=65534',
            '--clear-groups',
            'env',
            `HOME=${home}`,
            process.execPath,
            '--import',
            'tsx',
            'tools/capture.ts',
            '--out',
            join(home, 'captures'),
          ],
          { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
        );
        assert.equal(run.status, 2, run.stdout + run.stderr);
        assert.match(run.stderr, /may not capture on the loopback interface as this user \(uid 65534\)/);
        assert.match(run.stderr, /You do not have permission to capture on device "lo"/);
        assert.match(run.stderr, /sudo dpkg-reconfigure wireshark-common/);
      } finally {
        await rm(home, { recursive: true, force: true });
      }
    });
  },
);
