/**
 * fast-check against the HTTP door of the real server (started in-process, serving a small dist/), over raw TCP:
 * request lines (methods, targets such as `//[`, `http://x:99999/`, `%`, `*`, absolute-form, unicode, raw bytes)
 * and header sets (Host, Origin, Upgrade, Connection, Sec-WebSocket-Key/Version, duplicated, odd bytes, sizes
 * around Node's limit), for plain requests and for upgrades. Asserted for every request, on a fresh connection:
 * the answer is a status line Node or we wrote, never a 5xx, never a hang (a bounded wait per request), and a
 * 101 is followed by a proper close frame when the client closes; nothing is logged as an internal error, and
 * no connection is left behind. Asserted afterwards: a real tab (ScriptedClient) joins and chats.
 *
 * Bounded: a fixed number of runs per property, inside a time box. A failure prints fast-check's seed and path;
 * FUZZ_SEED=<seed> replays the same run; FUZZ_REPORT=1 prints how often each status (and each 400's reason) came,
 * to judge how far past Node's parser the requests get.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { assertServesFreshTabs } from '../helpers/checks.ts';
import { exchange, type HttpAnswer } from '../helpers/raw-http.ts';
import { until } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const TIME_BOX_MS = 15_000;
/** Per request: far above any answer's time here, far below a test's. */
const ANSWER_MS = 5000;

function fuzzOptions(numRuns: number) {
  const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
  return { numRuns, seed, endOnFailure: true, plugins: [fc.interruptAfterTimeLimit(TIME_BOX_MS)] };
}

/** Bytes as given: strings as UTF-8, byte arrays as they are (so a request can carry any octet). */
type Bytes = string | Uint8Array;
const asBuffer = (b: Bytes) => (typeof b === 'string' ? Buffer.from(b) : Buffer.from(b));
const show = (b: Bytes) => (typeof b === 'string' ? JSON.stringify(b) : `bytes(${Buffer.from(b).toString('hex')})`);

/** Any octets at all, a few of them: CR, LF, NUL, DEL, 0x80-0xff, spaces, colons. */
const oddBytes: fc.Arbitrary<Bytes> = fc.uint8Array({ minLength: 1, maxLength: 8 });
/** Short strings of any code point (lone surrogates included, sent as UTF-8's replacement). */
const anyText: fc.Arbitrary<Bytes> = fc.string({ maxLength: 12, unit: 'binary' });

