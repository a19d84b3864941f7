/**
 * web/inspect.ts, and what the connection records for it: frames taken apart into rows that match the bytes on
 * the wire (checked here against independent Node crypto), each body paired with its own frame, and each frame's
 * outcome (made here, verified, failed with its code) as the session decided it. Real tokens from
 * shared/fernet.ts, real frames from real handshakes with the fake server of fake-server.ts.
 */
import assert from 'node:assert/strict';
import { createDecipheriv, createHmac } from 'node:crypto';
import { test } from 'node:test';
import { fromBase64Url, randomBytes, toBase64Url, toHex, utf8 } from '../../shared/bytes.ts';
import { generateClientKeyPair, exportSpki } from '../../shared/handshake.ts';
import { createFernet } from '../../shared/fernet.ts';
import type { RecordFrame, ServerBody, WelcomeFrame } from '../../shared/protocol.ts';
import type { FrameCheck } from '../../shared/record.ts';
import { Connection, type ConnectionOptions } from '../../web/connection.ts';
import {
  bodyText,
  EXPLAIN,
  inspect,
  recordMacCheck,
  summarize,
  type FieldRow,
  type FrameView,
} from '../../web/inspect.ts';
import type { WireEvent } from '../../web/wire-log.ts';
import { rsaKeyInfo } from '../../shared/rsa-spki.ts';
import { eventually, fakeNetwork, FakeSocket, makeKeyPair } from './fake-server.ts';

/** A page connection through the fake server, already secure (or plain). */
async function connected(options: Partial<ConnectionOptions> & { mode?: 'secure' | 'plain' } = {}) {
  const { mode = 'secure', ...overrides } = options;
  const network = fakeNetwork({ mode });
  const checked: WireEvent[] = [];
  const connection = new Connection({
    url: 'ws://localhost:8080/ws',
    name: 'alice',
    acceptPlain: mode === 'plain',
    trust: async () => true,
    keyPair: makeKeyPair(),
    generateKeyPair: makeKeyPair,
    ...network.options,
    ...overrides,
  });
  const steps = connection.wire.steps;
  connection.wire.subscribe((change) => change.kind === 'settled' && checked.push(change.frame));
  connection.connect();
  await eventually(() => connection.state.phase === mode || connection.state.phase === 'ended', 'the chat to be ready');
  const server = () => network.sockets.at(-1)!.server;
  return { connection, server, steps, checked, network };
}

function field(view: FrameView, key: string): FieldRow {
  const found = view.groups.flatMap((g) => g.rows).find((r) => r.key === key);
  assert.ok(found, `${view.title} has a ${key} row`);
  return found;
}

function frames(connection: Connection, type: string, direction?: 'in' | 'out'): WireEvent[] {
  return connection.wire.frames.filter(
    (w) => JSON.parse(w.data).type === type && (direction === undefined || w.direction === direction),
  );
}

const SERVER_LINE = (text: string): ServerBody => ({
  kind: 'line',
  from: 'console',
  text,
  at: Date.now(),
  direct: false,
  n: 1,
  late: false,
});

