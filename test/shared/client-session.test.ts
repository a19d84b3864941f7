/**
 * shared/client-session.ts, the page's protocol engine, against a server played in-process by this test with
 * shared/handshake.ts: it accepts an honest welcome, and refuses every dishonest or out-of-place one having sent
 * nothing after its hello.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBase64Url, randomBytes, toBase64Url } from '../../shared/bytes.ts';
import { ClientSession, type HandshakeStep, type ServerIdentity } from '../../shared/client-session.ts';
import { webCryptoBackend, type CryptoBackend } from '../../shared/crypto-backend.ts';
import { nodeCryptoBackend } from '../../server/node-fernet.ts';
import type { ErrorCode } from '../../shared/errors.ts';
import {
  fingerprint,
  generateClientKeyPair,
  importClientPublicKey,
  sessionCode,
  signTranscript,
  transcript,
  wrapSessionSecret,
} from '../../shared/handshake.ts';
import {
  parseClientBody,
  parseClientFrame,
  PROTOCOL_VERSION,
  type HelloFrame,
  type Mode,
  type ServerBody,
  type WelcomeFrame,
} from '../../shared/protocol.ts';

const JOINED_BOB: ServerBody = {
  kind: 'presence',
  at: 5,
  changes: [{ change: 'joined', name: 'bob' }],
  moreJoined: 0,
  moreLeft: 0,
};
import { RecordChannel, recordMacInput } from '../../shared/record.ts';
import { rejectsWith } from '../helpers/expect-error.ts';

const subtle = globalThis.crypto.subtle;
let pageKeys: CryptoKeyPair;
let identity: { privateKey: CryptoKey; spki: Uint8Array };
let impostor: { privateKey: CryptoKey; spki: Uint8Array };
let relayKeys: CryptoKeyPair;

async function makeIdentity(): Promise<{ privateKey: CryptoKey; spki: Uint8Array }> {
  const pair = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  return { privateKey: pair.privateKey, spki: new Uint8Array(await subtle.exportKey('spki', pair.publicKey)) };
}

before(async () => {
  [pageKeys, relayKeys, identity, impostor] = await Promise.all([
    generateClientKeyPair(2048),
    generateClientKeyPair(2048),
    makeIdentity(),
    makeIdentity(),
  ]);
});

/** How the played server departs from an honest one. */
interface Twist {
  mode?: Mode;
  /** Signs with another identity key than the one it puts in the welcome. */
  signWith?: CryptoKey;
  /** Wraps the keys for (and signs a transcript naming) another public key than the page's: a relay's swap. */
  wrapFor?: Uint8Array;
  /** Changes the welcome after signing. */
  after?: (welcome: WelcomeFrame) => WelcomeFrame;
  /** Wraps a secret of this many bytes. */
  secretBytes?: number;
  sessionIdBytes?: number;
  time?: number;
  emptyWrappedKeys?: boolean;
  /** Wraps keys even in plain mode. */
  plainWithKeys?: boolean;
}

