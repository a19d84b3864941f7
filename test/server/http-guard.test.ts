/**
 * Issue 10, item 1: no request kills the server. The 'request' and 'upgrade' handlers, Node's 'clientError' and
 * 'connect' paths and the socket after the upgrade, each met with what once crashed the process or what a
 * browser, a proxy or a hand-typed request could send, over raw TCP to the real server. Every case asserts the
 * status (or close code) and that the server then serves a real tab; the last group does it to `npm run server`
 * itself, as a person would hit it. test/server/http-fuzz.test.ts throws fast-check at the same doors.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { guardRequest, guardUpgrade, refuseSocket } from '../../server/http-guard.ts';
import { assertServesFreshTabs } from '../helpers/checks.ts';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';
import { exchange, rawRequest, upgradeHeaders, type HttpAnswer } from '../helpers/raw-http.ts';
import { until } from '../helpers/raw-client.ts';
import { startTestServer, testKeyPair, type TestServer } from '../helpers/server.ts';
import { ScriptedClient } from '../../tools/client.ts';
import type { ServerLine } from '../../shared/protocol.ts';

const EVIL = 'http://evil.example';

/** An upgrade as a browser sends it for `new WebSocket('ws://127.0.0.1:PORT' + target)` from a page at `origin`. */
function upgrade(
  port: number,
  target: string,
  origin = `http://127.0.0.1:${port}`,
  extra: Array<[string, string]> = [],
): Buffer {
  const headers = upgradeHeaders(port).map(([name, value]): [string, string] =>
    name === 'Origin' ? [name, origin] : [name, value],
  );
  return rawRequest('GET', target, [...headers, ...extra]);
}

