/**
 * The Fernet codec against the spec's own vectors, against an independent implementation (the `fernet` npm
 * package), and against every way a token can be damaged. Each suite runs on both backends: the Web Crypto one
 * in shared/ (what the page runs) and server/node-fernet.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { concat, fromBase64Url, fromUtf8, readU64be, toBase64Url, toHex, utf8 } from '../../shared/bytes.ts';
import { webCryptoBackend, type CryptoBackend } from '../../shared/crypto-backend.ts';
import { WirechatError, type ErrorCode } from '../../shared/errors.ts';
import {
  createFernet,
  encodeFernetKey,
  FERNET_MIN_TOKEN_LENGTH,
  fernetTokenLength,
  generateFernetKey,
  importFernetKeys,
  parseToken,
  type Fernet,
} from '../../shared/fernet.ts';
import { createNodeFernet, nodeCryptoBackend } from '../../server/node-fernet.ts';

const BACKENDS: [string, CryptoBackend][] = [
  ['Web Crypto', webCryptoBackend],
  ['node:crypto', nodeCryptoBackend],
];

// Spec vectors, loaded as shipped (test/vectors/fernet/SOURCE.md says where from).
interface Vector {
  token: string;
  now: string;
  secret: string;
  src?: string;
  iv?: number[];
  ttl_sec?: number;
  desc?: string;
}
const load = (name: string): Vector[] =>
  JSON.parse(readFileSync(new URL(`../vectors/fernet/${name}.json`, import.meta.url), 'utf8')) as Vector[];
const seconds = (iso: string) => Date.parse(iso) / 1000;

/** What each invalid.json case must be rejected as: its own failure, not merely "some error". */
const INVALID_CODE: Record<string, ErrorCode> = {
  'incorrect mac': 'FERNET_BAD_MAC',
  'too short': 'FERNET_TOO_SHORT',
  'invalid base64': 'FERNET_BAD_BASE64',
  'payload size not multiple of block size': 'FERNET_BAD_LENGTH',
  'payload padding error': 'FERNET_BAD_PADDING',
  'far-future TS (unacceptable clock skew)': 'FERNET_FUTURE',
  'expired TTL': 'FERNET_EXPIRED',
  'incorrect IV (causes padding error)': 'FERNET_BAD_PADDING',
};

/** Fails unless the promise rejects with a WirechatError of exactly this code (so it never yields plaintext). */
async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, where = ''): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof WirechatError, `${where}: not a WirechatError: ${String(error)}`);
    assert.equal(error.code, code, where);
    return true;
  });
}

// The independent implementation. CommonJS without types, so it is loaded through require and given the small
// typed surface used here. It takes and returns strings: CryptoJS UTF-8-encodes the message string before AES
// and UTF-8-decodes after, so text crosses as utf8()/fromUtf8() bytes on our side.
interface FernetPackage {
  Secret: new (key64: string) => object;
  Token: new (options: { secret: object; ttl: number; token?: string }) => {
    encode(message: string): string;
    decode(): string;
  };
}
const reference = createRequire(import.meta.url)('fernet') as FernetPackage;

/** A chat line of exactly 64 KiB of UTF-8 that mixes 1-, 3- and 4-byte characters. */
const BIG = 'abc漢😀'.repeat(6553) + 'xxxxxx';
const INTEROP_MESSAGES: [string, string][] = [
  ['empty message', ''],
  ['ASCII', 'Hello, wirechat! 0123456789 ~!@#$%^&*()'],
  ['multi-byte UTF-8 (emoji, CJK)', 'héllo 😀👩‍💻 漢字かな 한국어'],
  ['64 KiB', BIG],
];

test('the 64 KiB interop message is 65536 bytes of UTF-8', () => {
  assert.equal(utf8(BIG).length, 65536);
});

