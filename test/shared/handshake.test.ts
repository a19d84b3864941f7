/**
 * shared/handshake.ts: the page's key pair, the server's checks on it, key wrapping, the transcript (no two
 * handshakes share one), the signature over it, and the fingerprint and session code people compare.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { concat, fromBase64Url, randomBytes, toBase64Url, toHex, utf8 } from '../../shared/bytes.ts';
import { WirechatError } from '../../shared/errors.ts';
import { parseClientFrame, parseServerFrame, type HelloFrame, type WelcomeFrame } from '../../shared/protocol.ts';
import {
  buildHello,
  exportSpki,
  fingerprint,
  generateClientKeyPair,
  importClientPublicKey,
  importServerKey,
  NONCE_BYTES,
  prepareWelcome,
  serverHandshakeFromPrimitives,
  signWelcome,
  unwrapWelcome,
  verifyWelcome,
  webCryptoHandshakePrimitives,
  webCryptoServerHandshake,
  type HandshakePrimitives,
  type ServerHandshake,
  RSA_MODULUS_BITS,
  SESSION_ID_BYTES,
  SESSION_SECRET_BYTES,
  sessionCode,
  signTranscript,
  transcript,
  unwrapSessionSecret,
  verifyTranscript,
  wrapSessionSecret,
  type TranscriptFields,
} from '../../shared/handshake.ts';
import { rejectsWith } from '../helpers/expect-error.ts';

const subtle = globalThis.crypto.subtle;

// ---- a minimal DER writer, to build RSA keys of any size and exponent without generating them --------------

function derLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}
const der = (tag: number, body: Uint8Array) => concat(Uint8Array.of(tag), derLength(body.length), body);
const derInteger = (unsigned: Uint8Array) =>
  der(0x02, unsigned[0]! & 0x80 ? concat(Uint8Array.of(0), unsigned) : unsigned);
const RSA_ENCRYPTION = Uint8Array.of(0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00);

/** SPKI DER of an RSA public key with a `bits`-bit odd modulus (not a real product of primes) and exponent e. */
function rsaSpki(bits: number, e: Uint8Array): Uint8Array {
  const n = randomBytes(bits / 8);
  n[0]! |= 0x80;
  n[n.length - 1]! |= 1;
  const rsaPublicKey = der(0x30, concat(derInteger(n), derInteger(e)));
  return der(0x30, concat(der(0x30, RSA_ENCRYPTION), der(0x03, concat(Uint8Array.of(0), rsaPublicKey))));
}

const E_65537 = Uint8Array.of(1, 0, 1);

let pagePair: CryptoKeyPair;
let pageSpki: Uint8Array;
let identity: CryptoKeyPair;
let identitySpki: Uint8Array;
before(async () => {
  pagePair = await generateClientKeyPair(2048);
  pageSpki = await exportSpki(pagePair.publicKey);
  identity = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  identitySpki = new Uint8Array(await subtle.exportKey('spki', identity.publicKey));
});

describe("the page's key pair", () => {
  test('RSA-OAEP SHA-256 with e = 65537; 3072 bits unless asked otherwise', async () => {
    assert.equal(RSA_MODULUS_BITS, 3072);
    const algorithm = pagePair.publicKey.algorithm as RsaHashedKeyAlgorithm;
    assert.equal(algorithm.name, 'RSA-OAEP');
    assert.equal(algorithm.hash.name, 'SHA-256');
    assert.equal(algorithm.modulusLength, 2048);
    assert.deepEqual([...algorithm.publicExponent], [1, 0, 1]);
  });

  test('the private key is non-extractable and can only decrypt', async () => {
    assert.equal(pagePair.privateKey.extractable, false);
    assert.deepEqual(pagePair.privateKey.usages, ['decrypt']);
    for (const format of ['pkcs8', 'jwk'] as const) {
      await assert.rejects(subtle.exportKey(format, pagePair.privateKey));
    }
    await assert.rejects(subtle.encrypt({ name: 'RSA-OAEP' }, pagePair.privateKey, new Uint8Array(1)));
  });

  test('the public key exports as SPKI and the server accepts it', async () => {
    const key = await importClientPublicKey(pageSpki);
    assert.equal((key.algorithm as RsaHashedKeyAlgorithm).modulusLength, 2048);
    assert.deepEqual(key.usages, ['encrypt']);
  });
});