describe('requests that once killed the server, or could', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.stop());
  const port = () => server.port;
  const send = (request: Buffer | string) => exchange(port(), request);

  it('an upgrade to //[ is refused (403 from another site, 404 from this one) and the server keeps serving', async () => {
    assert.equal((await send(upgrade(port(), '//[', EVIL))).status, 403);
    assert.equal((await send(upgrade(port(), '//['))).status, 404);
    await assertServesFreshTabs(server.wsUrl);
    assert.deepEqual(server.logs, []);
  });

  it('an upgrade to http://x:99999/ is refused with 400 (its host is not the Host header) and the server keeps serving', async () => {
    const answer = await send(upgrade(port(), 'http://x:99999/'));
    assert.equal(answer.status, 400);
    assert.match(answer.body.toString(), /not the Host header/);
    // With a Host to match it is a well-formed absolute-form target, for a host that is not this machine.
    const matching = rawRequest('GET', 'http://x:99999/', [
      ...upgradeHeaders(port()).filter(([n]) => n !== 'Host'),
      ['Host', 'x:99999'],
    ]);
    assert.equal((await send(matching)).status, 403);
    await assertServesFreshTabs(server.wsUrl);
  });

  it('judges the Origin before the path: another site gets the same 403 whatever it asks for', async () => {
    const answers: HttpAnswer[] = [];
    for (const target of ['/ws', '/nope', '//[', '/%', '/ws?x=1', '/ws/../ws'])
      answers.push(await send(upgrade(port(), target, EVIL)));
    assert.deepEqual(
      answers.map((a) => a.status),
      [403, 403, 403, 403, 403, 403],
    );
    assert.equal(new Set(answers.map((a) => a.body.toString())).size, 1, 'the refusal says nothing about the path');
  });

  it('accepts the upgrade in absolute-form when its authority is the Host, and with a query', async () => {
    const absolute = await send(upgrade(port(), `http://127.0.0.1:${port()}/ws`));
    assert.equal(absolute.status, 101);
    assert.equal(absolute.wsClose, 1000, 'a 101, then a proper close when the client closes');
    assert.equal((await send(upgrade(port(), '/ws?from=test'))).status, 101);
    assert.equal((await send(upgrade(port(), `http://other.example:${port()}/ws`))).status, 400);
  });

  it('refuses an upgrade by any method but GET with 405 and Allow: GET', async () => {
    for (const method of ['POST', 'PUT', 'HEAD', 'OPTIONS', 'DELETE']) {
      const answer = await send(rawRequest(method, '/ws', upgradeHeaders(port())));
      assert.equal(answer.status, 405, method);
      assert.deepEqual(answer.headers.get('allow'), ['GET'], method);
    }
  });

  it('refuses two Hosts, no Host, an odd Host and two Origins with 400, on upgrades and plain requests', async () => {
    const base = upgradeHeaders(port());
    const without = (name: string) => base.filter(([n]) => n !== name);
    const cases: Array<[string, Array<[string, string]>]> = [
      ['two Hosts', [...base, ['Host', 'evil.example']]],
      ['two Hosts, one empty', [...base, ['host', '']]],
      ['no Host', without('Host')],
      ['a Host with a space', [...without('Host'), ['Host', 'a b']]],
      ['a Host with a slash', [...without('Host'), ['Host', '127.0.0.1/ws']]],
      ['a Host of an unclosed IPv6 literal', [...without('Host'), ['Host', '[::1']]],
      ['two Origins', [...base, ['Origin', EVIL]]],
    ];
    for (const [what, headers] of cases) {
      const up = await send(rawRequest('GET', '/ws', headers));
      assert.equal(up.status, 400, `upgrade with ${what}: ${up.body}`);
      const plain = await send(
        rawRequest(
          'GET',
          '/',
          headers.filter(([n]) => !/^(upgrade|connection|sec-)/i.test(n)),
        ),
      );
      assert.equal(plain.status, 400, `plain request with ${what}: ${plain.body}`);
      assert.deepEqual(plain.headers.get('connection'), ['close'], what);
    }
    // HTTP/1.0 had no Host: such a request is served (here: no page, so 404), not refused.
    assert.equal((await send(rawRequest('GET', '/', [], 'HTTP/1.0'))).status, 404);
  });

  it('refuses an upgrade to the asterisk-form or another target that is not a path with 400', async () => {
    // (Plain requests for them: test/server/static.test.ts.)
    for (const target of ['*', 'ws', 'x:99999', 'mailto:a@b', 'file:///etc/passwd', 'http:/ws']) {
      assert.equal((await send(upgrade(port(), target))).status, 400, `upgrade ${target}`);
    }
  });

  it('answers a request line or headers over the size limit with 431, with our headers, and closes', async () => {
    for (const request of [
      upgrade(port(), `/ws?${'a'.repeat(20_000)}`),
      rawRequest('GET', '/', [
        ['Host', 'localhost'],
        ['X-Big', 'b'.repeat(20_000)],
      ]),
      rawRequest('GET', '/', [
        ['Host', 'localhost'],
        ...Array.from({ length: 4000 }, (_, i): [string, string] => [`X-${i}`, 'y']),
      ]),
    ]) {
      const answer = await send(request);
      assert.equal(answer.status, 431);
      assert.deepEqual(answer.headers.get('connection'), ['close']);
      assert.ok(answer.headers.has('content-security-policy'));
    }
  });

  it('answers bytes that are not HTTP with 400 and closes the connection', async () => {
    for (const junk of [
      '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n',
      'GET /\x00 HTTP/1.1\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n',
    ]) {
      const answer = await send(Buffer.from(junk, 'latin1'));
      assert.equal(answer.status, 400, JSON.stringify(junk));
      assert.deepEqual(answer.headers.get('connection'), ['close']);
    }
    await assertServesFreshTabs(server.wsUrl);
  });

  it('answers an Expect it does not know with 417 and our headers, and 100-continue with 100 first', async () => {
    const refused = await send(
      rawRequest('GET', '/', [
        ['Host', 'localhost'],
        ['Expect', 'teapot'],
      ]),
    );
    assert.equal(refused.status, 417);
    assert.ok(refused.headers.has('content-security-policy'));
    const continued = await send(
      rawRequest('POST', '/', [
        ['Host', 'localhost'],
        ['Expect', '100-continue'],
        ['Content-Length', '0'],
      ]),
    );
    assert.deepEqual(continued.interim, [100]);
    assert.equal(continued.status, 404);
  });

  it('answers CONNECT with 405 instead of dropping the connection', async () => {
    const answer = await send('CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n');
    assert.equal(answer.status, 405);
    assert.deepEqual(answer.headers.get('allow'), ['GET, HEAD']);
  });

  it('leaves the refusals to ws where ws owns the rule (key, version, Upgrade), and survives them', async () => {
    const base = upgradeHeaders(port());
    const set = (name: string, value: string) => base.map(([n, v]): [string, string] => [n, n === name ? value : v]);
    for (const headers of [
      set('Sec-WebSocket-Key', 'short'),
      set('Sec-WebSocket-Version', '7'),
      set('Upgrade', 'h2c'),
      set('Sec-WebSocket-Key', 'a'.repeat(24)),
    ]) {
      const answer = await send(rawRequest('GET', '/ws', headers));
      assert.equal(answer.status, 400, JSON.stringify(headers));
    }
    await assertServesFreshTabs(server.wsUrl);
  });

  it('upgrades a request that offers subprotocols without choosing one: it speaks none of them', async () => {
    // ws alone answers with the first one offered, telling a client the server speaks whatever it named.
    const answer = await send(
      rawRequest('GET', '/ws', [...upgradeHeaders(port()), ['Sec-WebSocket-Protocol', 'chat.superuser, wirechat']]),
    );
    assert.equal(answer.status, 101);
    assert.equal(answer.headers.get('sec-websocket-protocol'), undefined);
  });
});