test('a record taken apart: every field is the bytes of the token, checked with Node crypto', async () => {
  const key = randomBytes(32);
  const signing = key.slice(0, 16);
  const encryption = key.slice(16);
  const fernet = await createFernet(key.slice());
  const iv = Uint8Array.from({ length: 16 }, (_, i) => i);
  const body = SERVER_LINE('meet at the <b>old</b> mill');
  const token = await fernet.encrypt(utf8(JSON.stringify(body)), { time: 1_700_000_000, iv });
  const mac = randomBytes(32);
  const frame: RecordFrame = { type: 'record', seq: 3, token, mac: toBase64Url(mac) };
  const data = JSON.stringify(frame);
  const event: WireEvent = {
    index: 7,
    direction: 'in',
    data,
    at: 0,
    size: utf8(data).length,
    frame,
    connection: 0,
    check: { state: 'passed' },
    passed: ['sequence', 'record-mac', 'fernet-mac'],
    body,
  };
  const view = inspect(event);

  assert.equal(view.title, 'record 3');
  assert.equal(view.route, 'server → page');
  assert.equal(view.arrow, '←');
  assert.equal(field(view, 'raw').value, data, 'the frame exactly as it crossed the wire');
  assert.equal(field(view, 'token').value, token);
  assert.equal(field(view, 'version').value, '0x80');
  assert.equal(field(view, 'timestamp').value, '2023-11-14 22:13:20 UTC');
  assert.match(field(view, 'timestamp').note, /^8 bytes: 1700000000 s since 1970$/);
  assert.equal(field(view, 'iv').value, '000102030405060708090a0b0c0d0e0f');

  // The ciphertext row decrypts, under the token's encryption key and IV, to the body; the HMAC row is the
  // HMAC-SHA256 of everything before it under the signing key (Fernet spec), both computed here with node:crypto.
  const ciphertext = Buffer.from(field(view, 'ciphertext').value, 'hex');
  assert.equal(
    Buffer.from(fromBase64Url(field(view, 'ciphertextB64').value)).toString('hex'),
    ciphertext.toString('hex'),
  );
  const decipher = createDecipheriv('aes-128-cbc', encryption, iv);
  assert.equal(Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8'), JSON.stringify(body));
  const raw = fromBase64Url(token);
  const signed = raw.subarray(0, raw.length - 32);
  assert.equal(field(view, 'hmac').value, createHmac('sha256', signing).update(signed).digest('hex'));
  assert.equal(field(view, 'mac').value, toHex(mac), 'the outer MAC, from base64url to hex');

  const parts = view.groups.find((g) => g.key === 'token')!.parts;
  assert.deepEqual(
    parts.map((p) => [p.key, p.bytes]),
    [
      ['version', 1],
      ['timestamp', 8],
      ['iv', 16],
      ['ciphertext', ciphertext.length],
      ['hmac', 32],
    ],
  );
  assert.equal(
    parts.reduce((sum, p) => sum + p.bytes, 0),
    raw.length,
  );

  assert.equal(view.check.verdict, 'verified');
  assert.equal(field(view, 'mac').check?.label, 'verified');
  assert.equal(field(view, 'hmac').check?.label, 'verified');
  assert.deepEqual(
    { label: view.inside?.label, text: view.inside?.text, exposed: view.inside?.exposed },
    { label: 'Decrypted by this page', text: 'meet at the <b>old</b> mill', exposed: false },
  );
  assert.equal(view.inside?.json, JSON.stringify(body));
});

test('every row says what it is in a sentence, and every value can be copied', async () => {
  const { connection, server } = await connected();
  await connection.sendLine('hello');
  await server().say(SERVER_LINE('hi'));
  await eventually(() => frames(connection, 'record', 'in').length === 2, 'the receipt and the line');
  for (const event of connection.wire.frames) {
    const view = inspect(event);
    for (const group of view.groups) {
      assert.match(group.explain, /^[A-Z"'].*[.)]$/, `${view.title} / ${group.title}`);
      for (const row of group.rows) {
        assert.match(row.explain, /^[A-Z"'0-9].{20,}\.$/, `${view.title} / ${row.key} is explained in a sentence`);
        assert.ok(row.copyable, `${view.title} / ${row.key} can be copied`);
        assert.notEqual(row.value, '', `${view.title} / ${row.key} has a value`);
      }
    }
  }
  assert.match(EXPLAIN.iv, /random/);
});

test('the hello shows the public key as sent, its size and what it is; the welcome its keys and the signature', async () => {
  const { connection, steps } = await connected();
  const [hello] = frames(connection, 'hello');
  const [welcome] = frames(connection, 'welcome');
  assert.ok(hello && welcome);
  const sent = JSON.parse(hello.data);
  const view = inspect(hello, steps);
  assert.equal(view.route, 'page → server');
  assert.equal(view.check.label, 'sent by this page');
  assert.equal(field(view, 'publicKey').value, sent.publicKey);
  // The fake server's tests use 2048-bit keys; the page's own are 3072 (below).
  assert.match(field(view, 'publicKey').note, /^294 bytes, SPKI DER, RSA-OAEP 2048, e=65537; base64url$/);
  assert.equal(field(view, 'nonce').value, toHex(fromBase64Url(sent.nonce)));
  assert.equal(field(view, 'name').value, 'alice');

  // Each step's duration is the time since the step before, of this connection.
  const byStep = new Map(steps.map((s) => [s.step, s.ms]));
  assert.equal(field(view, 'step-keypair').value, `${byStep.get('keypair')} ms`);
  assert.equal(field(view, 'step-hello').value, `${byStep.get('hello')! - byStep.get('keypair')!} ms`);

  const answer = JSON.parse(welcome.data) as WelcomeFrame;
  const w = inspect(welcome, steps);
  assert.equal(w.check.label, 'signature verified');
  assert.equal(field(w, 'signature').check?.verdict, 'verified');
  assert.equal(field(w, 'signature').value, toHex(fromBase64Url(answer.signature)));
  assert.match(field(w, 'signature').note, /^64 bytes, hex/);
  assert.match(field(w, 'serverKey').note, /^91 bytes, SPKI DER, ECDSA P-256; base64url$/);
  assert.match(field(w, 'wrappedKeys').note, /^256 bytes, RSA-OAEP ciphertext/);
  assert.equal(field(w, 'sessionId').value, toHex(fromBase64Url(answer.sessionId)));
  assert.equal(field(w, 'time').value.slice(0, 10), new Date(answer.time).toISOString().slice(0, 10));
  assert.deepEqual(
    w.groups.find((g) => g.key === 'steps')!.rows.map((r) => r.label),
    ['Welcome received', 'Signature verified', 'Server trusted', 'Keys unwrapped', 'Secure'],
  );
  assert.equal(w.inside, undefined, 'a handshake frame carries no body');

  const page = await generateClientKeyPair();
  assert.deepEqual(rsaKeyInfo(await exportSpki(page.publicKey)), { bits: 3072, exponent: 65537 });
  assert.equal(rsaKeyInfo(fromBase64Url(answer.serverKey)), undefined, 'an EC key is not read as RSA');
  assert.equal(rsaKeyInfo(new Uint8Array([0x30, 0x82, 0xff])), undefined, 'a cut DER is not read at all');
});

test('a line sent is a record made by this page that carries the body the page sealed', async () => {
  const { connection } = await connected();
  const id = await connection.sendLine('hello <b>there</b>');
  const [record] = frames(connection, 'record', 'out');
  assert.ok(record);
  assert.deepEqual(record.body, { kind: 'line', id, text: 'hello <b>there</b>' });
  assert.deepEqual(record.check, { state: 'made' });
  const view = inspect(record);
  assert.equal(view.check.label, 'made by this page');
  assert.equal(field(view, 'mac').check?.verdict, 'made');
  assert.equal(field(view, 'hmac').check?.verdict, 'made');
  assert.equal(view.inside?.label, 'Encrypted by this page');
  assert.equal(view.inside?.text, 'hello <b>there</b>');
  assert.equal(view.inside?.detail, `line #${id}`);
  assert.equal(summarize(record).gist, `line #${id}: “hello <b>there</b>”`);
});

test('each record received is paired with its own body once it verifies, even when they arrive back to back', async () => {
  const { connection, server, checked } = await connected();
  const texts = ['one', 'two', 'three', 'four'];
  // Sealed in order and sent without waiting: the page is still opening one when the next arrives.
  await Promise.all(texts.map((t) => server().say(SERVER_LINE(t))));
  await eventually(
    () => frames(connection, 'record', 'in').every((w) => w.check.state === 'passed') && checked.length === 5,
    'four lines checked',
  );
  const records = frames(connection, 'record', 'in');
  assert.deepEqual(
    records.map((w) => [JSON.parse(w.data).seq, w.check.state, w.body?.kind === 'line' ? w.body.text : undefined]),
    texts.map((t, seq) => [seq, 'passed', t]),
  );
  // The `checked` events name the same frames (by index) as the log, welcome first.
  assert.deepEqual(
    checked.map((c) => c.index),
    [1, ...records.map((r) => r.index)],
  );
  assert.deepEqual(
    connection.wire.frames.map((w) => w.index),
    [0, 1, 2, 3, 4, 5],
  );
  for (const record of records) assert.equal(inspect(record).inside?.label, 'Decrypted by this page');
});

test('a record that fails its HMAC is marked failed with the code, still taken apart, and never decrypted', async () => {
  const { connection, server } = await connected();
  await server().say(SERVER_LINE('fine'));
  await server().say(SERVER_LINE('tampered'), true);
  await eventually(() => connection.state.phase === 'ended', 'the end');
  const [good, bad] = frames(connection, 'record', 'in');
  assert.ok(good && bad);
  assert.equal(good.check.state, 'passed');
  assert.equal(bad.check.state, 'failed');
  assert.equal(bad.check.state === 'failed' && bad.check.code, 'RECORD_BAD_MAC');
  assert.equal(bad.body, undefined);
  const view = inspect(bad);
  assert.equal(view.check.verdict, 'failed');
  assert.match(view.check.detail, /^RECORD_BAD_MAC: record 1 failed its HMAC check/);
  assert.equal(field(view, 'mac').check?.verdict, 'failed');
  assert.equal(field(view, 'hmac').check?.label, 'not checked', 'the Fernet HMAC comes after the record HMAC');
  assert.equal(field(view, 'version').value, '0x80');
  assert.equal(view.inside?.label, 'Not decrypted');
  assert.equal(view.inside?.text, '');
  assert.equal(summarize(bad).gist, 'refused, never opened');
});

test('what each record check shows is what the session reported, whatever order the checks run in', () => {
  type Code =
    | 'RECORD_BAD_SEQUENCE'
    | 'RECORD_BAD_MAC'
    | 'FERNET_EXPIRED'
    | 'FERNET_BAD_MAC'
    | 'FERNET_BAD_PADDING'
    | 'PROTO_BAD_SHAPE';
  function event(code: Code, passed: FrameCheck[], parsed = true): WireEvent {
    return {
      index: 0,
      direction: 'in',
      data: '{}',
      at: 0,
      size: 2,
      frame: parsed ? { type: 'record', seq: 0, token: '', mac: '' } : undefined,
      connection: 0,
      check: { state: 'failed', code, message: 'm' },
      passed,
      body: undefined,
    };
  }
  const both = (e: WireEvent) => [recordMacCheck(e, 'record-mac').verdict, recordMacCheck(e, 'fernet-mac').verdict];
  assert.deepEqual(both(event('RECORD_BAD_SEQUENCE', [])), ['unchecked', 'unchecked']);
  assert.deepEqual(both(event('RECORD_BAD_MAC', ['sequence'])), ['failed', 'unchecked']);
  assert.deepEqual(both(event('FERNET_EXPIRED', ['sequence', 'record-mac'])), ['verified', 'unchecked']);
  assert.deepEqual(both(event('FERNET_BAD_MAC', ['sequence', 'record-mac'])), ['verified', 'failed']);
  assert.deepEqual(both(event('FERNET_BAD_PADDING', ['sequence', 'record-mac', 'fernet-mac'])), [
    'verified',
    'verified',
  ]);
  assert.deepEqual(
    both(event('PROTO_BAD_SHAPE', ['sequence', 'record-mac', 'fernet-mac'])),
    ['verified', 'verified'],
    'a body of the wrong shape was decrypted first',
  );
  assert.deepEqual(
    both(event('PROTO_BAD_SHAPE', [], false)),
    ['unchecked', 'unchecked'],
    'a frame of the wrong shape was not',
  );
  // Were the Fernet HMAC ever checked before the record HMAC, the inspector would say so: it is told, it does
  // not infer from the error code.
  assert.deepEqual(both(event('RECORD_BAD_MAC', ['sequence', 'fernet-mac'])), ['failed', 'verified']);
  assert.match(
    recordMacCheck(event('FERNET_BAD_MAC', ['sequence', 'record-mac']), 'record-mac').detail,
    /later check failed \(FERNET_BAD_MAC\)/,
  );
});

test('a record whose Fernet HMAC fails under a good record HMAC shows one verified and one failed, as reported', async () => {
  const { connection, server } = await connected();
  await server().say(SERVER_LINE('fine'));
  // What only a holder of the MAC key could send: a changed token under a correct record HMAC.
  await server().sayWithChangedToken(SERVER_LINE('changed'));
  await eventually(() => connection.state.phase === 'ended', 'the end');
  const [good, bad] = frames(connection, 'record', 'in');
  assert.ok(good && bad);
  assert.deepEqual(good.passed, ['sequence', 'record-mac', 'fernet-mac']);
  assert.deepEqual(bad.passed, ['sequence', 'record-mac']);
  assert.equal(bad.check.state === 'failed' && bad.check.code, 'FERNET_BAD_MAC');
  const view = inspect(bad);
  assert.equal(field(view, 'mac').check?.verdict, 'verified');
  assert.equal(field(view, 'hmac').check?.verdict, 'failed');
});

/** A socket whose server's welcome reaches the page with one byte of the signature changed. */
class ForgingSocket extends FakeSocket {
  override message(data: unknown): void {
    const frame = JSON.parse(String(data));
    if (frame.type === 'welcome') {
      const signature = fromBase64Url(frame.signature);
      signature[10]! ^= 1;
      frame.signature = toBase64Url(signature);
    }
    super.message(JSON.stringify(frame));
  }
}

test('a welcome whose signature fails is the frame marked failed, with HANDSHAKE_BAD_SIGNATURE', async () => {
  const { connection } = await connected({
    createSocket: () => {
      const socket = new ForgingSocket({ answer: true, mode: 'secure' });
      queueMicrotask(() => socket.open());
      return socket;
    },
  });
  assert.equal(connection.state.phase, 'ended');
  const [welcome] = frames(connection, 'welcome');
  assert.ok(welcome);
  assert.equal(welcome.check.state === 'failed' && welcome.check.code, 'HANDSHAKE_BAD_SIGNATURE');
  const view = inspect(welcome);
  assert.equal(view.check.verdict, 'failed');
  assert.equal(field(view, 'signature').check?.verdict, 'failed');
  assert.equal(frames(connection, 'hello')[0]!.check.state, 'made', 'the hello is not blamed');
});

test('plain frames show their body as readable by anyone, both ways', async () => {
  const { connection, network } = await connected({ mode: 'plain' });
  await connection.sendLine('no secrets here');
  // The fake server speaks records only; its plain receipt is written here as the real server sends it.
  network.sockets[0]!.message(
    JSON.stringify({ type: 'plain', seq: 0, body: { kind: 'receipt', id: 0, status: 'delivered', reason: '', n: 1 } }),
  );
  await eventually(() => frames(connection, 'plain', 'in').length === 1, 'the receipt');
  const [out] = frames(connection, 'plain', 'out');
  const [back] = frames(connection, 'plain', 'in');
  assert.ok(out && back);
  for (const event of [out, back]) {
    const view = inspect(event);
    assert.equal(view.exposed, true);
    assert.equal(view.check.verdict, 'plain');
    assert.equal(view.inside?.label, 'Readable by anyone on the network');
    assert.equal(field(view, 'body').exposed, true);
    assert.equal(field(view, 'body').value, JSON.stringify(JSON.parse(event.data).body));
  }
  assert.equal(inspect(out).inside?.text, 'no secrets here');
  assert.match(inspect(back).inside?.text ?? '', /^your line #0 was delivered, as line #1 of the chat$/);
  const [welcome] = frames(connection, 'welcome');
  assert.equal(field(inspect(welcome!), 'wrappedKeys').value, '(empty: plain mode has no keys)');
});

test('a presence body is shown as the chat log says it, with how many joined and left', () => {
  const body: ServerBody = {
    kind: 'presence',
    at: 0,
    changes: [
      { change: 'left', name: 'bob', reason: 'left' },
      { change: 'joined', name: 'carol' },
    ],
    moreJoined: 40,
    moreLeft: 0,
  };
  assert.deepEqual(bodyText(body), {
    text: 'bob left. carol and 40 others joined.',
    detail: 'presence: 41 joined, 1 left',
  });
});

test('a frame that is not JSON is still listed and shown as it came', () => {
  const data = 'not <i>json</i>';
  const view = inspect({
    index: 0,
    direction: 'in',
    data,
    at: 0,
    size: data.length,
    frame: undefined,
    connection: 0,
    check: { state: 'failed', code: 'PROTO_BAD_JSON', message: 'the frame is not JSON' },
    passed: [],
    body: undefined,
  });
  assert.equal(view.type, '?');
  assert.equal(view.check.verdict, 'failed');
  assert.deepEqual(
    view.groups.flatMap((g) => g.rows.map((r) => [r.key, r.value])),
    [['raw', data]],
  );
});