describe('importClientPublicKey refuses what a careful server should (HANDSHAKE_BAD_KEY)', () => {
  test('bytes that are not an SPKI', async () => {
    for (const bytes of [
      new Uint8Array(0),
      randomBytes(300),
      utf8('MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'),
      pageSpki.subarray(0, 100),
    ]) {
      await rejectsWith(importClientPublicKey(bytes), 'HANDSHAKE_BAD_KEY');
    }
  });

  test('a private key (PKCS #8) where the public key belongs', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await rejectsWith(importClientPublicKey(privateKey.export({ format: 'der', type: 'pkcs8' })), 'HANDSHAKE_BAD_KEY');
  });

  test('an EC key', async () => {
    await rejectsWith(importClientPublicKey(identitySpki), 'HANDSHAKE_BAD_KEY');
  });

  test('a 1024-bit key (too weak), real or built', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    await rejectsWith(importClientPublicKey(publicKey.export({ format: 'der', type: 'spki' })), 'HANDSHAKE_BAD_KEY');
    await rejectsWith(importClientPublicKey(rsaSpki(1024, E_65537)), 'HANDSHAKE_BAD_KEY');
    await rejectsWith(importClientPublicKey(rsaSpki(2040, E_65537)), 'HANDSHAKE_BAD_KEY');
  });

  test('an 8192-bit key (a CPU sink for the server)', async () => {
    await rejectsWith(importClientPublicKey(rsaSpki(8192, E_65537)), 'HANDSHAKE_BAD_KEY');
    await rejectsWith(importClientPublicKey(rsaSpki(4104, E_65537)), 'HANDSHAKE_BAD_KEY');
  });

  test('the bounds themselves are accepted: 2048 and 4096 bits', async () => {
    await importClientPublicKey(rsaSpki(2048, E_65537));
    await importClientPublicKey(rsaSpki(4096, E_65537));
  });

  test('exponents other than 65537: 3, 1, 17, 2^32 + 1', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 });
    await rejectsWith(importClientPublicKey(publicKey.export({ format: 'der', type: 'spki' })), 'HANDSHAKE_BAD_KEY');
    for (const e of [Uint8Array.of(3), Uint8Array.of(1), Uint8Array.of(17), Uint8Array.of(1, 0, 0, 0, 1)]) {
      await rejectsWith(importClientPublicKey(rsaSpki(2048, e)), 'HANDSHAKE_BAD_KEY');
    }
  });
});