for (const [name, backend] of BACKENDS) {
  describe(`${name}: generate.json`, () => {
    for (const v of load('generate')) {
      test(`${JSON.stringify(v.src)} at ${v.now} with the given IV is exactly the spec's token`, async () => {
        const fernet = await backend.createFernet(fromBase64Url(v.secret));
        const token = await fernet.encrypt(utf8(v.src!), { time: seconds(v.now), iv: Uint8Array.from(v.iv!) });
        assert.equal(token, v.token);
      });
    }
  });

  describe(`${name}: verify.json`, () => {
    for (const v of load('verify')) {
      test(`${v.token.slice(0, 16)}... decodes to ${JSON.stringify(v.src)} at ${v.now}, ttl ${v.ttl_sec}`, async () => {
        const fernet = await backend.createFernet(fromBase64Url(v.secret));
        const plaintext = await fernet.decrypt(v.token, { ttl: v.ttl_sec!, now: seconds(v.now) });
        assert.equal(fromUtf8(plaintext), v.src);
      });
    }
  });

  describe(`${name}: invalid.json`, () => {
    for (const v of load('invalid')) {
      test(v.desc!, async () => {
        const code = INVALID_CODE[v.desc!];
        assert.ok(code, `no expected code for ${v.desc}`);
        const fernet = await backend.createFernet(fromBase64Url(v.secret));
        await rejectsWith(fernet.decrypt(v.token, { ttl: v.ttl_sec!, now: seconds(v.now) }), code, v.desc);
      });
    }
  });

  describe(`${name}: interop with the fernet package 0.4.0`, () => {
    for (const [label, message] of INTEROP_MESSAGES) {
      test(`ours -> package: ${label}`, async () => {
        const key = generateFernetKey();
        const secret = new reference.Secret(encodeFernetKey(key));
        const token = await (await backend.createFernet(key)).encrypt(utf8(message));
        assert.equal(new reference.Token({ secret, ttl: 0, token }).decode(), message);
      });
      test(`package -> ours: ${label}`, async () => {
        const key = generateFernetKey();
        const secret = new reference.Secret(encodeFernetKey(key));
        const token = new reference.Token({ secret, ttl: 0 }).encode(message);
        const plaintext = await (await backend.createFernet(key)).decrypt(token, { ttl: 60 });
        assert.equal(fromUtf8(plaintext), message);
      });
    }
  });

  describe(`${name}: damaged tokens are rejected with their own code`, () => {
    const NOW = 1_700_000_000;
    const TTL = 60;
    // A short token, so that every truncation and every bit can be tried: 73 bytes, 100 characters.
    async function fixture(): Promise<{ fernet: Fernet; token: string; bytes: Uint8Array; key: Uint8Array }> {
      const key = generateFernetKey();
      const fernet = await backend.createFernet(key.slice());
      const token = await fernet.encrypt(utf8('hi'), { time: NOW });
      return { fernet, token, bytes: fromBase64Url(token), key };
    }
    const decrypt = (fernet: Fernet, token: string) => fernet.decrypt(token, { ttl: TTL, now: NOW });
    /** The code a token of `length` decoded bytes (version, timestamp and IV intact) must be refused with. */
    function codeForLength(length: number): ErrorCode {
      if (length < FERNET_MIN_TOKEN_LENGTH - 16) return 'FERNET_TOO_SHORT';
      if ((length - (FERNET_MIN_TOKEN_LENGTH - 16)) % 16 !== 0) return 'FERNET_BAD_LENGTH';
      if (length < FERNET_MIN_TOKEN_LENGTH) return 'FERNET_TOO_SHORT';
      return 'FERNET_BAD_MAC';
    }

    test('the fixture itself decrypts (so the rejections below are caused by the damage)', async () => {
      const { fernet, token, bytes } = await fixture();
      assert.equal(bytes.length, 73);
      assert.equal(fromUtf8(await decrypt(fernet, token)), 'hi');
    });

    test('truncated at every byte length (0..72), re-encoded', async () => {
      const { fernet, bytes } = await fixture();
      for (let length = 0; length < bytes.length; length++) {
        const token = toBase64Url(bytes.subarray(0, length), true);
        await rejectsWith(decrypt(fernet, token), codeForLength(length), `length ${length}`);
      }
    });

    test('truncated at every character (0..99)', async () => {
      const { fernet, token } = await fixture();
      for (let length = 0; length < token.length; length++) {
        const code = length % 4 !== 0 ? 'FERNET_BAD_BASE64' : codeForLength((length / 4) * 3);
        await rejectsWith(decrypt(fernet, token.slice(0, length)), code, `length ${length}`);
      }
    });

    test('with 1..48 bytes appended, re-encoded', async () => {
      const { fernet, bytes } = await fixture();
      for (let extra = 1; extra <= 48; extra++) {
        const token = toBase64Url(concat(bytes, new Uint8Array(extra).fill(extra)), true);
        await rejectsWith(
          decrypt(fernet, token),
          extra % 16 === 0 ? 'FERNET_BAD_MAC' : 'FERNET_BAD_LENGTH',
          `+${extra}`,
        );
      }
    });

    test('with characters appended to the text', async () => {
      const { fernet, token } = await fixture();
      for (const tail of ['A', '=', 'AA', 'AAAA', 'AA==', '    ', '\r\n\r\n']) {
        await rejectsWith(decrypt(fernet, token + tail), 'FERNET_BAD_BASE64', JSON.stringify(tail));
      }
    });

    test('unpadded, or spelled with + and / instead of - and _', async () => {
      const { fernet, token } = await fixture();
      await rejectsWith(decrypt(fernet, token.replace(/=+$/, '')), 'FERNET_BAD_BASE64', 'unpadded');
      const spec = load('generate')[0]!;
      const standard = spec.token.replace(/-/g, '+').replace(/_/g, '/');
      assert.notEqual(standard, spec.token);
      const specFernet = await backend.createFernet(fromBase64Url(spec.secret));
      await rejectsWith(specFernet.decrypt(standard, { now: seconds(spec.now) }), 'FERNET_BAD_BASE64', '+/');
    });

    test('with every one of its 584 bits flipped in turn', async () => {
      const { fernet, bytes } = await fixture();
      for (let i = 0; i < bytes.length; i++) {
        for (let bit = 0; bit < 8; bit++) {
          const damaged = bytes.slice();
          damaged[i]! ^= 1 << bit;
          let code: ErrorCode = 'FERNET_BAD_MAC';
          if (i === 0) code = 'FERNET_BAD_VERSION';
          else if (i <= 8) {
            // The timestamp is checked before the MAC (Spec: Verifying, step 3), so a flip there may be refused
            // as expired or as future instead.
            const timestamp = readU64be(damaged, 1);
            if (NOW > timestamp + TTL) code = 'FERNET_EXPIRED';
            else if (timestamp > NOW + 60) code = 'FERNET_FUTURE';
          }
          await rejectsWith(decrypt(fernet, toBase64Url(damaged, true)), code, `byte ${i} bit ${bit}`);
        }
      }
    });

    test('under a wrong key', async () => {
      const { token } = await fixture();
      const other = await backend.createFernet(generateFernetKey());
      await rejectsWith(decrypt(other, token), 'FERNET_BAD_MAC');
    });

    test('older than its TTL (and accepted exactly at the TTL)', async () => {
      const { fernet, token } = await fixture();
      assert.equal(fromUtf8(await fernet.decrypt(token, { ttl: TTL, now: NOW + TTL })), 'hi');
      await rejectsWith(fernet.decrypt(token, { ttl: TTL, now: NOW + TTL + 1 }), 'FERNET_EXPIRED');
      await rejectsWith(fernet.decrypt(token, { ttl: 0, now: NOW + 0.5 }), 'FERNET_EXPIRED', 'ttl 0');
    });

    test('without a ttl an old token has no expiry', async () => {
      const { fernet, token } = await fixture();
      assert.equal(fromUtf8(await fernet.decrypt(token, { now: NOW + 10 * 365 * 86400 })), 'hi');
    });

    test('more than 60 s in the future (and accepted at exactly 60 s), with or without a ttl', async () => {
      const { fernet, token } = await fixture();
      assert.equal(fromUtf8(await fernet.decrypt(token, { now: NOW - 60 })), 'hi');
      await rejectsWith(fernet.decrypt(token, { now: NOW - 61 }), 'FERNET_FUTURE');
      await rejectsWith(fernet.decrypt(token, { ttl: TTL, now: NOW - 61 }), 'FERNET_FUTURE');
      await rejectsWith(fernet.decrypt(token, { now: NOW - 2, maxClockSkew: 1 }), 'FERNET_FUTURE', 'skew 1');
    });

    test('by default, against the real clock: fresh is accepted, 61 s in the future is not', async () => {
      const { fernet } = await fixture();
      const now = Math.floor(Date.now() / 1000);
      assert.equal(fromUtf8(await fernet.decrypt(await fernet.encrypt(utf8('now')), { ttl: TTL })), 'now');
      await rejectsWith(fernet.decrypt(await fernet.encrypt(utf8('later'), { time: now + 61 })), 'FERNET_FUTURE');
    });

    test('a NaN or negative ttl, now or skew is refused, not treated as "no check"', async () => {
      const { fernet, token } = await fixture();
      for (const options of [{ ttl: Number.NaN }, { ttl: -1 }, { now: Number.NaN }, { maxClockSkew: Number.NaN }]) {
        await assert.rejects(fernet.decrypt(token, { now: NOW, ...options }), RangeError, JSON.stringify(options));
      }
    });
  });

  describe(`${name}: keys and encrypt options`, () => {
    test("the caller's raw key bytes are zeroed once imported", async () => {
      const key = generateFernetKey();
      assert.ok(key.some((b) => b !== 0));
      await backend.createFernet(key);
      assert.deepEqual(key, new Uint8Array(32));
    });

    test('a key that is not 32 bytes is FERNET_BAD_KEY', async () => {
      for (const length of [0, 16, 31, 33, 64]) {
        await rejectsWith(backend.createFernet(new Uint8Array(length)), 'FERNET_BAD_KEY', `${length} bytes`);
      }
    });

    test('an IV that is not 16 bytes, or a time that is not a u64, is refused', async () => {
      const fernet = await backend.createFernet(generateFernetKey());
      await assert.rejects(fernet.encrypt(utf8('x'), { iv: new Uint8Array(15) }), RangeError);
      for (const time of [-1, 1.5, Number.NaN]) await assert.rejects(fernet.encrypt(utf8('x'), { time }), RangeError);
    });

    test('defaults: a fresh random IV per token and the current time', async () => {
      const fernet = await backend.createFernet(generateFernetKey());
      const before = Math.floor(Date.now() / 1000);
      const [a, b] = [parseToken(await fernet.encrypt(utf8('same'))), parseToken(await fernet.encrypt(utf8('same')))];
      const after = Math.floor(Date.now() / 1000);
      assert.notDeepEqual(a.iv, b.iv);
      assert.notDeepEqual(a.ciphertext, b.ciphertext);
      assert.ok(a.timestamp >= before && a.timestamp <= after, `${a.timestamp} not in [${before}, ${after}]`);
    });

    test('the ciphertext is the plaintext PKCS #7-padded to whole blocks (0..33 bytes)', async () => {
      const fernet = await backend.createFernet(generateFernetKey());
      for (let n = 0; n <= 33; n++) {
        const plaintext = new Uint8Array(n).fill(n);
        const token = await fernet.encrypt(plaintext);
        assert.equal(parseToken(token).ciphertext.length, (Math.floor(n / 16) + 1) * 16, `${n} bytes`);
        assert.deepEqual(await fernet.decrypt(token), plaintext);
      }
    });

    test("sealToken writes into the caller's buffer when given one, of exactly the token's length", async () => {
      const fernet = await backend.createFernet(generateFernetKey());
      for (const n of [0, 15, 16, 300]) {
        const options = { time: 1_700_000_000, iv: new Uint8Array(16).fill(7) };
        const into = new Uint8Array(fernetTokenLength(n)).fill(0xee);
        const plaintext = new Uint8Array(n).fill(n);
        const token = await fernet.sealToken(plaintext, options, into);
        assert.equal(token, into, 'the same array');
        assert.deepEqual(into, await fernet.sealToken(plaintext, options), `${n} bytes, as a token of its own`);
        for (const length of [into.length - 1, into.length + 1]) {
          assert.throws(() => fernet.sealToken(plaintext, options, new Uint8Array(length)), RangeError);
        }
      }
    });

    test('sealToken into one reused buffer, token after token and length after length: each its own IV, each opens', async () => {
      const fernet = await backend.createFernet(generateFernetKey());
      const buffers = new Map<number, Uint8Array>();
      const ivs = new Set<string>();
      for (const n of [300, 300, 17, 300, 17, 0, 0, 300]) {
        // The same array again for the same length, as a scratch hands it out (its fields' views are reused).
        const into = buffers.get(n) ?? new Uint8Array(fernetTokenLength(n));
        buffers.set(n, into);
        const plaintext = new Uint8Array(n).fill(n + ivs.size);
        await fernet.sealToken(plaintext, { time: 1_700_000_000 }, into);
        const token = toBase64Url(into, true);
        const iv = toHex(parseToken(token).iv);
        assert.ok(!ivs.has(iv), 'a fresh IV');
        ivs.add(iv);
        assert.deepEqual(await fernet.decrypt(token, { now: 1_700_000_000 }), plaintext);
      }
    });

    test('sealText is the token encrypt gives, a value exactly where the backend is synchronous', async () => {
      const fernet = await backend.createFernet(generateFernetKey());
      const options = { time: 1_700_000_000, iv: new Uint8Array(16).fill(9) };
      const plaintext = utf8('a line for the log');
      const text = fernet.sealText(plaintext, options);
      assert.equal(text instanceof Promise, !fernet.synchronous);
      assert.equal(await text, await fernet.encrypt(plaintext, options));
      assert.equal(await text, toBase64Url(await fernet.sealToken(plaintext, options), true));
    });
  });
}

