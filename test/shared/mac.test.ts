/**
 * The outer HMAC-SHA256 (shared/mac.ts on Web Crypto, server/node-fernet.ts on node:crypto) against RFC 4231's
 * test vectors and against forged tags.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { toHex, utf8 } from '../../shared/bytes.ts';
import { webCryptoBackend, type CryptoBackend } from '../../shared/crypto-backend.ts';
import { createMac, generateMacKey, importHmacKey, macFromCryptoKey, type Mac } from '../../shared/mac.ts';
import { nodeCryptoBackend, nodeMacFromKey } from '../../server/node-fernet.ts';

const BACKENDS: [string, CryptoBackend, (key: Uint8Array) => Promise<Mac>][] = [
  ['Web Crypto', webCryptoBackend, async (key) => macFromCryptoKey(await importHmacKey(key))],
  ['node:crypto', nodeCryptoBackend, async (key) => nodeMacFromKey(key)],
];

const bytesOf = (length: number, value: number) => new Uint8Array(length).fill(value);

/**
 * RFC 4231 §4, HMAC-SHA-256 outputs. Case 5 is left out: it tests truncating the output to 128 bits, which
 * wirechat never does. The keys are 4 to 131 bytes, so they go through the any-length import that createMac
 * narrows to 32 bytes.
 */
const RFC4231: { name: string; key: Uint8Array; data: Uint8Array; hmac: string }[] = [
  {
    name: 'case 1 (20-byte key)',
    key: bytesOf(20, 0x0b),
    data: utf8('Hi There'),
    hmac: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
  },
  {
    name: 'case 2 (key shorter than the output)',
    key: utf8('Jefe'),
    data: utf8('what do ya want for nothing?'),
    hmac: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  },
  {
    name: 'case 3 (50 bytes of 0xdd)',
    key: bytesOf(20, 0xaa),
    data: bytesOf(50, 0xdd),
    hmac: '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe',
  },
  {
    name: 'case 4 (25-byte key 0x01..0x19)',
    key: Uint8Array.from({ length: 25 }, (_, i) => i + 1),
    data: bytesOf(50, 0xcd),
    hmac: '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b',
  },
  {
    name: 'case 6 (131-byte key, larger than the block)',
    key: bytesOf(131, 0xaa),
    data: utf8('Test Using Larger Than Block-Size Key - Hash Key First'),
    hmac: '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
  },
  {
    name: 'case 7 (131-byte key and data larger than the block)',
    key: bytesOf(131, 0xaa),
    data: utf8(
      'This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.',
    ),
    hmac: '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
  },
];

for (const [name, backend, anyLengthMac] of BACKENDS) {
  describe(`${name}: RFC 4231 HMAC-SHA-256`, () => {
    for (const v of RFC4231) {
      test(v.name, async () => {
        const mac = await anyLengthMac(v.key.slice());
        const tag = await mac.sign(v.data);
        assert.equal(toHex(tag), v.hmac);
        assert.equal(await mac.verify(v.data, tag), true);
      });
    }
  });

  describe(`${name}: createMac`, () => {
    test("takes exactly 32 bytes and zeroes the caller's copy", async () => {
      for (const length of [0, 16, 31, 33, 64]) {
        await assert.rejects(backend.createMac(new Uint8Array(length).fill(1)), RangeError, `${length} bytes`);
      }
      const key = generateMacKey();
      assert.ok(key.some((b) => b !== 0));
      await backend.createMac(key);
      assert.deepEqual(key, new Uint8Array(32));
    });

    test('verify: true for its own tag, false for other data or another key', async () => {
      const key = generateMacKey();
      const mac = await backend.createMac(key.slice());
      const data = utf8('a chat line');
      const tag = await mac.sign(data);
      assert.equal(tag.length, 32);
      assert.equal(await mac.verify(data, tag), true);
      assert.equal(await mac.verify(utf8('a chat linf'), tag), false);
      assert.equal(await mac.verify(new Uint8Array(0), tag), false);
      assert.equal(await (await backend.createMac(generateMacKey())).verify(data, tag), false);
    });

    test('verify: false for a tag of the wrong length, even a prefix or extension of the right one', async () => {
      const mac = await backend.createMac(generateMacKey());
      const data = utf8('a chat line');
      const tag = await mac.sign(data);
      for (const wrong of [
        tag.subarray(0, 31),
        tag.subarray(0, 16),
        new Uint8Array(0),
        Uint8Array.of(...tag, 0),
        new Uint8Array(64),
      ]) {
        assert.equal(await mac.verify(data, wrong), false, `${wrong.length} bytes`);
      }
    });

    test("verify: false with any one of the tag's 256 bits flipped", async () => {
      const mac = await backend.createMac(generateMacKey());
      const data = utf8('a chat line');
      const tag = await mac.sign(data);
      for (let bit = 0; bit < 256; bit++) {
        const forged = tag.slice();
        forged[bit >> 3]! ^= 1 << (bit & 7);
        assert.equal(await mac.verify(data, forged), false, `bit ${bit}`);
      }
    });
  });
}

