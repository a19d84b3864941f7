/**
 * server/static.ts through the real server, over raw TCP (test/helpers/raw-http.ts), since an HTTP client
 * would tidy up the very paths these tests send: only files under dist/ are served, with the right headers on
 * every status, and a dist/ rebuilt while it is served costs at most the one response that raced it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_IN_FLIGHT, SECURITY_HEADERS } from '../../server/http-guard.ts';
import { exchange, rawRequest, upgradeHeaders, type HttpAnswer } from '../helpers/raw-http.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const INDEX = '<!doctype html><title>wirechat</title><script type="module" src="/assets/app-1a2b.js"></script>\n';
const APP = 'console.log("the page");\n';
const SECRET = 'a file next to dist/, never to be served\n';

/** The files of a small dist/, and a secret beside it that no path may reach. */
async function makeDist(): Promise<{ dir: string; dist: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'wirechat-static-'));
  const dist = join(dir, 'dist');
  await mkdir(join(dist, 'assets'), { recursive: true });
  await mkdir(join(dist, 'folder'));
  await writeFile(join(dist, 'index.html'), INDEX);
  await writeFile(join(dist, 'assets', 'app-1a2b.js'), APP);
  await writeFile(join(dist, 'robots.txt'), 'User-agent: *\n');
  await writeFile(join(dir, 'secret.txt'), SECRET);
  return { dir, dist };
}

function assertSecurityHeaders(answer: HttpAnswer, what: string): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    assert.deepEqual(answer.headers.get(name.toLowerCase()), [value], `${what}: ${name} on a ${answer.status}`);
  }
}