describe('Web Crypto keys', () => {
  test('createFernet takes the 44-character base64url key and makes the spec token', async () => {
    const v = load('generate')[0]!;
    const fernet = await createFernet(v.secret);
    assert.equal(await fernet.encrypt(utf8(v.src!), { time: seconds(v.now), iv: Uint8Array.from(v.iv!) }), v.token);
    assert.equal(
      await (
        await createNodeFernet(v.secret)
      ).encrypt(utf8(v.src!), { time: seconds(v.now), iv: Uint8Array.from(v.iv!) }),
      v.token,
    );
  });

  test('a key string that is not 44 characters of strict padded base64url is FERNET_BAD_KEY', async () => {
    const good = load('generate')[0]!.secret;
    for (const bad of [
      good.slice(0, 43),
      good + 'A',
      good.replace('=', 'A'),
      good.replace('_', '/'),
      '%'.repeat(44),
      '',
    ]) {
      await rejectsWith(createFernet(bad), 'FERNET_BAD_KEY', JSON.stringify(bad));
      await rejectsWith(createNodeFernet(bad), 'FERNET_BAD_KEY', JSON.stringify(bad));
    }
  });

  test('imported keys are non-extractable and have only the usages Fernet needs', async () => {
    const raw = generateFernetKey();
    const { signing, encryption } = await importFernetKeys(raw);
    assert.deepEqual(raw, new Uint8Array(32));
    assert.equal(signing.extractable, false);
    assert.equal(encryption.extractable, false);
    assert.deepEqual([...signing.usages].sort(), ['sign', 'verify']);
    assert.deepEqual([...encryption.usages].sort(), ['decrypt', 'encrypt']);
    assert.equal(signing.algorithm.name, 'HMAC');
    assert.equal((signing.algorithm as HmacKeyAlgorithm).hash.name, 'SHA-256');
    assert.equal((signing.algorithm as HmacKeyAlgorithm).length, 128);
    assert.equal(encryption.algorithm.name, 'AES-CBC');
    assert.equal((encryption.algorithm as AesKeyAlgorithm).length, 128);
    for (const key of [signing, encryption]) {
      for (const format of ['raw', 'jwk'] as const) {
        await assert.rejects(globalThis.crypto.subtle.exportKey(format, key), (error: Error) => {
          assert.match(error.name, /^InvalidAccess/);
          return true;
        });
      }
    }
  });

  test('generateFernetKey gives 32 fresh random bytes', () => {
    const [a, b] = [generateFernetKey(), generateFernetKey()];
    assert.equal(a.length, 32);
    assert.notDeepEqual(a, b);
  });
});

