/**
 * The worked example of docs/protocol.md, held to the code two ways: test/vectors/protocol-example.json must be
 * what shared/ computes (and what node:crypto, the `fernet` package and the doc's own description compute, so the
 * doc is enough to interoperate), and every example block of the doc must equal the JSON, so the doc cannot drift.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createHash, createHmac, createPrivateKey, privateDecrypt, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { concat, fromBase64Url, toBase64Url, toHex, u64be, utf8 } from '../../shared/bytes.ts';
import { ERROR_CLOSE } from '../../shared/errors.ts';
import { createFernet, encodeFernetKey } from '../../shared/fernet.ts';
import {
  fingerprint,
  importClientPublicKey,
  sessionCode,
  transcript,
  unwrapSessionSecret,
  verifyTranscript,
} from '../../shared/handshake.ts';
import { createMac } from '../../shared/mac.ts';
import { LIMITS, parseClientBody, parseClientFrame, parseServerBody, parseServerFrame } from '../../shared/protocol.ts';
import { RecordChannel, recordMacInput, type SessionKeys } from '../../shared/record.ts';
import {
  BEGIN_MARKER,
  buildExample,
  clientPublicSpki,
  DOC_PATH,
  END_MARKER,
  importClientPrivateKey,
  readExample,
  renderExample,
  serverPublicSpki,
  type ExampleRecord,
} from '../../tools/protocol-example.ts';
import { rejectsWith } from '../helpers/expect-error.ts';

const example = readExample();
const doc = readFileSync(DOC_PATH, 'utf8');
const fromHex = (hex: string): Uint8Array => Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
const line = example.records.find((r) => r.label === 'line')!;
const receipt = example.records.find((r) => r.label === 'receipt')!;

/** The fenced blocks marked ```lang example:NAME, by name. A name used twice is an error in the doc. */
function exampleBlocks(markdown: string): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const match of markdown.matchAll(/^```\w+ example:([\w-]+)\n([\s\S]*?)\n```$/gm)) {
    assert.ok(!blocks.has(match[1]!), `docs/protocol.md has two blocks marked example:${match[1]}`);
    blocks.set(match[1]!, match[2]!);
  }
  return blocks;
}