describe('both backends', () => {
  test("sign the same bytes to the same tag and accept each other's tags", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 2048 }),
        async (key, data) => {
          const web = await webCryptoBackend.createMac(key.slice());
          const node = await nodeCryptoBackend.createMac(key.slice());
          const [webTag, nodeTag] = [await web.sign(data), await node.sign(data)];
          assert.deepEqual(webTag, nodeTag);
          assert.equal(await web.verify(data, nodeTag), true);
          assert.equal(await node.verify(data, webTag), true);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('node:crypto: signInto', () => {
  test('writes the tag sign gives where it is asked to, and nothing around it (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 2048 }),
        fc.nat({ max: 40 }),
        async (key, data, offset) => {
          const mac = await nodeCryptoBackend.createMac(key.slice());
          const out = new Uint8Array(offset + 32 + 3).fill(0xaa);
          mac.signInto!(data, out, offset);
          const expected = new Uint8Array(out.length).fill(0xaa);
          expected.set(mac.sign(data) as Uint8Array, offset);
          assert.deepEqual(out, expected);
        },
      ),
      { numRuns: 100 },
    );
    const mac = await nodeCryptoBackend.createMac(generateMacKey());
    assert.throws(() => mac.signInto!(utf8('x'), new Uint8Array(40), 9), RangeError, 'no room: refused, not cut');
  });
});

describe('Web Crypto MAC key', () => {
  test('is non-extractable, HMAC SHA-256, sign and verify only', async () => {
    const raw = generateMacKey();
    const key = await importHmacKey(raw);
    assert.deepEqual(raw, new Uint8Array(32));
    assert.equal(key.extractable, false);
    assert.deepEqual([...key.usages].sort(), ['sign', 'verify']);
    assert.equal((key.algorithm as HmacKeyAlgorithm).hash.name, 'SHA-256');
    for (const format of ['raw', 'jwk'] as const) {
      await assert.rejects(globalThis.crypto.subtle.exportKey(format, key), (error: Error) => {
        assert.match(error.name, /^InvalidAccess/);
        return true;
      });
    }
  });

  test('an empty key is refused by the any-length import too', async () => {
    await assert.rejects(importHmacKey(new Uint8Array(0)), RangeError);
    assert.throws(() => nodeMacFromKey(new Uint8Array(0)), RangeError);
  });

  test('createMac and generateMacKey: 32 fresh bytes make a working MAC', async () => {
    const [a, b] = [generateMacKey(), generateMacKey()];
    assert.equal(a.length, 32);
    assert.notDeepEqual(a, b);
    const mac = await createMac(a);
    assert.equal(await mac.verify(utf8('x'), await mac.sign(utf8('x'))), true);
  });
});