/** The server's side of a handshake, as server/session.ts does it, with an optional twist. */
async function playServer(helloText: string, twist: Twist = {}) {
  const hello = parseClientFrame(helloText) as HelloFrame;
  assert.equal(hello.type, 'hello');
  const mode = twist.mode ?? 'secure';
  const clientPublicKey = twist.wrapFor ?? fromBase64Url(hello.publicKey);
  const sessionId = randomBytes(twist.sessionIdBytes ?? 16);
  const serverNonce = randomBytes(32);
  const time = twist.time ?? Date.now();
  const fernetKey = randomBytes(32);
  const macKey = randomBytes(32);
  let wrappedKeys: Uint8Array = new Uint8Array(0);
  if ((mode === 'secure' && !twist.emptyWrappedKeys) || twist.plainWithKeys) {
    const secret = new Uint8Array(twist.secretBytes ?? 64);
    secret.set(fernetKey.subarray(0, Math.min(32, secret.length)));
    if (secret.length >= 64) secret.set(macKey, 32);
    wrappedKeys = await wrapSessionSecret(await importClientPublicKey(clientPublicKey), secret);
  }
  const signed = transcript({
    mode,
    clientPublicKey,
    clientNonce: fromBase64Url(hello.nonce),
    name: hello.name.trim(),
    serverKey: identity.spki,
    serverNonce,
    sessionId,
    time,
    wrappedKeys,
  });
  const signature = await signTranscript(twist.signWith ?? identity.privateKey, signed);
  let welcome: WelcomeFrame = {
    type: 'welcome',
    version: PROTOCOL_VERSION,
    mode,
    name: hello.name.trim(),
    sessionId: toBase64Url(sessionId),
    nonce: toBase64Url(serverNonce),
    time,
    serverKey: toBase64Url(identity.spki),
    wrappedKeys: toBase64Url(wrappedKeys),
    signature: toBase64Url(signature),
  };
  if (twist.after) welcome = twist.after(welcome);
  // createMac zeroes the bytes it is given: the test's own copy of the record HMAC key comes first.
  const mac = await webCryptoBackend.createMac(macKey.slice());
  const keys = {
    fernet: await webCryptoBackend.createFernet(fernetKey),
    mac: await webCryptoBackend.createMac(macKey),
  };
  // The server stamps and checks tokens on its own clock, which is `time` at the welcome.
  const skew = time - Date.now();
  const channel = new RecordChannel(keys, sessionId, 's2c', { now: () => (Date.now() + skew) / 1000 });
  return { hello, welcome, channel, mac, code: await sessionCode(signed) };
}

interface Harness {
  session: ClientSession;
  sent: string[];
  steps: HandshakeStep[];
  bodies: ServerBody[];
  trusted: ServerIdentity[];
  /** Every `checked` event, and the `wire` and `body` events around them, in order. */
  reports: string[];
}

async function startClient(
  options: { acceptPlain?: boolean; trust?: boolean; backend?: CryptoBackend } = {},
): Promise<Harness> {
  const harness: Harness = { session: undefined as never, sent: [], steps: [], bodies: [], trusted: [], reports: [] };
  harness.session = new ClientSession({
    keyPair: pageKeys,
    name: 'alice',
    acceptPlain: options.acceptPlain ?? false,
    backend: options.backend,
    send: (data) => harness.sent.push(data),
    trust: async (id) => {
      harness.trusted.push(id);
      return options.trust ?? true;
    },
    events: {
      step: (step) => harness.steps.push(step),
      body: (body) => {
        harness.bodies.push(body);
        harness.reports.push(`body ${body.kind}`);
      },
      wire: (direction, _data, frame) => {
        if (direction === 'in') harness.reports.push(`in ${frame?.type ?? 'unreadable'}`);
      },
      checked: (check) => harness.reports.push(`passed ${check}`),
    },
  });
  await harness.session.begin();
  assert.equal(harness.sent.length, 1, 'the hello');
  return harness;
}

/** The welcome is refused with `code`, the session ends, and nothing was sent after the hello. */
async function refusesWelcome(twist: Twist, code: ErrorCode, options: { acceptPlain?: boolean; trust?: boolean } = {}) {
  const h = await startClient(options);
  const { welcome } = await playServer(h.sent[0]!, twist);
  await rejectsWith(h.session.receive(JSON.stringify(welcome)), code);
  assert.equal(h.session.phase, 'ended');
  assert.equal(h.sent.length, 1, 'nothing sent after hello');
  assert.ok(!h.steps.includes('ready'));
  await rejectsWith(h.session.sendLine('still there?'), 'PROTO_UNEXPECTED');
  assert.equal(h.sent.length, 1);
  return h;
}