describe('wrapping the session secret', () => {
  test('wrap and unwrap round-trip: fernetKey is bytes 0..31, macKey bytes 32..63', async () => {
    const secret = randomBytes(SESSION_SECRET_BYTES);
    const wrapped = await wrapSessionSecret(await importClientPublicKey(pageSpki), secret);
    assert.equal(wrapped.length, 256);
    const { fernetKey, macKey } = await unwrapSessionSecret(pagePair.privateKey, wrapped);
    assert.deepEqual(fernetKey, secret.subarray(0, 32));
    assert.deepEqual(macKey, secret.subarray(32));
  });

  test('RSA-OAEP is randomized: the same secret wraps differently each time', async () => {
    const key = await importClientPublicKey(pageSpki);
    const secret = randomBytes(64);
    assert.notEqual(toHex(await wrapSessionSecret(key, secret)), toHex(await wrapSessionSecret(key, secret)));
  });

  test("another page's private key cannot unwrap (HANDSHAKE_UNWRAP_FAILED)", async () => {
    const other = await generateClientKeyPair(2048);
    const wrapped = await wrapSessionSecret(await importClientPublicKey(pageSpki), randomBytes(64));
    await rejectsWith(unwrapSessionSecret(other.privateKey, wrapped), 'HANDSHAKE_UNWRAP_FAILED');
  });

  test('a ciphertext made with another label, or none, does not unwrap (HANDSHAKE_UNWRAP_FAILED)', async () => {
    const key = await importClientPublicKey(pageSpki);
    for (const label of [utf8('wirechat-session-keys-v2'), new Uint8Array(0), undefined]) {
      const params = label === undefined ? { name: 'RSA-OAEP' } : { name: 'RSA-OAEP', label: new Uint8Array(label) };
      const wrapped = new Uint8Array(await subtle.encrypt(params, key, new Uint8Array(randomBytes(64))));
      await rejectsWith(unwrapSessionSecret(pagePair.privateKey, wrapped), 'HANDSHAKE_UNWRAP_FAILED');
    }
  });

  test('a ciphertext one byte short is refused even when it is the same number (RFC 8017 7.1.2)', async () => {
    // One ciphertext in about 200 starts with a zero byte; without it, it is the same number, which Node's Web
    // Crypto (unlike Chromium's) would decrypt. This flaked the test below about once in 200 runs.
    const key = await importClientPublicKey(pageSpki);
    let wrapped = await wrapSessionSecret(key, randomBytes(64));
    for (let tries = 0; wrapped[0] !== 0 && tries < 5000; tries++)
      wrapped = await wrapSessionSecret(key, randomBytes(64));
    assert.equal(wrapped[0], 0, 'a ciphertext starting with a zero byte');
    await unwrapSessionSecret(pagePair.privateKey, wrapped);
    await rejectsWith(unwrapSessionSecret(pagePair.privateKey, wrapped.subarray(1)), 'HANDSHAKE_UNWRAP_FAILED');
  });

  test('a damaged ciphertext, or a secret of the wrong size, does not unwrap (HANDSHAKE_UNWRAP_FAILED)', async () => {
    const key = await importClientPublicKey(pageSpki);
    const wrapped = await wrapSessionSecret(key, randomBytes(64));
    const damaged = wrapped.slice();
    damaged[100]! ^= 1;
    await rejectsWith(unwrapSessionSecret(pagePair.privateKey, damaged), 'HANDSHAKE_UNWRAP_FAILED');
    await rejectsWith(unwrapSessionSecret(pagePair.privateKey, wrapped.subarray(1)), 'HANDSHAKE_UNWRAP_FAILED');
    await rejectsWith(
      unwrapSessionSecret(pagePair.privateKey, concat(new Uint8Array([0]), wrapped)),
      'HANDSHAKE_UNWRAP_FAILED',
    );
    await rejectsWith(unwrapSessionSecret(pagePair.privateKey, new Uint8Array(0)), 'HANDSHAKE_UNWRAP_FAILED');
    for (const size of [32, 63, 65]) {
      await rejectsWith(
        unwrapSessionSecret(pagePair.privateKey, await wrapSessionSecret(key, randomBytes(size))),
        'HANDSHAKE_UNWRAP_FAILED',
      );
    }
  });
});

// ---- the transcript ---------------------------------------------------------------------------------------

function sampleFields(): TranscriptFields {
  return {
    mode: 'secure',
    clientPublicKey: pageSpki,
    clientNonce: randomBytes(NONCE_BYTES),
    name: 'alice',
    serverKey: identitySpki,
    serverNonce: randomBytes(NONCE_BYTES),
    sessionId: randomBytes(SESSION_ID_BYTES),
    time: 1767268800123,
    wrappedKeys: randomBytes(256),
  };
}

/** Every way to change one field of a transcript, each named. */
function oneFieldChanged(f: TranscriptFields): [string, TranscriptFields][] {
  const bumped = (b: Uint8Array) => {
    const c = b.slice();
    c[c.length - 1]! ^= 1;
    return c;
  };
  return [
    ['mode', { ...f, mode: f.mode === 'secure' ? 'plain' : 'secure' }],
    ['clientPublicKey', { ...f, clientPublicKey: bumped(f.clientPublicKey) }],
    ['clientNonce', { ...f, clientNonce: bumped(f.clientNonce) }],
    ['name', { ...f, name: f.name + '2' }],
    ['name (case)', { ...f, name: f.name.toUpperCase() }],
    ['serverKey', { ...f, serverKey: bumped(f.serverKey) }],
    ['serverNonce', { ...f, serverNonce: bumped(f.serverNonce) }],
    ['sessionId', { ...f, sessionId: bumped(f.sessionId) }],
    ['time', { ...f, time: f.time + 1 }],
    ['wrappedKeys', { ...f, wrappedKeys: bumped(f.wrappedKeys) }],
    ['wrappedKeys (empty)', { ...f, wrappedKeys: new Uint8Array(0) }],
  ];
}

