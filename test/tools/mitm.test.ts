/**
 * `npm run mitm` against the real server: each attack goes through the proxy and is caught, and both ends say
 * which check caught it, with the page's own protocol engine (ScriptedClient). The swap against the real page in
 * Chromium is test/e2e/mitm.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { nodeCryptoBackend } from '../../server/node-fernet.ts';
import { fromBase64Url, randomBytes, toBase64Url } from '../../shared/bytes.ts';
import { isWirechatError } from '../../shared/errors.ts';
import { exportSpki, unwrapSessionSecret } from '../../shared/handshake.ts';
import { parseServerFrame, PROTOCOL_VERSION, type ServerBody } from '../../shared/protocol.ts';
import { RecordChannel } from '../../shared/record.ts';
import { startMitm, type MitmProxy } from '../../tools/mitm.ts';
import { ScriptedClient } from '../../tools/client.ts';
import { ROOT, startServerProcess } from '../helpers/process.ts';
import { exchange, rawRequest, upgradeHeaders } from '../helpers/raw-http.ts';
import { startTestServer, testKeyPair, type ConsoleEvent, type TestServer } from '../helpers/server.ts';

const isLine = (text: string) => (body: ServerBody) => body.kind === 'line' && body.text === text;

/** A proxy in front of `target`, its printed lines collected. 2048-bit keys keep the tests quick. */
async function proxy(target: string, options: { swapAll?: boolean } = {}): Promise<{ mitm: MitmProxy; log: string[] }> {
  const log: string[] = [];
  const mitm = await startMitm({ target, port: 0, log: (line) => log.push(line), modulusLength: 2048, ...options });
  await mitm.ready();
  return { mitm, log };
}

function pageRecords(mitm: MitmProxy): number {
  return mitm.frames.filter((f) => f.way === 'up' && f.type === 'record').length;
}

