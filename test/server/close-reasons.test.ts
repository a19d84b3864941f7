/**
 * How the server ends a session, now that a bare close frame cannot end a page's chat (nothing authenticates it):
 * with keys in hand it says why in an authenticated `end` first; a plain server tells a page that did not allow
 * plain mode in its signed welcome; the peer never reads a library's message; and the console shows a peer's close
 * reason as the peer's unverified words, with a page's 4008 read as the 1008 it stands for.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes } from 'node:crypto';
import { fromBase64Url } from '../../shared/bytes.ts';
import { isWirechatError } from '../../shared/errors.ts';
import { transcript, verifyTranscript } from '../../shared/handshake.ts';
import { parseServerFrame } from '../../shared/protocol.ts';
import { assertPrintable } from '../helpers/checks.ts';
import { helloFrame, RawClient, RawSocket } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

describe('a refusal the server makes with keys in hand', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ rate: 1, burst: 1 });
  });
  after(() => server.stop());

  it('comes as an authenticated end with its stable code (LIMIT_RATE), then the close that code names', async () => {
    const client = await RawClient.handshake(server, { name: 'flooder' });
    for (let id = 0; id < 6; id++) client.send(JSON.stringify(await client.line(id, `line ${id}`)));
    const closed = await client.waitClosed();
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /^LIMIT_RATE: /);
    const bodies = await client.bodies();
    const end = bodies.at(-1);
    assert.deepEqual(end, { kind: 'end', code: 'LIMIT_RATE', reason: 'more than 1 lines a second, for too long' });
    assert.ok(
      bodies.slice(0, -1).every((b) => b.kind === 'receipt' || b.kind === 'seat'),
      'the end is the last thing said',
    );
  });

  it('a kick is an authenticated end too (KICKED, close 1008)', async () => {
    const tab = await server.connect({ name: 'kicked' });
    assert.ok(server.relay.kick('kicked'));
    const end = await tab.waitFor((b) => b.kind === 'end');
    assert.deepEqual(end, { kind: 'end', code: 'KICKED', reason: 'console removed you from the chat' });
    assert.equal((await tab.closed).code, 1008);
  });
});

describe('a plain server and a page that did not allow plain mode', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ plain: true });
  });
  after(() => server.stop());

  it("gets the signed plain welcome and refuses it itself: the refusal is the server's own signed word", async () => {
    await assert.rejects(server.connect({ name: 'careful', acceptPlain: false }), (error: unknown) =>
      isWirechatError(error, 'HANDSHAKE_PLAIN_REFUSED'),
    );
    const event = await server.waitForEvent((e) => e.kind === 'left' && e.text.includes('HANDSHAKE_PLAIN_REFUSED'));
    assert.match(event.name, /^connection #\d+$/, 'never joined, so named by its number');
    assert.equal(event.code, 1008);
    assert.equal(
      server.events.some((e) => e.kind === 'joined' && e.name === 'careful'),
      false,
    );
    assert.deepEqual(server.relay.names(), []);
  });

  it('the welcome verifies against the server key; a frame sent after it anyway is refused, 1008', async () => {
    const socket = await RawSocket.open(server);
    const hello = await helloFrame({ name: 'raw' });
    socket.sendJson(hello);
    const welcome = parseServerFrame(await socket.frame(0));
    assert.ok(welcome.type === 'welcome' && welcome.mode === 'plain' && welcome.wrappedKeys === '');
    const signed = transcript({
      mode: 'plain',
      clientPublicKey: fromBase64Url(hello.publicKey),
      clientNonce: fromBase64Url(hello.nonce),
      name: welcome.name,
      serverKey: fromBase64Url(welcome.serverKey),
      serverNonce: fromBase64Url(welcome.nonce),
      sessionId: fromBase64Url(welcome.sessionId),
      time: welcome.time,
      wrappedKeys: new Uint8Array(0),
    });
    await verifyTranscript(server.identity.publicKey, signed, fromBase64Url(welcome.signature));
    socket.sendJson({ type: 'plain', seq: 0, body: { kind: 'line', id: 0, text: 'let me in' } });
    const closed = await socket.waitClosed();
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /^HANDSHAKE_PLAIN_REFUSED: /);
    assert.equal(
      server.events.some((e) => e.kind === 'line' && e.text === 'let me in'),
      false,
    );
  });
});

describe("what the console shows of a peer's close", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.stop());

  it("reads a page's 4008 as 1008 policy violation and quotes its reason, neutralized, as its own words", async () => {
    const client = await RawClient.handshake(server, { name: 'closer' });
    client.ws.close(4008, '1008 RECORD_BAD_MAC: \u202eevil\u200f\u001b[2J');
    const event = await server.waitForEvent((e) => e.kind === 'left' && e.name === 'closer');
    assert.equal(event.code, 1008);
    assert.equal(
      event.text,
      'disconnected (1008 policy violation (sent as 4008); its close said "1008 RECORD_BAD_MAC: \\u202eevil\\u200f\\u001b[2J")',
    );
    assertPrintable(event.text, 'the console reason');
  });

  it('shows a normal close with a reason as the peer leaving, its words quoted', async () => {
    const client = await RawClient.handshake(server, { name: 'leaver' });
    client.ws.close(1000, 'done for today');
    const event = await server.waitForEvent((e) => e.kind === 'left' && e.name === 'leaver');
    assert.equal(event.text, 'left (its close said "done for today")');
  });
});

describe('a page key OpenSSL cannot use', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.stop());

  it("an even modulus is refused before OpenSSL sees it, with fixed words, never OpenSSL's error text", async () => {
    const n = randomBytes(256);
    n[0]! |= 0x80;
    n[255]! &= 0xfe;
    const spki = createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: 'AQAB' }, format: 'jwk' }).export({
      type: 'spki',
      format: 'der',
    });
    const socket = await RawSocket.open(server);
    socket.sendJson(await helloFrame({ publicKey: spki }));
    const closed = await socket.waitClosed();
    assert.deepEqual(closed, { code: 1008, reason: 'HANDSHAKE_BAD_KEY: the RSA modulus is even' });
  });
});