describe('parseToken (for the wire inspector)', () => {
  test('takes the spec token apart into its fields', () => {
    const v = load('generate')[0]!;
    const parsed = parseToken(v.token);
    const bytes = fromBase64Url(v.token);
    assert.equal(parsed.version, 0x80);
    assert.equal(parsed.timestamp, seconds(v.now));
    assert.deepEqual(parsed.iv, Uint8Array.from(v.iv!));
    assert.deepEqual(parsed.ciphertext, bytes.subarray(25, bytes.length - 32));
    assert.equal(parsed.ciphertext.length, 16);
    assert.deepEqual(parsed.hmac, bytes.subarray(bytes.length - 32));
    assert.deepEqual(parsed.signed, bytes.subarray(0, bytes.length - 32));
  });

  test('throws the structural codes of invalid.json, and passes the rest (they fail later checks)', () => {
    for (const v of load('invalid')) {
      const code = INVALID_CODE[v.desc!]!;
      if (['FERNET_BAD_BASE64', 'FERNET_TOO_SHORT', 'FERNET_BAD_LENGTH'].includes(code)) {
        assert.throws(
          () => parseToken(v.token),
          (error: unknown) => error instanceof WirechatError && error.code === code,
          v.desc,
        );
      } else {
        assert.equal(parseToken(v.token).version, 0x80, v.desc);
      }
    }
  });

  test('throws FERNET_BAD_VERSION for any first byte but 0x80', () => {
    const bytes = fromBase64Url(load('generate')[0]!.token);
    for (const version of [0x00, 0x7f, 0x81, 0xff]) {
      bytes[0] = version;
      assert.throws(
        () => parseToken(toBase64Url(bytes, true)),
        (error: unknown) => error instanceof WirechatError && error.code === 'FERNET_BAD_VERSION',
      );
    }
  });

  test('a non-string is FERNET_BAD_BASE64, not a TypeError', () => {
    assert.throws(
      () => parseToken(42 as unknown as string),
      (error: unknown) => error instanceof WirechatError && error.code === 'FERNET_BAD_BASE64',
    );
  });
});