describe('mitm: flip and replay against the in-process server', () => {
  let server: TestServer;
  let mitm: MitmProxy;
  let log: string[];
  before(async () => {
    server = await startTestServer();
    ({ mitm, log } = await proxy(server.url));
  });
  after(async () => {
    await mitm.close();
    await server.stop();
  });

  const leftEvent = (name: string) => server.waitForEvent((e) => e.kind === 'left' && e.name === name);

  for (const field of ['token', 'mac'] as const) {
    it(`flip up (${field}): the server's record MAC check fails, it closes 1008 and the console says RECORD_BAD_MAC`, async () => {
      const name = `up-${field}`;
      const tab = await ScriptedClient.connect({ url: mitm.wsUrl, name, keyPair: testKeyPair() });
      mitm.command(`flip up ${field}`);
      await tab.send('a line someone on the path changed');
      const closed = await tab.closed;
      assert.equal(closed.code, 1008);
      assert.match(closed.reason, /^RECORD_BAD_MAC: record 0 failed its HMAC check/);
      assert.deepEqual(tab.errors, [], 'the page itself found nothing wrong: the server caught it');
      const left = await leftEvent(name);
      assert.equal(left.code, 1008);
      assert.match(left.text, /^dropped: RECORD_BAD_MAC: /);
      assert.equal(
        server.events.some((e) => e.kind === 'line' && e.name === name),
        false,
        'the line was never relayed',
      );
      assert.ok(log.some((l) => l.includes(`FLIP: bit 0 of byte ${field === 'token' ? 25 : 0}`)));
      assert.ok(log.some((l) => /the server closed: 1008 .*=> the server caught it: RECORD_BAD_MAC/.test(l)));
    });
  }

  it("flip down: the page's record MAC check fails, it closes 1008 and the console shows why", async () => {
    const tab = await ScriptedClient.connect({ url: mitm.wsUrl, name: 'down', keyPair: testKeyPair() });
    mitm.command('flip down');
    void server.relay.say('a console line someone on the path changed');
    const closed = await tab.closed;
    assert.equal(closed.code, 1008);
    assert.equal(tab.errors.length, 1);
    assert.ok(isWirechatError(tab.errors[0], 'RECORD_BAD_MAC'), String(tab.errors[0]));
    assert.equal(
      tab.bodies.some(isLine('a console line someone on the path changed')),
      false,
      'the frame was not shown',
    );
    const left = await leftEvent('down');
    assert.equal(left.code, 1008);
    assert.equal(left.text, 'disconnected (1008 policy violation; its close said "RECORD_BAD_MAC")');
    assert.ok(log.some((l) => /the page closed: 1008 .*=> the page caught it: RECORD_BAD_MAC/.test(l)));
  });

  it('replay: the server refuses the second copy with RECORD_BAD_SEQUENCE 1008, and the line is relayed once', async () => {
    const alice = await ScriptedClient.connect({ url: mitm.wsUrl, name: 'replayed', keyPair: testKeyPair() });
    const bob = await server.connect({ name: 'watcher' });
    const id = await alice.send('pay bob 10 euros');
    await bob.waitFor(isLine('pay bob 10 euros'));
    await alice.waitFor((b) => b.kind === 'receipt' && b.id === id);
    mitm.command('replay');
    const closed = await alice.closed;
    assert.equal(closed.code, 1008);
    assert.equal(closed.reason, 'RECORD_BAD_SEQUENCE: record 0 is replayed: expected 1');
    const left = await leftEvent('replayed');
    assert.equal(left.code, 1008);
    assert.equal(left.text, 'dropped: RECORD_BAD_SEQUENCE: record 0 is replayed: expected 1');
    await bob.waitForPresence('left', 'replayed');
    assert.equal(bob.bodies.filter(isLine('pay bob 10 euros')).length, 1, 'bob got the line once');
    assert.equal(
      server.events.filter((e: ConsoleEvent) => e.kind === 'line' && e.text === 'pay bob 10 euros').length,
      1,
    );
    assert.ok(log.some((l) => l.includes('REPLAY: record seq 0 goes to the server a second time')));
    await bob.bye();
  });

  it('close: forges a close frame to the page (\\uXXXX read as the character) and hangs up on the server', async () => {
    const tab = await ScriptedClient.connect({ url: mitm.wsUrl, name: 'forged', keyPair: testKeyPair() });
    mitm.command('close 1008 HANDSHAKE_PLAIN_REFUSED: \\u202eevil');
    assert.deepEqual(await tab.closed, { code: 1008, reason: 'HANDSHAKE_PLAIN_REFUSED: \u202eevil' });
    assert.deepEqual(
      tab.bodies.filter((b) => b.kind === 'end'),
      [],
      'no end record came: only a close',
    );
    const left = await leftEvent('forged');
    assert.equal(left.code, 1001, 'the server saw the proxy hang up, not a refusal');
    assert.ok(
      log.some(
        (l) =>
          l.includes('#') &&
          l.includes('FORGED CLOSE to the page: 1008 policy violation "HANDSHAKE_PLAIN_REFUSED: \\u202eevil"'),
      ),
      log.join('\n'),
    );
    mitm.command('close 999');
    assert.match(log.at(-1)!, /close takes a code a WebSocket may send .*not 999/);
    mitm.command('close soon');
    assert.match(log.at(-1)!, /close takes a close code first, not "soon"/);
  });

  it('a request target no URL parser takes is answered 400, for the page and the upgrade alike, and the proxy goes on', async () => {
    // `new URL('//[', base)` throws: out of a 'request' or 'upgrade' listener, that would end the proxy.
    for (const headers of [
      [['Host', `127.0.0.1:${mitm.port}`]] as Array<[string, string]>,
      upgradeHeaders(mitm.port),
    ]) {
      const answer = await exchange(mitm.port, rawRequest('GET', '//[', headers));
      assert.equal(answer.status, 400);
      assert.match(answer.body.toString(), /not a path the proxy can forward/);
    }
    const tab = await ScriptedClient.connect({ url: mitm.wsUrl, name: 'after-bad-target', keyPair: testKeyPair() });
    await tab.bye();
  });

  it('forwards only to the server: a target naming another origin is answered 400 and fetched from nowhere', async () => {
    // new URL('//host:port/x', server) is http://host:port/x: the proxy fetched it, for any page in the browser.
    const elsewhere = createServer((_req, res) => res.end('fetched from elsewhere\n'));
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    const { port } = elsewhere.address() as AddressInfo;
    let asked = 0;
    elsewhere.on('request', () => asked++);
    try {
      for (const target of [`http://127.0.0.1:${port}/x`, `//127.0.0.1:${port}/x`, `https://127.0.0.1:${port}/x`]) {
        const answer = await exchange(mitm.port, rawRequest('GET', target, [['Host', `127.0.0.1:${mitm.port}`]]));
        assert.equal(answer.status, 400, target);
        assert.match(answer.body.toString(), /not a path the proxy can forward/);
      }
      assert.equal(asked, 0, 'the proxy fetched another origin');
      const own = await exchange(mitm.port, rawRequest('GET', `${server.url}x`, [['Host', `127.0.0.1:${mitm.port}`]]));
      assert.equal(own.status, 404, "the server's own origin in absolute-form is forwarded");
    } finally {
      await new Promise((resolve) => elsewhere.close(resolve));
    }
  });

  it('unknown commands and a replay with nothing to replay only say so', async () => {
    const fresh = await proxy(server.url);
    try {
      assert.match(fresh.mitm.replay(), /nothing to replay: no page has sent a record yet/);
      assert.equal(fresh.mitm.command('frobnicate'), undefined);
      assert.match(fresh.log.at(-1)!, /unknown command "frobnicate"; help lists them/);
      assert.equal(fresh.mitm.command('flip sideways'), undefined);
      assert.match(fresh.log.at(-1)!, /flip takes up or down and token or mac/);
      assert.equal(fresh.mitm.command('QUIT'), 'quit');
      assert.deepEqual(fresh.mitm.frames, []);
    } finally {
      await fresh.mitm.close();
    }
  });
});