/** The bytes of an annotated hex dump: `#` comments and white space dropped. */
function hexOf(block: string): string {
  const hex = block
    .split('\n')
    .map((l) => l.replace(/#.*$/, ''))
    .join('')
    .replace(/\s+/g, '');
  assert.match(hex, /^([0-9a-f]{2})*$/, 'a hex block holds whole lower-case bytes');
  return hex;
}

/** Fresh keys for each use: createFernet and createMac zero the bytes they are given. */
async function sessionKeys(): Promise<SessionKeys> {
  return {
    fernet: await createFernet(fromHex(example.inputs.fernetKey)),
    mac: await createMac(fromHex(example.inputs.macKey)),
  };
}

const sessionId = fromBase64Url(example.welcome.sessionId);

describe('the worked example against the code', () => {
  test('hello and welcome parse as frames and carry the stated inputs', () => {
    assert.deepEqual(parseClientFrame(JSON.stringify(example.hello)), example.hello);
    assert.deepEqual(parseServerFrame(JSON.stringify(example.welcome)), example.welcome);
    assert.equal(toHex(fromBase64Url(example.hello.nonce)), example.inputs.clientNonce);
    assert.equal(toHex(fromBase64Url(example.welcome.nonce)), example.inputs.serverNonce);
    assert.equal(toHex(fromBase64Url(example.welcome.sessionId)), example.inputs.sessionId);
    assert.equal(example.welcome.time, example.inputs.time);
    assert.equal(example.hello.name, example.inputs.name);
    assert.equal(example.welcome.mode, 'secure');
    // Unpadded everywhere but in Fernet tokens.
    for (const value of [
      example.hello.publicKey,
      example.hello.nonce,
      example.welcome.serverKey,
      example.welcome.signature,
    ])
      assert.ok(!value.includes('='));
  });

  test('hello.publicKey is the public half of the stated private key, a 3072-bit key the server accepts', async () => {
    const spki = fromBase64Url(example.hello.publicKey);
    assert.equal(toHex(await clientPublicSpki(example.keys.clientPrivateKeyPkcs8)), toHex(spki));
    assert.equal(spki.length, 422);
    const key = await importClientPublicKey(spki);
    assert.equal((key.algorithm as RsaHashedKeyAlgorithm).modulusLength, 3072);
  });

  test('welcome.serverKey is the public half of the stated identity JWK, 91 bytes of SPKI', async () => {
    const spki = fromBase64Url(example.welcome.serverKey);
    assert.equal(toHex(await serverPublicSpki(example.keys.serverIdentityJwk)), toHex(spki));
    assert.equal(spki.length, 91);
  });

  test("the transcript is transcript() of the two frames' fields, and the doc's field list", () => {
    const h = example.hello;
    const w = example.welcome;
    const fields = {
      mode: w.mode,
      clientPublicKey: fromBase64Url(h.publicKey),
      clientNonce: fromBase64Url(h.nonce),
      name: w.name,
      serverKey: fromBase64Url(w.serverKey),
      serverNonce: fromBase64Url(w.nonce),
      sessionId: fromBase64Url(w.sessionId),
      time: w.time,
      wrappedKeys: fromBase64Url(w.wrappedKeys),
    };
    assert.equal(toHex(transcript(fields)), example.transcript);
    // Section 6.4 of the doc, written out independently of shared/handshake.ts.
    const u32 = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
    const field = (b: Uint8Array) => concat(u32(b.length), b);
    const byHand = concat(
      utf8('wirechat-handshake'),
      u64be(3),
      field(utf8(fields.mode)),
      field(fields.clientPublicKey),
      field(fields.clientNonce),
      field(utf8(fields.name)),
      field(fields.serverKey),
      field(fields.serverNonce),
      field(fields.sessionId),
      u64be(fields.time),
      field(fields.wrappedKeys),
    );
    assert.equal(toHex(byHand), example.transcript);
  });

  test('the signature verifies over the transcript (shared code and node:crypto P1363), and not over another', async () => {
    const serverKey = fromBase64Url(example.welcome.serverKey);
    const signature = fromBase64Url(example.welcome.signature);
    const signed = fromHex(example.transcript);
    assert.equal(signature.length, 64);
    await verifyTranscript(serverKey, signed, signature);
    const spki = { key: Buffer.from(serverKey), format: 'der', type: 'spki', dsaEncoding: 'ieee-p1363' } as const;
    assert.ok(nodeVerify('sha256', signed, spki, signature));
    const changed = signed.slice();
    changed[changed.length - 1]! ^= 1;
    await rejectsWith(verifyTranscript(serverKey, changed, signature), 'HANDSHAKE_BAD_SIGNATURE');
  });

  test("wrappedKeys decrypts to the stated secret: shared code, and node:crypto with the doc's OAEP parameters", async () => {
    const wrapped = fromBase64Url(example.welcome.wrappedKeys);
    assert.equal(wrapped.length, 384);
    assert.equal(example.secret, example.inputs.fernetKey + example.inputs.macKey);
    const { fernetKey, macKey } = await unwrapSessionSecret(
      await importClientPrivateKey(example.keys.clientPrivateKeyPkcs8),
      wrapped,
    );
    assert.equal(toHex(concat(fernetKey, macKey)), example.secret);
    const key = createPrivateKey({
      key: Buffer.from(example.keys.clientPrivateKeyPkcs8, 'base64'),
      format: 'der',
      type: 'pkcs8',
    });
    const opened = privateDecrypt(
      {
        key,
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: 'sha256',
        oaepLabel: Buffer.from('wirechat-session-keys-v1'),
      },
      wrapped,
    );
    assert.equal(opened.toString('hex'), example.secret);
    assert.throws(() =>
      privateDecrypt(
        { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: Buffer.from('other') },
        wrapped,
      ),
    );
  });

  test('the fingerprint and session code are as stated', async () => {
    const serverKey = fromBase64Url(example.welcome.serverKey);
    assert.equal(await fingerprint(serverKey), example.fingerprint);
    const hex = createHash('sha256').update(serverKey).digest('hex').toUpperCase();
    assert.equal(example.fingerprint, hex.match(/.{4}/g)!.join(' '));
    const code = await sessionCode(fromHex(example.transcript));
    assert.equal(code, example.sessionCode);
    assert.match(code, /^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}$/);
  });

  test('the page stamps its token in server time: its clock plus welcome.time minus its clock at the welcome', () => {
    assert.equal(example.clockOffsetMs, example.inputs.time - example.inputs.pageClockAtWelcome);
    assert.equal(line.time, Math.floor((line.clock + example.clockOffsetMs) / 1000));
    assert.equal(receipt.time, Math.floor(receipt.clock / 1000));
  });

  for (const record of example.records) {
    describe(`the ${record.label} record (${record.direction}, seq ${record.seq})`, () => {
      test('the plaintext is the UTF-8 of JSON.stringify(body), a valid body of its direction', () => {
        assert.equal(toHex(utf8(JSON.stringify(record.body))), record.plaintext);
        const parse = record.direction === 'c2s' ? parseClientBody : parseServerBody;
        assert.deepEqual(parse(record.body), record.body);
      });

      test('the token is exactly Fernet(fernetKey, plaintext, time, IV), and the fernet package decodes it', async () => {
        const keys = await sessionKeys();
        const token = await keys.fernet.encrypt(fromHex(record.plaintext), {
          time: record.time,
          iv: fromHex(record.iv),
        });
        assert.equal(token, record.token);
        assert.equal(token.length % 4, 0, 'padded');
        const reference = createRequire(import.meta.url)('fernet') as {
          Secret: new (key: string) => object;
          Token: new (o: { secret: object; token: string; ttl: number }) => { decode(): string };
        };
        const secret = new reference.Secret(encodeFernetKey(fromHex(example.inputs.fernetKey)));
        assert.equal(new reference.Token({ secret, token, ttl: 0 }).decode(), JSON.stringify(record.body));
      });

      test('the MAC input and MAC are recordMacInput and HMAC-SHA256 (shared code and node:crypto)', async () => {
        const input = recordMacInput(record.direction, record.seq, sessionId, record.token);
        assert.equal(toHex(input), record.macInput);
        const byHand = concat(
          utf8('wirechat-record-v1'),
          Uint8Array.of(record.direction === 'c2s' ? 1 : 2),
          u64be(record.seq),
          sessionId,
          utf8(record.token),
        );
        assert.equal(toHex(byHand), record.macInput);
        const keys = await sessionKeys();
        assert.equal(toBase64Url(await keys.mac.sign(input)), record.mac);
        const node = createHmac('sha256', Buffer.from(example.inputs.macKey, 'hex')).update(input).digest('base64url');
        assert.equal(node, record.mac);
        assert.deepEqual(record.frame, { type: 'record', seq: record.seq, token: record.token, mac: record.mac });
      });

      test("the frame opens with the receiving side's RecordChannel to the body, within TTL and skew", async () => {
        const parse = record.direction === 'c2s' ? parseClientFrame : parseServerFrame;
        const frame = parse(JSON.stringify(record.frame));
        assert.equal(frame.type, 'record');
        const receiverSends = record.direction === 'c2s' ? 's2c' : 'c2s';
        const open = async (now: number) =>
          new RecordChannel(await sessionKeys(), sessionId, receiverSends, { now: () => now }).open(record.frame);
        assert.deepEqual(await open(record.time + 1.5), record.body);
        // Section 7.1: TTL 120 s, skew 60 s, both on the server's clock.
        assert.deepEqual(await open(record.time + 120), record.body);
        await rejectsWith(open(record.time + 121), 'FERNET_EXPIRED');
        assert.deepEqual(await open(record.time - 60), record.body);
        await rejectsWith(open(record.time - 61), 'FERNET_FUTURE');
        // Reflected to its sender, whose channel expects the other direction byte.
        const sender = new RecordChannel(await sessionKeys(), sessionId, record.direction, { now: () => record.time });
        await rejectsWith(() => sender.open(record.frame), 'RECORD_BAD_MAC');
      });
    });
  }

  test('the JSON is what tools/protocol-example.ts computes from its inputs', async () => {
    assert.deepEqual(await buildExample(example.keys, example), example);
  });
});

describe('docs/protocol.md mirrors the example and the code', () => {
  const blocks = exampleBlocks(doc);

  test('every example block of the doc equals the JSON, and no block is missing or extra', () => {
    const expected: Record<string, (block: string) => void> = {
      'client-private-key': (b) =>
        assert.equal(b.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), example.keys.clientPrivateKeyPkcs8),
      'server-identity': (b) => assert.deepEqual(JSON.parse(b), example.keys.serverIdentityJwk),
      inputs: (b) => assert.deepEqual(JSON.parse(b), example.inputs),
      hello: (b) => assert.deepEqual(JSON.parse(b), example.hello),
      welcome: (b) => assert.deepEqual(JSON.parse(b), example.welcome),
      secret: (b) => assert.equal(hexOf(b), example.secret),
      transcript: (b) => assert.equal(hexOf(b), example.transcript),
      fingerprint: (b) => assert.equal(b.trim(), example.fingerprint),
      'session-code': (b) => assert.equal(b.trim(), example.sessionCode),
    };
    const perRecord = (r: ExampleRecord) => ({
      [`${r.label}-body`]: (b: string) => assert.deepEqual(JSON.parse(b), r.body),
      [`${r.label}-plaintext`]: (b: string) => assert.equal(hexOf(b), r.plaintext),
      [`${r.label}-token`]: (b: string) => assert.equal(b.trim(), r.token),
      [`${r.label}-token-bytes`]: (b: string) => assert.equal(hexOf(b), toHex(fromBase64Url(r.token))),
      [`${r.label}-mac-input`]: (b: string) => assert.equal(hexOf(b), r.macInput),
      [`${r.label}-mac`]: (b: string) => assert.equal(b.trim(), r.mac),
      [`${r.label}-record`]: (b: string) => assert.deepEqual(JSON.parse(b), r.frame),
    });
    for (const record of example.records) Object.assign(expected, perRecord(record));
    assert.deepEqual([...blocks.keys()].sort(), Object.keys(expected).sort());
    for (const [name, check] of Object.entries(expected)) check(blocks.get(name)!);
  });

  test("the doc's frames, as printed, parse with the frame parsers", () => {
    assert.deepEqual(parseClientFrame(blocks.get('hello')!), example.hello);
    assert.deepEqual(parseServerFrame(blocks.get('welcome')!), example.welcome);
    assert.deepEqual(parseClientFrame(blocks.get('line-record')!), line.frame);
    assert.deepEqual(parseServerFrame(blocks.get('receipt-record')!), receipt.frame);
    assert.deepEqual(parseClientBody(JSON.parse(blocks.get('line-body')!)), line.body);
    assert.deepEqual(parseServerBody(JSON.parse(blocks.get('receipt-body')!)), receipt.body);
  });

  test('the example section is exactly what the generator renders (regenerate with --write-doc)', () => {
    const begin = doc.indexOf(BEGIN_MARKER);
    const end = doc.indexOf(END_MARKER);
    assert.ok(begin >= 0 && end > begin, 'the doc has the example markers');
    assert.equal(doc.slice(begin, end + END_MARKER.length), renderExample(example));
  });

  test('the close-code table lists every error code with its ERROR_CLOSE code', () => {
    const rows = [...doc.matchAll(/^\| `([A-Z0-9_]+)` \| (\d{4}) \|/gm)].map((m) => [m[1]!, Number(m[2])] as const);
    assert.deepEqual(Object.fromEntries(rows), { ...ERROR_CLOSE });
    assert.equal(rows.length, Object.keys(ERROR_CLOSE).length, 'each code once');
  });

  test('the limits table states LIMITS', () => {
    const rows = [...doc.matchAll(/^\| `(max[A-Za-z]+)` \| (\d+) \|/gm)].map((m) => [m[1]!, Number(m[2])] as const);
    assert.deepEqual(Object.fromEntries(rows), { ...LIMITS });
  });
});