function arbitraries(port: number) {
  const self = `127.0.0.1:${port}`;
  const method: fc.Arbitrary<Bytes> = fc.oneof(
    {
      weight: 12,
      arbitrary: fc.constantFrom(
        'GET',
        'GET',
        'GET',
        'HEAD',
        'POST',
        'PUT',
        'DELETE',
        'OPTIONS',
        'PATCH',
        'TRACE',
        'CONNECT',
        'PRI',
        'PROPFIND',
        'M-SEARCH',
      ),
    },
    { weight: 1, arbitrary: fc.constantFrom('get', 'G ET', '', 'GET\0', 'ＧＥＴ') },
    { weight: 1, arbitrary: fc.stringMatching(/^[A-Z!#$%&'*+.^_`|~-]{1,10}$/) },
    { weight: 1, arbitrary: oddBytes },
  );
  const segment = fc.constantFrom(
    'ws',
    'index.html',
    'assets',
    'app.js',
    '..',
    '.',
    '%2e%2e',
    '%2F',
    '%00',
    '%',
    '%zz',
    '%c3%a9',
    'é',
    '[',
    ']',
    '@',
    ':',
    ';',
    '',
    'a'.repeat(300),
  );
  const target: fc.Arbitrary<Bytes> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.constantFrom(
        '/',
        '/ws',
        '/ws?x=1',
        '/ws#f',
        '//[',
        '//ws',
        '/%',
        '*',
        'http://x:99999/',
        `http://${self}/ws`,
        `HTTP://${self}/ws`,
        `http://${self}`,
        `https://${self}/ws`,
        'http://[/',
        'http://evil.example/ws',
        `ws://${self}/ws`,
        'x',
        self,
        '/ws/../ws',
        '/%2e%2e/%2e%2e/etc/passwd',
        '/../../etc/passwd',
        '/index.html',
        '/assets/app.js',
        '/assets/',
        '/assets/..%2findex.html',
        '/ws?%',
        '/?' + 'q'.repeat(17_000),
        '/' + 'p'.repeat(9000),
      ),
    },
    { weight: 3, arbitrary: fc.array(segment, { maxLength: 5 }).map((parts) => '/' + parts.join('/')) },
    { weight: 1, arbitrary: fc.webUrl({ withQueryParameters: true, withFragments: true }) },
    { weight: 1, arbitrary: anyText.map((t) => (typeof t === 'string' ? '/' + t : t)) },
    { weight: 1, arbitrary: oddBytes },
  );
  const version = fc.oneof(
    { weight: 8, arbitrary: fc.constant('HTTP/1.1') },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'HTTP/1.0',
        'HTTP/2.0',
        'HTTP/0.9',
        'http/1.1',
        'HTTP/1.1 ',
        'HTTP/1.10',
        'HTTP/9.9',
        '',
      ),
    },
  );
  // Mostly values a client might send, so that most requests get past Node's parser to our handlers (which
  // is where a throw would come from); some of any text, some of any bytes, for the parser and the guards.
  const value = (usual: string[]): fc.Arbitrary<Bytes> =>
    fc.oneof(
      { weight: 12, arbitrary: fc.constantFrom(...usual) },
      { weight: 2, arbitrary: fc.string({ maxLength: 16 }) },
      { weight: 1, arbitrary: anyText },
      { weight: 1, arbitrary: oddBytes },
    );
  const header: fc.Arbitrary<[Bytes, Bytes]> = fc.oneof(
    {
      weight: 3,
      arbitrary: fc.tuple(
        fc.constantFrom('Host', 'host', 'HOST'),
        value([
          self,
          'localhost',
          `localhost:${port}`,
          '[::1]',
          'evil.example',
          '',
          'x:99999',
          '127.0.0.1:99999',
          'a b',
          '[',
          '//[',
          'h'.repeat(9000),
        ]),
      ),
    },
    {
      weight: 3,
      arbitrary: fc.tuple(
        fc.constantFrom('Origin', 'origin'),
        value([
          `http://${self}`,
          'http://evil.example',
          'null',
          '',
          '//[',
          'http://x:99999',
          `http://${self}, http://evil.example`,
        ]),
      ),
    },
    {
      weight: 3,
      arbitrary: fc.tuple(
        fc.constantFrom('Upgrade', 'upgrade'),
        value(['websocket', 'WebSocket', 'h2c', '', 'websocket, h2c', 'TLS/1.0']),
      ),
    },
    {
      weight: 3,
      arbitrary: fc.tuple(
        fc.constantFrom('Connection', 'connection'),
        value(['Upgrade', 'upgrade', 'keep-alive, Upgrade', 'close', 'keep-alive', '']),
      ),
    },
    {
      weight: 3,
      arbitrary: fc.tuple(
        fc.constant('Sec-WebSocket-Key'),
        value([
          'dGhlIHNhbXBsZSBub25jZQ==',
          'AAAAAAAAAAAAAAAAAAAAAA==',
          'short',
          '',
          'dGhlIHNhbXBsZSBub25jZQ==, dGhlIHNhbXBsZSBub25jZQ==',
        ]),
      ),
    },
    {
      weight: 3,
      arbitrary: fc.tuple(fc.constant('Sec-WebSocket-Version'), value(['13', '8', '7', '', '13, 8', 'x', '013'])),
    },
    {
      weight: 3,
      arbitrary: fc.tuple(
        fc.constantFrom('Sec-WebSocket-Protocol', 'Sec-WebSocket-Extensions'),
        value(['chat', 'permessage-deflate', 'permessage-deflate; client_max_window_bits', ',', '']),
      ),
    },
    { weight: 1, arbitrary: fc.tuple(fc.constant('Content-Length'), value(['0', '0', '5', '-1', 'x', '1, 2'])) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constant('Transfer-Encoding'), value(['chunked', 'gzip, chunked', 'identity'])),
    },
    { weight: 1, arbitrary: fc.tuple(fc.constant('Expect'), value(['100-continue', 'nothing'])) },
    {
      weight: 3,
      arbitrary: fc.tuple(
        fc.constantFrom('X-Fuzz', 'Cookie', 'Referer', 'User-Agent', 'X-Big'),
        value(['a', 'b'.repeat(17_000), '\t', 'é']),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(
        fc.oneof(fc.stringMatching(/^[A-Za-z0-9-]{1,12}$/), oddBytes, fc.constantFrom('', ' Host', 'Host ', 'Ho\0st')),
        anyText,
      ),
    },
  );
  const upgradeBase: Array<[Bytes, Bytes]> = [
    ['Host', self],
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
    ['Sec-WebSocket-Version', '13'],
  ];
  /** A request: its line, then a base set of headers (an upgrade's, a page request's, none) and fuzzed ones. */
  const request = (kind: 'upgrade' | 'plain') =>
    fc.record({
      method:
        kind === 'upgrade'
          ? fc.oneof({ weight: 4, arbitrary: fc.constant<Bytes>('GET') }, { weight: 1, arbitrary: method })
          : method,
      // An upgrade's target is mostly the chat's, so that many get as far as ws and the session behind it.
      target:
        kind === 'upgrade'
          ? fc.oneof(
              { weight: 1, arbitrary: fc.constantFrom<Bytes>('/ws', '/ws?x=1', `http://${self}/ws`) },
              { weight: 1, arbitrary: target },
            )
          : target,
      version,
      base: fc.oneof(
        {
          weight: 6,
          arbitrary: fc.constant<Array<[Bytes, Bytes]>>(kind === 'upgrade' ? upgradeBase : upgradeBase.slice(0, 1)),
        },
        { weight: 1, arbitrary: fc.constant<Array<[Bytes, Bytes]>>(kind === 'upgrade' ? upgradeBase.slice(1) : []) },
      ),
      headers: fc.array(header, { maxLength: 4 }),
      // Where the fuzzed headers go: after the base set (duplicates last) or before it (duplicates first).
      first: fc.boolean(),
    });
  return { request };
}