describe('mitm: replay against npm run server', () => {
  it("shows RECORD_BAD_SEQUENCE on the server's own console", async () => {
    const server = await startServerProcess();
    const { mitm } = await proxy(server.url);
    try {
      const tab = await ScriptedClient.connect({ url: mitm.wsUrl, name: 'alice', keyPair: testKeyPair() });
      const id = await tab.send('only once, please');
      await tab.waitFor((b) => b.kind === 'receipt' && b.id === id);
      await server.waitForLine(/^\[\d\d:\d\d:\d\d\] alice: only once, please$/);
      mitm.replay();
      assert.equal((await tab.closed).code, 1008);
      await server.waitForLine(
        /^\[\d\d:\d\d:\d\d\] ! alice dropped: RECORD_BAD_SEQUENCE: record 0 is replayed: expected 1$/,
      );
      assert.equal(server.lines.filter((l) => l.endsWith('alice: only once, please')).length, 1);
    } finally {
      await mitm.close();
      await server.stop();
    }
  });
});

describe('mitm: swap', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.stop());

  it('steals the session keys, yet the page refuses the welcome (HANDSHAKE_BAD_SIGNATURE) and sends nothing', async () => {
    const { mitm, log } = await proxy(server.url, { swapAll: true });
    try {
      await assert.rejects(
        ScriptedClient.connect({ url: mitm.wsUrl, name: 'swapped', keyPair: testKeyPair() }),
        (error: unknown) => isWirechatError(error, 'HANDSHAKE_BAD_SIGNATURE'),
      );
      const left = await server.waitForEvent((e) => e.kind === 'left' && e.name === 'swapped');
      assert.equal(left.code, 1008);
      assert.equal(left.text, 'disconnected (1008 policy violation; its close said "HANDSHAKE_BAD_SIGNATURE")');
      assert.equal(mitm.stolen.length, 1);
      assert.match(mitm.stolen[0]!.fernetKey, /^[A-Za-z0-9_-]{43}=$/);
      assert.match(mitm.stolen[0]!.macKey, /^[0-9a-f]{64}$/);
      assert.ok(log.some((l) => l.includes(`STOLEN session keys`) && l.includes(mitm.stolen[0]!.fernetKey)));
      assert.equal(pageRecords(mitm), 0, 'the page sent no record');
      assert.deepEqual(mitm.closes[0], { connection: 1, by: 'page', code: 1008, reason: 'HANDSHAKE_BAD_SIGNATURE' });
    } finally {
      await mitm.close();
    }
  });

  it('would read everything from a page that skipped the signature check, as the Python design did', async () => {
    const { mitm, log } = await proxy(server.url);
    mitm.command('swap');
    try {
      // A page that trusts whatever welcome arrives: unwraps the keys and chats.
      const keyPair = await testKeyPair();
      const ws = new WebSocket(mitm.wsUrl);
      const frames: string[] = [];
      let arrived: () => void = () => {};
      ws.on('message', (data) => {
        frames.push(String(data));
        arrived();
      });
      await new Promise((resolve) => ws.once('open', resolve));
      const welcomed = new Promise<void>((resolve) => (arrived = resolve));
      ws.send(
        JSON.stringify({
          type: 'hello',
          version: PROTOCOL_VERSION,
          name: 'naive',
          publicKey: toBase64Url(await exportSpki(keyPair.publicKey)),
          nonce: toBase64Url(randomBytes(32)),
          acceptPlain: false,
          resume: false,
        }),
      );
      await welcomed;
      const welcome = parseServerFrame(frames[0]!);
      assert.equal(welcome.type, 'welcome');
      if (welcome.type !== 'welcome') return;
      const { fernetKey, macKey } = await unwrapSessionSecret(keyPair.privateKey, fromBase64Url(welcome.wrappedKeys));
      const keys = {
        fernet: await nodeCryptoBackend.createFernet(fernetKey),
        mac: await nodeCryptoBackend.createMac(macKey),
      };
      const channel = new RecordChannel(keys, fromBase64Url(welcome.sessionId), 'c2s');
      ws.send(JSON.stringify(await channel.seal({ kind: 'line', id: 0, text: 'the exam answers are in locker 12' })));
      // The server accepts it (the keys are the real ones), and the proxy has read it on the way.
      await server.waitForEvent(
        (e) => e.kind === 'line' && e.name === 'naive' && e.text === 'the exam answers are in locker 12',
      );
      assert.ok(
        log.some((l) =>
          l.includes('READ with the stolen keys: {"kind":"line","id":0,"text":"the exam answers are in locker 12"}'),
        ),
        log.join('\n'),
      );
      ws.close();
    } finally {
      await mitm.close();
    }
  });
});