describe('a tab refused because the server is full (--max-connections 1)', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ maxConnections: 1 });
  });
  after(() => server.stop());

  it('cannot crash the server with a bad frame while it is being closed 1013', async () => {
    const first = await server.connect({ name: 'first' });
    // Once refused as full, the extra socket sends a frame with RSV1 set: ws reports that as an 'error' on a
    // WebSocket that had no listener, which threw out of ws and ended the process.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(server.port, '127.0.0.1');
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (text.includes('\r\n\r\n') && !socket.destroyed) socket.write(Buffer.from([0xc1, 0x80, 1, 2, 3, 4]));
      });
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
      socket.write(upgrade(server.port, '/ws'));
    });
    assert.match(answer, /^HTTP\/1\.1 101 /);
    await until(() => server.relay.size === 1, 'the refused socket to be gone');
    const id = await first.send('the first tab is still here');
    await first.waitFor((body) => body.kind === 'receipt' && body.id === id && body.status === 'delivered');
    await first.bye();
    assert.deepEqual(server.logs, []);
  });
});

describe('the guards around the handlers', () => {
  const logs: string[] = [];
  let http: Server;
  let port: number;

  before(async () => {
    // Handlers that fail on purpose, since the real ones no longer do: what the guard does when one does.
    http = createServer(
      guardRequest(logs.push.bind(logs), (req) => {
        if (req.url === '/throw') throw new Error('a handler bug \x1b[2J');
        return Promise.reject(new Error('an async handler bug'));
      }),
    );
    http.on(
      'upgrade',
      guardUpgrade(logs.push.bind(logs), (req, socket) => {
        if (req.url === '/ok') return refuseSocket(socket, 418, 'teapot');
        throw new TypeError('Invalid URL');
      }),
    );
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    port = (http.address() as { port: number }).port;
  });
  after(() => new Promise<void>((resolve) => http.close(() => resolve())));

  it('answers a handler that throws with 500, logs it printable, and keeps serving', async () => {
    const answer = await exchange(port, rawRequest('GET', '/throw', [['Host', 'localhost']]));
    assert.equal(answer.status, 500);
    assert.deepEqual(answer.headers.get('connection'), ['close']);
    assert.ok(answer.headers.has('content-security-policy'));
    assert.equal(logs.length, 1);
    assert.match(logs[0]!, /^internal error answering GET \/throw: a handler bug \\u001b\[2J$/);
  });

  it('answers a handler whose promise rejects with 500, and logs it', async () => {
    assert.equal((await exchange(port, rawRequest('GET', '/reject', [['Host', 'localhost']]))).status, 500);
    assert.match(logs.at(-1)!, /an async handler bug/);
  });

  it('answers an upgrade handler that throws with 500 and a closed socket, and keeps serving', async () => {
    const answer = await exchange(port, upgrade(port, '/throw'));
    assert.equal(answer.status, 500);
    assert.match(logs.at(-1)!, /^internal error answering the upgrade GET \/throw: Invalid URL$/);
    const ok = await exchange(port, upgrade(port, '/ok'));
    assert.equal(ok.status, 418);
    assert.equal(ok.reason, "I'm a Teapot", 'the reason phrase comes from http.STATUS_CODES');
  });
});

describe('a request that never arrives whole: --handshake-timeout bounds it (Node alone waited 60-90 s)', () => {
  const TIMEOUT_MS = 1000;
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ handshakeTimeoutMs: TIMEOUT_MS });
  });
  after(() => server.stop());

  it('answers half a request with 408 and our headers, and a dripping one too; a chat joined before lives on', async () => {
    // A tab joined before the slow requests: the bound is the request's, never the WebSocket's after its upgrade.
    const a = await ScriptedClient.connect({ url: server.wsUrl, keyPair: testKeyPair(), name: 'before' });
    const started = performance.now();
    // Bounded well below Node's own 60 s (checked every 30 s): a hang here fails as exchange's timeout.
    const half = exchange(server.port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n', { timeoutMs: 15_000 });
    const drip = new Promise<string>((resolve, reject) => {
      const socket = connect(server.port, '127.0.0.1');
      const request = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ' + 'z'.repeat(4000);
      let sent = 0;
      let answer = '';
      // One byte per 50 ms: 20 a second, each one a sign of life Node's old defaults would have waited 60 s on.
      const timer = setInterval(() => socket.write(request[sent++ % request.length]!), 50);
      const giveUp = setTimeout(() => socket.destroy(new Error('the dripping request was never cut')), 15_000);
      socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
      socket.on('error', reject);
      socket.on('close', () => {
        clearInterval(timer);
        clearTimeout(giveUp);
        resolve(answer);
      });
    });
    const [halfAnswer, dripAnswer] = await Promise.all([half, drip]);
    assert.equal(halfAnswer.status, 408);
    assert.deepEqual(halfAnswer.headers.get('connection'), ['close']);
    assert.ok(halfAnswer.headers.has('content-security-policy'), 'our headers on the 408');
    assert.match(dripAnswer, /^HTTP\/1\.1 408 /);
    assert.ok(performance.now() - started >= TIMEOUT_MS, 'not cut before its time');
    // The tab joined before is still there, past the time any request had.
    const b = await ScriptedClient.connect({ url: server.wsUrl, keyPair: testKeyPair(), name: 'after' });
    await a.send('still here');
    await b.waitFor((body): body is ServerLine => body.kind === 'line' && body.text === 'still here');
    await Promise.all([a.bye(), b.bye()]);
  });
});

describe('npm run server, hit as a user would', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(() => server.stop());

  it("survives new WebSocket('ws://…//[') from another site, and http://x:99999/, and keeps serving tabs", async () => {
    const port = server.port;
    assert.equal((await exchange(port, upgrade(port, '//[', EVIL))).status, 403);
    assert.equal((await exchange(port, upgrade(port, '//['))).status, 404);
    assert.equal((await exchange(port, upgrade(port, 'http://x:99999/'))).status, 400);
    await assertServesFreshTabs(`ws://127.0.0.1:${port}/ws`, 'process');
    await server.waitForLine(/process-a: process: still serving/);
    assert.equal(server.child.exitCode, null, 'the server process exited');
  });
});