describe('the transcript', () => {
  test('starts with the label and version, and length-prefixes every variable field', () => {
    const f = sampleFields();
    const t = transcript(f);
    assert.deepEqual(t.subarray(0, 18), utf8('wirechat-handshake'));
    assert.deepEqual([...t.subarray(18, 26)], [0, 0, 0, 0, 0, 0, 0, 3]);
    assert.deepEqual([...t.subarray(26, 30)], [0, 0, 0, 6]);
    assert.deepEqual(t.subarray(30, 36), utf8('secure'));
    const fixed = 18 + 8 + 8; // label, version, time
    const variable = [
      utf8(f.mode),
      f.clientPublicKey,
      f.clientNonce,
      utf8(f.name),
      f.serverKey,
      f.serverNonce,
      f.sessionId,
      f.wrappedKeys,
    ];
    assert.equal(t.length, fixed + variable.reduce((n, b) => n + 4 + b.length, 0));
  });

  test('changes when any one field changes', () => {
    const f = sampleFields();
    const base = toHex(transcript(f));
    for (const [what, changed] of oneFieldChanged(f)) assert.notEqual(toHex(transcript(changed)), base, what);
  });

  test('moving bytes across a field boundary changes it (the length prefixes)', () => {
    const f = sampleFields();
    const a = transcript({ ...f, clientNonce: Uint8Array.of(1, 2), name: '\u0003' });
    const b = transcript({ ...f, clientNonce: Uint8Array.of(1), name: '\u0002\u0003' });
    assert.notEqual(toHex(a), toHex(b));
    const c = transcript({ ...f, serverNonce: new Uint8Array(0), sessionId: Uint8Array.of(7) });
    const d = transcript({ ...f, serverNonce: Uint8Array.of(7), sessionId: new Uint8Array(0) });
    assert.notEqual(toHex(c), toHex(d));
  });

  test('no two distinct field sets give the same bytes (property, on tiny fields where collisions would show)', () => {
    // Fields of 0-3 bytes from {0, 1, 6} (6 is the length byte of "secure") and names from {"", "a", "\u0001"}:
    // without the length prefixes, field sets that concatenate alike would be common here.
    const bytes = fc.uint8Array({ maxLength: 3 }).map((b) => b.map((x) => [0, 1, 6][x % 3]!));
    const fields: fc.Arbitrary<TranscriptFields> = fc.record({
      mode: fc.constantFrom('secure' as const, 'plain' as const),
      clientPublicKey: bytes,
      clientNonce: bytes,
      name: fc.string({ unit: fc.constantFrom('a', '\u0001', '\u0000'), maxLength: 2 }),
      serverKey: bytes,
      serverNonce: bytes,
      sessionId: bytes,
      time: fc.constantFrom(0, 1, 6, 2 ** 32, Number.MAX_SAFE_INTEGER),
      wrappedKeys: bytes,
    });
    const key = (f: TranscriptFields) =>
      JSON.stringify(Object.entries(f).map(([k, v]) => [k, v instanceof Uint8Array ? toHex(v) : v]));
    fc.assert(
      fc.property(fc.array(fields, { minLength: 2, maxLength: 40 }), (sets) => {
        const seen = new Map<string, string>();
        for (const f of sets) {
          const bytesHex = toHex(transcript(f));
          const previous = seen.get(bytesHex);
          if (previous !== undefined) assert.equal(previous, key(f), 'two field sets share a transcript');
          seen.set(bytesHex, key(f));
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('the signature', () => {
  test('verifies with the identity key: 64 bytes, r || s', async () => {
    const data = transcript(sampleFields());
    const signature = await signTranscript(identity.privateKey, data);
    assert.equal(signature.length, 64);
    await verifyTranscript(identitySpki, data, signature);
  });

  test('fails when any field of the transcript changes (HANDSHAKE_BAD_SIGNATURE)', async () => {
    const f = sampleFields();
    const signature = await signTranscript(identity.privateKey, transcript(f));
    for (const [, changed] of oneFieldChanged(f)) {
      await rejectsWith(verifyTranscript(identitySpki, transcript(changed), signature), 'HANDSHAKE_BAD_SIGNATURE');
    }
  });

  test('fails when any bit of the transcript or the signature flips (property)', async () => {
    const data = transcript(sampleFields());
    const signature = await signTranscript(identity.privateKey, data);
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.nat(), fc.integer({ min: 0, max: 7 }), async (inSignature, at, bit) => {
        const d = data.slice();
        const s = signature.slice();
        const target = inSignature ? s : d;
        target[at % target.length]! ^= 1 << bit;
        await rejectsWith(verifyTranscript(identitySpki, d, s), 'HANDSHAKE_BAD_SIGNATURE');
      }),
      { numRuns: 200 },
    );
  });

  test('fails with another identity key, or in DER form, or truncated (HANDSHAKE_BAD_SIGNATURE)', async () => {
    const data = transcript(sampleFields());
    const signature = await signTranscript(identity.privateKey, data);
    const other = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const otherSpki = new Uint8Array(await subtle.exportKey('spki', other.publicKey));
    await rejectsWith(verifyTranscript(otherSpki, data, signature), 'HANDSHAKE_BAD_SIGNATURE');
    const int = (b: Uint8Array) => derInteger(b[0] === 0 ? b.subarray(1) : b);
    const derSignature = der(0x30, concat(int(signature.subarray(0, 32)), int(signature.subarray(32))));
    await rejectsWith(verifyTranscript(identitySpki, data, derSignature), 'HANDSHAKE_BAD_SIGNATURE');
    await rejectsWith(verifyTranscript(identitySpki, data, signature.subarray(0, 63)), 'HANDSHAKE_BAD_SIGNATURE');
    await rejectsWith(verifyTranscript(identitySpki, data, new Uint8Array(0)), 'HANDSHAKE_BAD_SIGNATURE');
  });

  test('a server key that is not ECDSA P-256 is refused (HANDSHAKE_BAD_KEY)', async () => {
    const data = transcript(sampleFields());
    const signature = await signTranscript(identity.privateKey, data);
    await rejectsWith(verifyTranscript(pageSpki, data, signature), 'HANDSHAKE_BAD_KEY');
    await rejectsWith(verifyTranscript(randomBytes(91), data, signature), 'HANDSHAKE_BAD_KEY');
    const p384 = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify']);
    await rejectsWith(
      importServerKey(new Uint8Array(await subtle.exportKey('spki', p384.publicKey))),
      'HANDSHAKE_BAD_KEY',
    );
  });
});

describe('what people compare', () => {
  test('the fingerprint is SHA-256 of the SPKI in 16 upper-case groups of four hex digits', async () => {
    const shown = await fingerprint(identitySpki);
    assert.match(shown, /^[0-9A-F]{4}( [0-9A-F]{4}){15}$/);
    const hex = createHash('sha256').update(identitySpki).digest('hex').toUpperCase();
    assert.equal(shown.replace(/ /g, ''), hex);
    assert.notEqual(await fingerprint(pageSpki), shown);
  });

  test('the session code is XXXX-XXXX from the unambiguous alphabet, derived as the doc says', async () => {
    const data = transcript(sampleFields());
    const signature = await signTranscript(identity.privateKey, data);
    const code = await sessionCode(data);
    assert.match(code, /^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}$/);
    const digest = createHash('sha256')
      .update(concat(utf8('wirechat-session-code'), data))
      .digest();
    const alphabet = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';
    const chars = [...digest.subarray(0, 8)].map((b) => alphabet[b % 31]).join('');
    assert.equal(code, `${chars.slice(0, 4)}-${chars.slice(4)}`);
    assert.equal(await sessionCode(data), code, 'deterministic');
    // ECDSA malleability: (r, n - s) verifies as well as (r, s); the code must not depend on which was sent.
    const n = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
    const s = BigInt('0x' + Buffer.from(signature.subarray(32)).toString('hex'));
    const flipped = concat(signature.subarray(0, 32), Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex'));
    await verifyTranscript(identitySpki, data, flipped);
    assert.equal(await sessionCode(data), code, 'the same session code whichever signature crossed the wire');
  });

  test('the session code differs between sessions (50 random transcripts)', async () => {
    const codes = new Set<string>();
    for (let i = 0; i < 50; i++) codes.add(await sessionCode(randomBytes(100)));
    assert.ok(codes.size >= 49, `only ${codes.size} distinct codes in 50`);
  });
});

// ---- the rules over any backend, and the steps both sides run ---------------------------------------------

describe('serverHandshakeFromPrimitives: the rules are applied whatever the primitives', () => {
  /** Web Crypto's primitives, with every call recorded. */
  function recording(): { primitives: HandshakePrimitives<CryptoKey>; calls: string[]; labels: string[] } {
    const calls: string[] = [];
    const labels: string[] = [];
    const web = webCryptoHandshakePrimitives;
    return {
      calls,
      labels,
      primitives: {
        importRsaPublicKey: (spki, pkcs1) => (calls.push('import'), web.importRsaPublicKey(spki, pkcs1)),
        rsaOaepEncrypt: (key, label, data) => (
          calls.push('encrypt'),
          labels.push(new TextDecoder().decode(label)),
          web.rsaOaepEncrypt(key, label, data)
        ),
        ecdsaSign: (key, data) => (calls.push('sign'), web.ecdsaSign(key, data)),
        sha256: (data) => (calls.push('sha256'), web.sha256(data)),
      },
    };
  }

  test('the OAEP label is wirechat-session-keys-v1, and what is wrapped opens on the page', async () => {
    const { primitives, labels } = recording();
    const handshake = serverHandshakeFromPrimitives(primitives);
    const secret = randomBytes(64);
    const wrapped = await handshake.wrap(await handshake.importClientKey(pageSpki), secret);
    assert.deepEqual(labels, ['wirechat-session-keys-v1']);
    const { fernetKey, macKey } = await unwrapSessionSecret(pagePair.privateKey, wrapped);
    assert.deepEqual(concat(fernetKey, macKey), secret);
  });

  test('a key the policy refuses never reaches the backend; a backend failure becomes HANDSHAKE_BAD_KEY, fixed words', async () => {
    const { primitives, calls } = recording();
    const handshake = serverHandshakeFromPrimitives(primitives);
    await rejectsWith(handshake.importClientKey(rsaSpki(1024, E_65537)), 'HANDSHAKE_BAD_KEY');
    await rejectsWith(handshake.importClientKey(rsaSpki(2048, Uint8Array.of(3))), 'HANDSHAKE_BAD_KEY');
    assert.deepEqual(calls, [], 'refused by shared/rsa-spki.ts first');
    const failing = serverHandshakeFromPrimitives({
      ...primitives,
      importRsaPublicKey: () => Promise.reject(new Error('error:1E08010C:DECODER routines')),
    });
    await assert.rejects(failing.importClientKey(pageSpki), (error: unknown) => {
      assert.ok(error instanceof WirechatError && error.code === 'HANDSHAKE_BAD_KEY');
      assert.equal(error.message, 'the public key is not an RSA SubjectPublicKeyInfo in DER');
      return true;
    });
  });

  test("the session code comes from the backend's SHA-256 of the labelled transcript, formatted once", async () => {
    const data = transcript(sampleFields());
    const { primitives, calls } = recording();
    assert.equal(await serverHandshakeFromPrimitives(primitives).sessionCode(data), await sessionCode(data));
    assert.deepEqual(calls, ['sha256']);
    // A backend whose hash is all zeros: the first letter of the alphabet, eight times.
    const zeros = serverHandshakeFromPrimitives({ ...primitives, sha256: async () => new Uint8Array(32) });
    assert.equal(await zeros.sessionCode(data), '2222-2222');
  });
});

describe('the handshake steps, server and page', () => {
  async function hello(options: { acceptPlain?: boolean; nonce?: Uint8Array } = {}): Promise<HelloFrame> {
    return buildHello({ name: 'alice', publicKey: pageSpki, acceptPlain: options.acceptPlain ?? false, ...options });
  }

  async function welcomeFor(
    h: HelloFrame,
    mode: 'secure' | 'plain',
    handshake: ServerHandshake = webCryptoServerHandshake,
  ) {
    const draft = await prepareWelcome(handshake, h, mode);
    const signed = await signWelcome(handshake, draft, {
      publicKey: identitySpki,
      signingKey: identity.privateKey,
      name: 'alice',
      time: 1767268800123,
    });
    return { draft, signed };
  }

  test('buildHello makes the hello the parser accepts: version 3, the SPKI, a fresh 32-byte nonce', async () => {
    const a = await hello();
    assert.deepEqual(parseClientFrame(JSON.stringify(a)), a);
    assert.deepEqual(Object.keys(a), ['type', 'version', 'name', 'publicKey', 'nonce', 'acceptPlain', 'resume']);
    assert.deepEqual(fromBase64Url(a.publicKey), pageSpki);
    assert.equal(fromBase64Url(a.nonce).length, NONCE_BYTES);
    assert.notEqual((await hello()).nonce, a.nonce);
  });

  test("secure: the welcome the server signs verifies on the page and unwraps to the server's secret", async () => {
    const h = await hello();
    const { draft, signed } = await welcomeFor(h, 'secure');
    assert.deepEqual(parseServerFrame(JSON.stringify(signed.frame)), signed.frame);
    const verified = await verifyWelcome(h, signed.frame);
    assert.deepEqual(verified.transcript, signed.transcript);
    assert.equal(await sessionCode(verified.transcript), signed.sessionCode);
    assert.deepEqual(verified.sessionId, draft.sessionId);
    const secret = await unwrapWelcome(verified, pagePair.privateKey);
    assert.deepEqual(secret, draft.secret);
  });

  test("the welcome's text is JSON.stringify of its frame, whatever the name, mode and time (a u64) (property)", async () => {
    const h = await hello();
    for (const mode of ['secure', 'plain'] as const) {
      const draft = await prepareWelcome(webCryptoServerHandshake, h, mode);
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' })),
          fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          async (name, time) => {
            const signed = await signWelcome(webCryptoServerHandshake, draft, {
              publicKey: identitySpki,
              signingKey: identity.privateKey,
              name,
              time,
            });
            assert.equal(signed.text, JSON.stringify(signed.frame));
          },
        ),
        { numRuns: 100 },
      );
    }
  });

  test("plain: no wrapped keys and no secret, and still signed over the page's key", async () => {
    const h = await hello({ acceptPlain: true });
    const { draft, signed } = await welcomeFor(h, 'plain');
    assert.equal(draft.secret, undefined);
    assert.equal(signed.frame.wrappedKeys, '');
    const verified = await verifyWelcome(h, signed.frame);
    assert.equal(await unwrapWelcome(verified, pagePair.privateKey), undefined);
  });

  test('a welcome for another hello, or changed after signing, does not verify (HANDSHAKE_BAD_SIGNATURE)', async () => {
    const h = await hello();
    const { signed } = await welcomeFor(h, 'secure');
    await rejectsWith(verifyWelcome(await hello(), signed.frame), 'HANDSHAKE_BAD_SIGNATURE');
    const changes: Array<(w: WelcomeFrame) => WelcomeFrame> = [
      (w) => ({ ...w, name: 'mallory' }),
      (w) => ({ ...w, mode: 'plain' }),
      (w) => ({ ...w, time: w.time + 1 }),
      (w) => ({ ...w, wrappedKeys: toBase64Url(randomBytes(256)) }),
    ];
    for (const change of changes) await rejectsWith(verifyWelcome(h, change(signed.frame)), 'HANDSHAKE_BAD_SIGNATURE');
  });

  test('malformed on either side: a short hello nonce, a short session id, keys in a plain welcome (PROTO_BAD_SHAPE)', async () => {
    await rejectsWith(
      prepareWelcome(webCryptoServerHandshake, await hello({ nonce: randomBytes(31) }), 'secure'),
      'PROTO_BAD_SHAPE',
    );
    const h = await hello();
    const { signed } = await welcomeFor(h, 'secure');
    await rejectsWith(
      verifyWelcome(h, { ...signed.frame, sessionId: toBase64Url(randomBytes(15)) }),
      'PROTO_BAD_SHAPE',
    );
    const verified = await verifyWelcome(h, signed.frame);
    await rejectsWith(unwrapWelcome({ ...verified, mode: 'plain' }, pagePair.privateKey), 'PROTO_BAD_SHAPE');
    await rejectsWith(
      unwrapWelcome({ ...verified, wrappedKeys: new Uint8Array(0) }, pagePair.privateKey),
      'PROTO_BAD_SHAPE',
    );
  });

  test("prepareWelcome checks the page's key even in plain mode (HANDSHAKE_BAD_KEY)", async () => {
    const bad = buildHello({ name: 'alice', publicKey: rsaSpki(1024, E_65537), acceptPlain: true });
    await rejectsWith(prepareWelcome(webCryptoServerHandshake, bad, 'plain'), 'HANDSHAKE_BAD_KEY');
  });
});