describe('the static file server', () => {
  let server: TestServer;
  let dir: string;
  let dist: string;
  const get = (target: string, headers: Array<[string, string]> = [], method = 'GET') =>
    exchange(server.port, rawRequest(method, target, [['Host', `127.0.0.1:${server.port}`], ...headers]), {
      head: method === 'HEAD',
    });

  /** Writes `bytes` on a fresh connection and reads until the server closes it (the test fails after 10 s). */
  async function closedAfter(bytes: string | Buffer): Promise<string> {
    const socket = connect({ port: server.port, host: '127.0.0.1' });
    socket.on('error', () => undefined);
    let answered = '';
    socket.on('data', (chunk: Buffer) => (answered += chunk.toString('latin1')));
    const closedByServer = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 10_000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    socket.write(bytes);
    try {
      assert.ok(await closedByServer, 'the server kept the connection open');
    } finally {
      socket.destroy();
    }
    return answered;
  }

  before(async () => {
    ({ dir, dist } = await makeDist());
    server = await startTestServer({}, { dist });
  });
  after(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves index.html at / as HTML, fetched fresh every time (no-cache)', async () => {
    const answer = await get('/');
    assert.equal(answer.status, 200);
    assert.equal(answer.body.toString(), INDEX);
    assert.deepEqual(answer.headers.get('content-type'), ['text/html; charset=utf-8']);
    assert.deepEqual(answer.headers.get('content-length'), [String(Buffer.byteLength(INDEX))]);
    assert.deepEqual(answer.headers.get('cache-control'), ['no-cache']);
    assertSecurityHeaders(answer, '/');
    assert.equal((await get('/index.html?v=2')).body.toString(), INDEX, 'a query does not change the file');
  });

  it('marks files under /assets/ immutable, and only those', async () => {
    const asset = await get('/assets/app-1a2b.js');
    assert.equal(asset.status, 200);
    assert.equal(asset.body.toString(), APP);
    assert.deepEqual(asset.headers.get('cache-control'), ['public, max-age=31536000, immutable']);
    assert.deepEqual((await get('/robots.txt')).headers.get('cache-control'), ['no-cache']);
    // The decision is made on the file reached, not on how the path begins.
    const around = await get('/assets/../index.html');
    assert.equal(around.body.toString(), INDEX);
    assert.deepEqual(around.headers.get('cache-control'), ['no-cache']);
    const encoded = await get('/assets/%2e%2e/index.html');
    assert.deepEqual(encoded.headers.get('cache-control'), ['no-cache']);
  });

  it('reaches nothing outside dist/, however the .. is spelled', async () => {
    for (const target of [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2E%2E/secret.txt',
      '/assets/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/..%2fsecret.txt',
      '/.%2e/secret.txt',
      '/..%5csecret.txt',
      '/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '//etc/passwd',
      `/${'../'.repeat(20)}etc/passwd`,
    ]) {
      const answer = await get(target);
      assert.equal(answer.status, 404, target);
      assert.ok(!answer.body.toString().includes('never to be served'), target);
      assert.ok(!answer.body.toString().includes('root:'), target);
      assertSecurityHeaders(answer, target);
    }
  });

  it('refuses a NUL byte in the path with 400, encoded or not past the parser', async () => {
    for (const target of ['/%00', '/index.html%00', '/index.html%00.js', '/assets/%00/../app-1a2b.js']) {
      const answer = await get(target);
      assert.equal(answer.status, 400, target);
      assertSecurityHeaders(answer, target);
    }
  });

  it('refuses a path that is not percent-encoded UTF-8 with 400', async () => {
    for (const target of ['/%', '/%zz', '/%c3', '/%ff%fe', '/assets/%e2%82']) {
      const answer = await get(target);
      assert.equal(answer.status, 400, target);
      assertSecurityHeaders(answer, target);
    }
  });

  it('refuses a target that is not a path with 400, and takes absolute-form for its own Host', async () => {
    for (const target of [
      '*',
      'index.html',
      'x:99999',
      'mailto:a@b',
      'file:///etc/passwd',
      'http:/index.html',
      'http://x:99999/',
    ]) {
      const answer = await get(target);
      assert.equal(answer.status, 400, target);
      assertSecurityHeaders(answer, target);
    }
    const absolute = await get(`http://127.0.0.1:${server.port}/assets/app-1a2b.js`);
    assert.equal(absolute.status, 200);
    assert.equal(absolute.body.toString(), APP);
    assert.equal((await get(`HTTP://127.0.0.1:${server.port}`)).body.toString(), INDEX, 'no path is /');
  });

  it('answers 405 with Allow: GET, HEAD to every other method', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND']) {
      const answer = await get('/', [], method);
      assert.equal(answer.status, 405, method);
      assert.deepEqual(answer.headers.get('allow'), ['GET, HEAD'], method);
      assertSecurityHeaders(answer, method);
    }
    const star = await exchange(server.port, rawRequest('OPTIONS', '*', [['Host', 'localhost']]));
    assert.equal(star.status, 405, 'OPTIONS *');
  });

  it('answers a directory, or a folder without index.html, with 404', async () => {
    for (const target of ['/folder', '/folder/', '/assets', '/assets/', '/nothing/here/']) {
      const answer = await get(target);
      assert.equal(answer.status, 404, target);
      assertSecurityHeaders(answer, target);
    }
  });

  it('answers HEAD with the headers GET would send and no body', async () => {
    const got = await get('/assets/app-1a2b.js');
    const request = rawRequest('HEAD', '/assets/app-1a2b.js', [
      ['Host', 'localhost'],
      ['Connection', 'close'],
    ]);
    // Read up to the close: any byte after the headers would be a body HEAD must not have.
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(server.port, '127.0.0.1');
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString('latin1')));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
      socket.setTimeout(5000, () => socket.destroy(new Error('HEAD: no close within 5 s')));
      socket.write(request);
    });
    const [head = '', body] = raw.split('\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(body, '', 'HEAD carried a body');
    for (const name of ['content-length', 'content-type', 'cache-control']) {
      assert.ok(head.toLowerCase().includes(`${name}: ${got.headers.get(name)![0]!.toLowerCase()}`), name);
    }
    assert.equal((await get('/nothing', [], 'HEAD')).status, 404);
  });

  it('carries the CSP and the other security headers on every status it answers', async () => {
    const statuses = new Map<number, HttpAnswer>();
    const port = server.port;
    const cases: Array<Promise<HttpAnswer>> = [
      get('/'),
      get('/missing.js'),
      get('/', [], 'POST'),
      get('/%zz'),
      exchange(
        port,
        rawRequest('GET', '/', [
          ['Host', 'a'],
          ['Host', 'b'],
        ]),
      ),
      exchange(port, rawRequest('GET', '/', [])),
      exchange(port, rawRequest('GET', 'http://elsewhere.example/', [['Host', 'localhost']])),
      exchange(port, rawRequest('GET', `/${'a'.repeat(20_000)}`, [['Host', 'localhost']])),
      exchange(port, 'GET /\x01 HTTP/1.1\r\nHost: localhost\r\n\r\n'),
      exchange(port, 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n'),
    ];
    for (const answer of await Promise.all(cases)) {
      statuses.set(answer.status, answer);
      assertSecurityHeaders(answer, `status ${answer.status}`);
    }
    assert.deepEqual([...statuses.keys()].sort(), [200, 400, 404, 405, 431]);
  });

  it('serves a file removed (and rewritten) between stat and read whole or not at all, and keeps serving', async () => {
    // What a rebuild does to dist/ while the server is serving it: files vanish and come back, over and over.
    const name = join(dist, 'assets', 'rebuilt.js');
    const content = Buffer.alloc(64 * 1024, 'r');
    await writeFile(name, content);
    let rebuilding = true;
    const rebuilder = (async () => {
      let rounds = 0;
      while (rebuilding) {
        await unlink(name).catch(() => undefined);
        await writeFile(name, content);
        rounds++;
      }
      return rounds;
    })();
    const outcomes = { whole: 0, missing: 0, cut: 0 };
    try {
      for (let i = 0; i < 60; i++) {
        const answers = await Promise.allSettled(Array.from({ length: 4 }, () => get('/assets/rebuilt.js')));
        for (const settled of answers) {
          if (settled.status === 'rejected') {
            // A file caught mid-write is cut short: that response ends with its connection, and nothing else.
            assert.match(String(settled.reason), /closed after \d+ of \d+ body bytes/);
            outcomes.cut++;
            continue;
          }
          const answer = settled.value;
          assert.ok(answer.status === 200 || answer.status === 404, `status ${answer.status}`);
          if (answer.status === 404) outcomes.missing++;
          else {
            // Whole, or the part that existed when it was opened, with a Content-Length to match.
            assert.ok(content.subarray(0, answer.body.length).equals(answer.body), 'a body that is not the file');
            outcomes.whole++;
          }
        }
      }
    } finally {
      rebuilding = false;
    }
    const rounds = await rebuilder;
    assert.ok(rounds > 10, `the rebuild loop ran ${rounds} times`);
    assert.ok(outcomes.whole > 0, `outcomes ${JSON.stringify(outcomes)}`);
    assert.deepEqual(server.logs, []);
    const after = await get('/');
    assert.equal(after.status, 200);
    assert.equal(after.body.toString(), INDEX);
  });

  it('cuts a response short, and only that one, when its file shrinks while it is sent', async () => {
    const name = join(dist, 'assets', 'shrinking.bin');
    const size = 32 * 1024 * 1024;
    await writeFile(name, Buffer.alloc(size, 's'));
    server.http.keepAliveTimeout = 60_000;
    const socket = connect(server.port, '127.0.0.1');
    let received = 0;
    let headers = '';
    const closed = new Promise<void>((resolve, reject) => {
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    const firstBytes = new Promise<void>((resolve) => {
      socket.once('data', (chunk: Buffer) => {
        headers = chunk.toString('latin1').split('\r\n\r\n')[0]!;
        // Stop reading: the server's stream waits on the socket, with most of the file still unread.
        socket.pause();
        resolve();
      });
    });
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.write(rawRequest('GET', '/assets/shrinking.bin', [['Host', 'localhost']]));
    await firstBytes;
    assert.match(headers, new RegExp(`content-length: ${size}`, 'i'));
    await truncate(name, 1024);
    socket.resume();
    // Without the cut, the connection would stay open (keep-alive), the client waiting for bytes that never come.
    const timer = setTimeout(
      () => socket.destroy(new Error('the connection stayed open after the file shrank')),
      10_000,
    );
    await closed.finally(() => clearTimeout(timer));
    assert.ok(received < size, `received ${received} of ${size} bytes`);
    assert.equal((await get('/')).status, 200, 'the server keeps serving');
    assert.deepEqual(server.logs, [], 'a file that shrank is not a read error');
  });

  it('closes a connection that pipelines requests without waiting for the answers, after a few', async () => {
    // Node parses every request a read holds and calls the handler for each at once; each opened its file before
    // anything was written, so Node's own pipelining backpressure (on bytes queued) never engaged. Seen on
    // loopback: one connection that wrote 88,000 GETs and read nothing had the server hold 8,141 open files and
    // grow by about 300 MB.
    const answered = await closedAfter(
      rawRequest('GET', '/', [['Host', 'localhost']])
        .toString()
        .repeat(1000),
    );
    const statuses = answered.match(/^HTTP\/1\.1 \d{3}/gm) ?? [];
    assert.ok(statuses.length <= MAX_IN_FLIGHT, `${statuses.length} answers to one pipelining connection`);
    assert.equal((await get('/')).status, 200);
  });

  it('closes a connection that pipelines an upgrade behind a request still being answered, without a 101', async () => {
    // Node hands the upgrade over at once while the page's file is still being opened: the 101 went out ahead of
    // the earlier request's 200, and the 200 and the file's bytes then went into the WebSocket as the server's.
    const answered = await closedAfter(
      Buffer.concat([
        rawRequest('GET', '/assets/app-1a2b.js', [['Host', `127.0.0.1:${server.port}`]]),
        rawRequest('GET', '/ws', upgradeHeaders(server.port)),
      ]),
    );
    assert.doesNotMatch(answered, /101 Switching Protocols/);
    assert.deepEqual(server.logs, []);
    // One request, its answer read, then the upgrade on the same keep-alive connection: upgraded as ever.
    const kept = connect({ port: server.port, host: '127.0.0.1' });
    kept.on('error', () => undefined);
    let seen = '';
    const upgraded = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 10_000);
      kept.on('data', (chunk: Buffer) => {
        seen += chunk.toString('latin1');
        if (seen.includes(APP)) kept.write(rawRequest('GET', '/ws', upgradeHeaders(server.port)));
        if (seen.includes('101 Switching Protocols')) {
          clearTimeout(timer);
          resolve(true);
        }
      });
    });
    kept.write(rawRequest('GET', '/assets/app-1a2b.js', [['Host', `127.0.0.1:${server.port}`]]));
    try {
      assert.ok(await upgraded, `no 101 after the answer was read: ${seen.slice(-200)}`);
    } finally {
      kept.destroy();
    }
  });

  it('lets a client walk away mid-download without a word on the console', async () => {
    const name = join(dist, 'assets', 'large.bin');
    await writeFile(name, Buffer.alloc(16 * 1024 * 1024, 'l'));
    const socket = connect(server.port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => {
      socket.once('data', () => resolve());
      socket.write(rawRequest('GET', '/assets/large.bin', [['Host', 'localhost']]));
    });
    socket.destroy();
    const open = () =>
      new Promise<number>((resolve, reject) => server.http.getConnections((e, n) => (e ? reject(e) : resolve(n))));
    for (let i = 0; (await open()) > 0; i++) {
      assert.ok(i < 500, 'the server never noticed the client leave');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.deepEqual(server.logs, []);
    assert.equal((await get('/')).status, 200);
  });
});