interface Fuzzed {
  method: Bytes;
  target: Bytes;
  version: string;
  base: Array<[Bytes, Bytes]>;
  headers: Array<[Bytes, Bytes]>;
  first: boolean;
}

function encode(r: Fuzzed): Buffer {
  const headers = r.first ? [...r.headers, ...r.base] : [...r.base, ...r.headers];
  const parts = [asBuffer(r.method), Buffer.from(' '), asBuffer(r.target), Buffer.from(` ${r.version}\r\n`)];
  for (const [name, value] of headers)
    parts.push(asBuffer(name), Buffer.from(': '), asBuffer(value), Buffer.from('\r\n'));
  parts.push(Buffer.from('\r\n'));
  // PRI opens the HTTP/2 connection preface (RFC 9113 §3.4): the parser rightly waits for its last six bytes
  // before it answers (400) as it would wait for any unfinished request, so they are sent.
  if (asBuffer(r.method).toString('latin1') === 'PRI') parts.push(Buffer.from('SM\r\n\r\n'));
  return Buffer.concat(parts);
}

function describeRequest(r: Fuzzed): string {
  const headers = (r.first ? [...r.headers, ...r.base] : [...r.base, ...r.headers]).map(
    ([n, v]) => `${show(n)}: ${show(v).slice(0, 80)}`,
  );
  return `${show(r.method)} ${show(r.target).slice(0, 120)} ${r.version} | ${headers.join(' | ')}`;
}

const statuses = new Map<number, number>();
const reasons = new Map<string, number>();

describe('fuzzing the HTTP request line and headers against the real server', () => {
  let server: TestServer;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wirechat-http-fuzz-'));
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>fuzz</title>\n');
    await writeFile(join(dir, 'assets', 'app.js'), 'console.log(1);\n');
    server = await startTestServer({}, { dist: dir });
  });
  after(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
    if (process.env.FUZZ_REPORT)
      console.log(
        'statuses seen',
        Object.fromEntries([...statuses].sort()),
        [...reasons].sort((a, b) => b[1] - a[1]),
      );
  });

  async function check(r: Fuzzed): Promise<void> {
    const bytes = encode(r);
    const method = asBuffer(r.method).toString('latin1');
    let answer: HttpAnswer;
    try {
      answer = await exchange(server.port, bytes, { head: method === 'HEAD', timeoutMs: ANSWER_MS });
    } catch (error) {
      throw new Error(`${(error as Error).message}\n  request: ${describeRequest(r)}`);
    }
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    if (process.env.FUZZ_REPORT && answer.status === 400) {
      const why = answer.body
        .toString()
        .replace(/"[^"]*"/g, '""')
        .slice(0, 60);
      reasons.set(why, (reasons.get(why) ?? 0) + 1);
    }
    const what = `${answer.status} ${answer.reason} for ${describeRequest(r)}`;
    assert.ok(answer.status < 500, `a server error: ${what}\n${answer.body.toString().slice(0, 300)}`);
    if (answer.status === 101) {
      assert.equal(method, 'GET', what);
      assert.equal(answer.wsClose, 1000, `the close after a 101: ${what}`);
    } else {
      // Every answer, refusals included, carries the page's security headers: none is left to Node's defaults.
      assert.ok(answer.headers.has('content-security-policy'), `no CSP on ${what}`);
    }
    assert.deepEqual(server.logs, [], `logged while answering ${describeRequest(r)}`);
    // Nothing held: a 101 session ends with its close, before the next request.
    await until(() => server.relay.size === 0, `the connection of ${describeRequest(r)} to be gone`, ANSWER_MS);
  }

  it('answers every fuzzed plain request with a status line (800 runs)', async () => {
    await fc.assert(fc.asyncProperty(arbitraries(server.port).request('plain'), check), fuzzOptions(800));
  });

  it('answers every fuzzed upgrade with a status line, or a 101 and a proper close (800 runs)', async () => {
    await fc.assert(fc.asyncProperty(arbitraries(server.port).request('upgrade'), check), fuzzOptions(800));
  });

  it('still serves a fresh tab afterwards: it joins and chats', async () => {
    await assertServesFreshTabs(server.wsUrl, 'after-fuzz');
    // Both kinds of answer were reached: refusals and upgrades that went through (the fuzz got past the checks).
    assert.ok(
      statuses.has(101) && statuses.has(400) && statuses.has(200),
      `statuses seen: ${JSON.stringify([...statuses])}`,
    );
  });
});