describe('mitm: an unreachable server', () => {
  it("answers the page's upgrade with 502 and says why", async () => {
    const { mitm, log } = await proxy('http://127.0.0.1:9'); // discard: nothing listens there
    try {
      const ws = new WebSocket(mitm.wsUrl);
      const error = await new Promise<Error>((resolve) => ws.once('error', resolve));
      assert.match(error.message, /Unexpected server response: 502/);
      assert.ok(
        log.some((l) => l.includes('#1 cannot reach the server at ws://127.0.0.1:9/ws')),
        log.join('\n'),
      );
      const page = await fetch(mitm.url);
      assert.equal(page.status, 502);
      assert.match(await page.text(), /the proxy could not reach http:\/\/127\.0\.0\.1:9/);
    } finally {
      await mitm.close();
    }
  });
});

describe('npm run mitm', () => {
  it('answers --help, and refuses to start without --target', () => {
    const help = spawnSync(process.execPath, ['--import', 'tsx', 'tools/mitm.ts', '--help'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /flip \[up\|down\] \[token\|mac\]/);
    assert.match(help.stdout, /--swap-all/);
    const none = spawnSync(process.execPath, ['--import', 'tsx', 'tools/mitm.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(none.status, 2);
    assert.match(none.stderr, /--target URL is required/);
  });
});
