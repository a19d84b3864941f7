/**
 * shared/rsa-spki.ts: one walker over an RSA SubjectPublicKeyInfo, strict for the server (readRsaSpki: DER only,
 * the key policy, fixed words) and lenient for the inspector (rsaKeyInfo: names whatever key a page sent, never
 * throws). The strict reader's refusals are tested against both backends in test/server/node-handshake.test.ts;
 * here, what the lenient one reads and that the two agree wherever the strict one accepts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { isWirechatError } from '../../shared/errors.ts';
import { readRsaSpki, rsaKeyInfo } from '../../shared/rsa-spki.ts';

/** SPKI DER of an RSA key with a random odd modulus of `bits` bits and exponent `e` (base64url), no key generation. */
function rsaSpki(bits: number, e = 'AQAB'): Uint8Array {
  const n = randomBytes(bits / 8);
  n[0]! |= 0x80;
  n[n.length - 1]! |= 1;
  return new Uint8Array(
    createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e }, format: 'jwk' }).export({
      type: 'spki',
      format: 'der',
    }),
  );
}

/** What the strict reader says: the modulus size, or the error code. */
function strict(spki: Uint8Array): number | string {
  try {
    return readRsaSpki(spki).modulusBits;
  } catch (error) {
    assert.ok(isWirechatError(error, 'HANDSHAKE_BAD_KEY'), String(error));
    return error.code;
  }
}

describe('the RSA key reader', () => {
  it('lenient, names keys the server refuses: their size and exponent as sent', () => {
    assert.deepEqual(rsaKeyInfo(rsaSpki(1024)), { bits: 1024, exponent: 65537 });
    assert.deepEqual(rsaKeyInfo(rsaSpki(2048, 'Aw')), { bits: 2048, exponent: 3 });
    assert.deepEqual(rsaKeyInfo(rsaSpki(8192)), { bits: 8192, exponent: 65537 });
    assert.equal(strict(rsaSpki(1024)), 'HANDSHAKE_BAD_KEY');
    assert.equal(strict(rsaSpki(2048, 'Aw')), 'HANDSHAKE_BAD_KEY');
    // A byte after the key: DER refuses it, a reader for display does not care.
    const trailing = Uint8Array.of(...rsaSpki(2048), 0);
    assert.equal(strict(trailing), 'HANDSHAKE_BAD_KEY');
    assert.deepEqual(rsaKeyInfo(trailing), { bits: 2048, exponent: 65537 });
  });

  it('lenient, reads nothing from what is not an RSA key: an EC key, a cut one, noise', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
    assert.equal(rsaKeyInfo(new Uint8Array(ec)), undefined);
    const good = rsaSpki(2048);
    for (let cut = 0; cut < good.length; cut += 7)
      assert.equal(rsaKeyInfo(good.subarray(0, cut)), undefined, `cut at ${cut}`);
    assert.equal(rsaKeyInfo(Uint8Array.of(0x30, 0x80)), undefined, 'an indefinite length');
  });

  it('strict and lenient agree on every key the strict reader accepts', () => {
    for (const bits of [2048, 3072, 4096]) {
      const spki = rsaSpki(bits);
      assert.equal(strict(spki), bits);
      assert.deepEqual(rsaKeyInfo(spki), { bits, exponent: 65537 });
    }
  });

  it('never throws when lenient, and agrees with the strict reader, on any bytes or any one-byte change of a key (fast-check)', () => {
    const good = rsaSpki(2048);
    const mutated = fc
      .tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 0, max: 255 }))
      .map(([at, byte]) => Uint8Array.from(good, (b, i) => (i === at ? byte : b)));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 600 }), mutated), (spki) => {
        const info = rsaKeyInfo(spki);
        const verdict = strict(spki);
        if (typeof verdict === 'number') assert.deepEqual(info, { bits: verdict, exponent: 65537 });
      }),
      { numRuns: 2000 },
    );
  });
});
