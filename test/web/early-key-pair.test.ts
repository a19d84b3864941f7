import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

describe('the early key pair', () => {
  it('is started when the module is evaluated, handed out once, then fresh pairs follow', async () => {
    const subtle = globalThis.crypto.subtle;
    const generate = subtle.generateKey.bind(subtle);
    let calls = 0;
    subtle.generateKey = ((...args: Parameters<typeof generate>) => {
      calls++;
      return generate(...args);
    }) as typeof subtle.generateKey;
    const { takeKeyPair } = await import('../../web/early-key-pair.ts');
    assert.equal(calls, 1, 'generation began when the module was evaluated, before anyone asked');
    const first = takeKeyPair();
    assert.equal(calls, 1, 'the first taker gets the pair already under way');
    const second = takeKeyPair();
    assert.equal(calls, 2);
    subtle.generateKey = generate;
    assert.notEqual(first, second, 'the early pair is for the first chat only');
    const [a, b] = await Promise.all([first, second]);
    assert.equal(a.privateKey.extractable, false);
    assert.equal((a.publicKey.algorithm as RsaHashedKeyAlgorithm).modulusLength, 3072);
    const spki = async (pair: CryptoKeyPair) =>
      Buffer.from(await crypto.subtle.exportKey('spki', pair.publicKey)).toString('hex');
    assert.notEqual(await spki(a), await spki(b));
  });
});