describe('ClientSession against a played server', () => {
  test('hello: version 3, the asked-for name, a 2048-bit SPKI and a 32-byte nonce, no resume', async () => {
    const h = await startClient({ acceptPlain: true });
    const hello = parseClientFrame(h.sent[0]!) as HelloFrame;
    assert.deepEqual(Object.keys(hello).sort(), [
      'acceptPlain',
      'name',
      'nonce',
      'publicKey',
      'resume',
      'type',
      'version',
    ]);
    assert.equal(hello.version, 3);
    assert.equal(hello.resume, false);
    assert.equal(hello.name, 'alice');
    assert.equal(hello.acceptPlain, true);
    assert.equal(fromBase64Url(hello.nonce).length, 32);
    await importClientPublicKey(fromBase64Url(hello.publicKey));
    assert.deepEqual(h.steps, ['keypair', 'hello']);
    assert.equal(h.session.phase, 'hello');
    await rejectsWith(h.session.begin(), 'PROTO_UNEXPECTED');
  });

  test('a good welcome: verified, trusted, unwrapped, ready; lines go both ways in server time', async () => {
    const h = await startClient();
    // The server's clock is 150 s ahead: beyond Fernet's 120 s TTL and 60 s skew, so lines go neither way unless
    // the page stamps and checks its tokens on the server's clock.
    const server = await playServer(h.sent[0]!, { time: Date.now() + 150_000 });
    await h.session.receive(JSON.stringify(server.welcome));
    assert.deepEqual(h.steps, ['keypair', 'hello', 'welcome', 'verified', 'trusted', 'unwrapped', 'ready']);
    assert.equal(h.session.phase, 'secure');
    assert.equal(h.trusted.length, 1);
    const id = h.session.identity!;
    assert.equal(id.fingerprint, await fingerprint(identity.spki));
    assert.equal(id.sessionCode, server.code);
    assert.equal(id.mode, 'secure');
    assert.equal(id.name, 'alice');
    assert.ok(Math.abs(h.session.clockOffsetMs - 150_000) < 2000, `offset ${h.session.clockOffsetMs}`);

    const lineId = await h.session.sendLine('hello server');
    assert.equal(lineId, 0);
    const frame = parseClientFrame(h.sent[1]!);
    assert.equal(frame.type, 'record');
    assert.deepEqual(parseClientBody(await server.channel.open(frame as never)), {
      kind: 'line',
      id: 0,
      text: 'hello server',
    });

    const receipt: ServerBody = { kind: 'receipt', id: 0, status: 'delivered', reason: '', n: 1 };
    await h.session.receive(JSON.stringify(await server.channel.seal(receipt)));
    assert.deepEqual(h.bodies, [receipt]);

    await h.session.bye('EXIT');
    assert.deepEqual(parseClientBody(await server.channel.open(parseClientFrame(h.sent[2]!) as never)), {
      kind: 'bye',
      word: 'EXIT',
    });
    assert.equal(h.session.phase, 'ended');
  });

  test('a replayed server record ends the session (RECORD_BAD_SEQUENCE)', async () => {
    const h = await startClient();
    const server = await playServer(h.sent[0]!);
    await h.session.receive(JSON.stringify(server.welcome));
    const frame = JSON.stringify(await server.channel.seal(JOINED_BOB));
    await h.session.receive(frame);
    await rejectsWith(h.session.receive(frame), 'RECORD_BAD_SEQUENCE');
    assert.equal(h.session.phase, 'ended');
  });

  test('a bad signature: HANDSHAKE_BAD_SIGNATURE, and the person is never asked', async () => {
    const h = await refusesWelcome({ signWith: impostor.privateKey }, 'HANDSHAKE_BAD_SIGNATURE');
    assert.equal(h.trusted.length, 0);
  });

  test('a welcome changed after signing: HANDSHAKE_BAD_SIGNATURE', async () => {
    const changes: ((w: WelcomeFrame) => WelcomeFrame)[] = [
      (w) => ({ ...w, name: 'mallory' }),
      (w) => ({ ...w, time: w.time + 1 }),
      (w) => ({ ...w, nonce: toBase64Url(randomBytes(32)) }),
      (w) => ({ ...w, sessionId: toBase64Url(randomBytes(16)) }),
      (w) => ({ ...w, serverKey: toBase64Url(impostor.spki) }),
    ];
    for (const after of changes) await refusesWelcome({ after }, 'HANDSHAKE_BAD_SIGNATURE');
  });

  test("a relay that swapped the page's public key for its own: HANDSHAKE_BAD_SIGNATURE", async () => {
    const relaySpki = new Uint8Array(await subtle.exportKey('spki', relayKeys.publicKey));
    await refusesWelcome({ wrapFor: relaySpki }, 'HANDSHAKE_BAD_SIGNATURE');
  });

  test('a plain welcome without acceptPlain: HANDSHAKE_PLAIN_REFUSED once its key is trusted, nothing sent', async () => {
    const h = await refusesWelcome({ mode: 'plain' }, 'HANDSHAKE_PLAIN_REFUSED');
    assert.equal(h.trusted.length, 1, 'the refusal is final only as the word of the key this page trusts');
    assert.ok(!h.steps.includes('unwrapped'));
  });

  test('a plain welcome signed by a key the page does not trust is a trust refusal, never "the server is plain"', async () => {
    // An impostor on the path can sign a plain welcome with its own key; that must not pass for the server's word.
    const h = await refusesWelcome({ mode: 'plain' }, 'HANDSHAKE_BAD_KEY', { trust: false });
    assert.equal(h.trusted.length, 1);
  });

  test('a plain welcome with acceptPlain: plain frames both ways, with sequence numbers', async () => {
    const h = await startClient({ acceptPlain: true });
    const { welcome } = await playServer(h.sent[0]!, { mode: 'plain' });
    await h.session.receive(JSON.stringify(welcome));
    assert.equal(h.session.phase, 'plain');
    assert.equal(h.session.identity?.mode, 'plain');
    assert.ok(!h.steps.includes('unwrapped'));
    await h.session.sendLine('in the clear');
    assert.deepEqual(JSON.parse(h.sent[1]!), {
      type: 'plain',
      seq: 0,
      body: { kind: 'line', id: 0, text: 'in the clear' },
    });
    const join = JOINED_BOB;
    await h.session.receive(JSON.stringify({ type: 'plain', seq: 0, body: join }));
    assert.deepEqual(h.bodies, [join]);
    await rejectsWith(h.session.receive(JSON.stringify({ type: 'plain', seq: 0, body: join })), 'RECORD_BAD_SEQUENCE');
  });

  test('a record in a plain session: PROTO_UNEXPECTED', async () => {
    const h = await startClient({ acceptPlain: true });
    const { welcome } = await playServer(h.sent[0]!, { mode: 'plain' });
    await h.session.receive(JSON.stringify(welcome));
    const record = { type: 'record', seq: 0, token: 'gAAAAA==', mac: 'A'.repeat(43) };
    await rejectsWith(h.session.receive(JSON.stringify(record)), 'PROTO_UNEXPECTED');
  });

  test('trust() says no: HANDSHAKE_BAD_KEY, nothing sent after hello, keys never unwrapped', async () => {
    const h = await refusesWelcome({}, 'HANDSHAKE_BAD_KEY', { trust: false });
    assert.equal(h.trusted.length, 1);
    assert.equal(h.trusted[0]!.fingerprint, await fingerprint(identity.spki));
    assert.ok(!h.steps.includes('trusted'));
    assert.ok(!h.steps.includes('unwrapped'));
  });

  test('wrapped keys the page cannot open, or of the wrong size: HANDSHAKE_UNWRAP_FAILED', async () => {
    await refusesWelcome({ secretBytes: 32 }, 'HANDSHAKE_UNWRAP_FAILED');
    // Signed honestly, but wrapped for someone else: the signature covers the ciphertext, not who can open it.
    const relaySpki = new Uint8Array(await subtle.exportKey('spki', relayKeys.publicKey));
    const h = await startClient();
    const hello = parseClientFrame(h.sent[0]!) as HelloFrame;
    const forRelay = await playServer(JSON.stringify({ ...hello, publicKey: toBase64Url(relaySpki) }));
    // Re-sign over the page's own key so only the unwrap can fail.
    const w = forRelay.welcome;
    const signed = transcript({
      mode: 'secure',
      clientPublicKey: fromBase64Url(hello.publicKey),
      clientNonce: fromBase64Url(hello.nonce),
      name: w.name,
      serverKey: identity.spki,
      serverNonce: fromBase64Url(w.nonce),
      sessionId: fromBase64Url(w.sessionId),
      time: w.time,
      wrappedKeys: fromBase64Url(w.wrappedKeys),
    });
    const welcome = { ...w, signature: toBase64Url(await signTranscript(identity.privateKey, signed)) };
    await rejectsWith(h.session.receive(JSON.stringify(welcome)), 'HANDSHAKE_UNWRAP_FAILED');
    assert.equal(h.sent.length, 1);
  });

  test('a secure welcome without wrapped keys, or with a short session id: PROTO_BAD_SHAPE', async () => {
    await refusesWelcome({ emptyWrappedKeys: true }, 'PROTO_BAD_SHAPE');
    await refusesWelcome({ sessionIdBytes: 15 }, 'PROTO_BAD_SHAPE');
  });

  test('a plain welcome that carries wrapped keys anyway: PROTO_BAD_SHAPE', async () => {
    await refusesWelcome({ mode: 'plain', plainWithKeys: true }, 'PROTO_BAD_SHAPE', { acceptPlain: true });
  });

  test('a second welcome: PROTO_UNEXPECTED', async () => {
    const h = await startClient();
    const { welcome } = await playServer(h.sent[0]!);
    await h.session.receive(JSON.stringify(welcome));
    assert.equal(h.session.phase, 'secure');
    await rejectsWith(h.session.receive(JSON.stringify(welcome)), 'PROTO_UNEXPECTED');
    assert.equal(h.session.phase, 'ended');
  });

  test('a record or plain frame before the welcome: PROTO_UNEXPECTED, nothing sent', async () => {
    for (const frame of [
      { type: 'record', seq: 0, token: 'gAAAAA==', mac: 'A'.repeat(43) },
      { type: 'plain', seq: 0, body: { kind: 'end', code: 'CHAT_ENDED', reason: 'x' } },
    ]) {
      const h = await startClient({ acceptPlain: true });
      await rejectsWith(h.session.receive(JSON.stringify(frame)), 'PROTO_UNEXPECTED');
      assert.equal(h.session.phase, 'ended');
      assert.equal(h.sent.length, 1);
    }
  });

  test('a malformed frame ends the session with its parse error; later frames are not acted on', async () => {
    const h = await startClient();
    const { welcome } = await playServer(h.sent[0]!);
    await rejectsWith(h.session.receive('{"type":"welcome"'), 'PROTO_BAD_JSON');
    assert.equal(h.session.phase, 'ended');
    await h.session.receive(JSON.stringify(welcome)).catch(() => undefined);
    assert.equal(h.session.phase, 'ended');
    assert.equal(h.trusted.length, 0);
    assert.equal(h.sent.length, 1);
  });

  test('reports each check an incoming frame passes, as it passes, between that frame and the next', async () => {
    const h = await startClient();
    const server = await playServer(h.sent[0]!);
    await h.session.receive(JSON.stringify(server.welcome));
    await h.session.receive(JSON.stringify(await server.channel.seal(JOINED_BOB)));
    assert.deepEqual(h.reports, [
      'in welcome',
      'passed signature',
      'in record',
      'passed sequence',
      'passed record-mac',
      'passed fernet-mac',
      'body presence',
    ]);
    // A token changed under a correct record HMAC (only a key holder could send it): the record HMAC passed,
    // the Fernet HMAC failed, nothing after it is reported.
    h.reports.length = 0;
    const frame = await server.channel.seal(JOINED_BOB);
    const token = frame.token.slice(0, 40) + (frame.token[40] === 'A' ? 'B' : 'A') + frame.token.slice(41);
    const mac = toBase64Url(
      await server.mac.sign(recordMacInput('s2c', frame.seq, fromBase64Url(server.welcome.sessionId), token)),
    );
    await rejectsWith(h.session.receive(JSON.stringify({ ...frame, token, mac })), 'FERNET_BAD_MAC');
    assert.deepEqual(h.reports, ['in record', 'passed sequence', 'passed record-mac']);
  });

  test('a welcome whose signature fails reports no check passed; a plain frame reports its sequence number', async () => {
    const bad = await startClient();
    const forged = await playServer(bad.sent[0]!, { signWith: impostor.privateKey });
    await rejectsWith(bad.session.receive(JSON.stringify(forged.welcome)), 'HANDSHAKE_BAD_SIGNATURE');
    assert.deepEqual(bad.reports, ['in welcome']);
    const plain = await startClient({ acceptPlain: true });
    const { welcome } = await playServer(plain.sent[0]!, { mode: 'plain' });
    await plain.session.receive(JSON.stringify(welcome));
    await plain.session.receive(JSON.stringify({ type: 'plain', seq: 0, body: JOINED_BOB }));
    assert.deepEqual(plain.reports, ['in welcome', 'passed signature', 'in plain', 'passed sequence', 'body presence']);
  });

  test('over node:crypto a record is checked, opened and its body reported before receive returns', async () => {
    const h = await startClient({ backend: nodeCryptoBackend });
    const server = await playServer(h.sent[0]!);
    await h.session.receive(JSON.stringify(server.welcome));
    const frame = JSON.stringify(await server.channel.seal(JOINED_BOB));
    h.reports.length = 0;
    const received = h.session.receive(frame);
    const opened = ['in record', 'passed sequence', 'passed record-mac', 'passed fernet-mac', 'body presence'];
    assert.deepEqual(h.reports, opened, 'in the call itself, not in a later microtask');
    await received;
    // A refusal is just as immediate: the session has ended by the time the call returns.
    h.reports.length = 0;
    const replayed = h.session.receive(frame);
    assert.deepEqual(h.reports, ['in record']);
    assert.equal(h.session.phase, 'ended');
    await rejectsWith(replayed, 'RECORD_BAD_SEQUENCE');
    // Its line goes out as the record's own text, which the server opens.
    const plain = await startClient({ backend: nodeCryptoBackend });
    const other = await playServer(plain.sent[0]!);
    await plain.session.receive(JSON.stringify(other.welcome));
    await plain.session.sendLine('hello');
    const sent = parseClientFrame(plain.sent[1]!);
    assert.equal(plain.sent[1], JSON.stringify(sent), 'the text JSON.stringify would write');
    assert.deepEqual(parseClientBody(await other.channel.open(sent as never)), { kind: 'line', id: 0, text: 'hello' });
  });

  test('on Web Crypto a frame that comes while the one before it is still opening waits for it', async () => {
    const h = await startClient();
    const server = await playServer(h.sent[0]!);
    await h.session.receive(JSON.stringify(server.welcome));
    const receipt: ServerBody = { kind: 'receipt', id: 0, status: 'delivered', reason: '', n: 1 };
    const first = JSON.stringify(await server.channel.seal(JOINED_BOB));
    const second = JSON.stringify(await server.channel.seal(receipt));
    h.reports.length = 0;
    await Promise.all([h.session.receive(first), h.session.receive(second)]);
    const checks = ['passed sequence', 'passed record-mac', 'passed fernet-mac'];
    assert.deepEqual(h.reports, ['in record', ...checks, 'body presence', 'in record', ...checks, 'body receipt']);
    assert.deepEqual(h.bodies, [JOINED_BOB, receipt]);
  });
});
