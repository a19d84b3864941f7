import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

/** Where index.html's own script leaves the early pair for the bundle (web/early-key-pair.ts). */
const SLOT = Symbol.for('wirechat.early-key-pair');
const slot = globalThis as typeof globalThis & { [SLOT]?: unknown };

/** Counts generateKey calls while `run` runs. */
async function counting<T>(run: (calls: () => number) => Promise<T>): Promise<T> {
  const subtle = globalThis.crypto.subtle;
  const generate = subtle.generateKey.bind(subtle);
  let calls = 0;
  subtle.generateKey = ((...args: Parameters<typeof generate>) => {
    calls++;
    return generate(...args);
  }) as typeof subtle.generateKey;
  try {
    return await run(() => calls);
  } finally {
    subtle.generateKey = generate;
  }
}

const spki = async (pair: CryptoKeyPair) =>
  Buffer.from(await crypto.subtle.exportKey('spki', pair.publicKey)).toString('hex');

describe('the early key pair', () => {
  it('is started when the module is evaluated, handed out once, then fresh pairs follow', async () => {
    await counting(async (calls) => {
      const { takeKeyPair } = await import('../../web/early-key-pair.ts');
      assert.equal(calls(), 1, 'generation began when the module was evaluated, before anyone asked');
      assert.ok(slot[SLOT] instanceof Promise, 'it waits in the slot, where the bundle would find it');
      const first = takeKeyPair();
      assert.equal(calls(), 1, 'the first taker gets the pair already under way');
      assert.equal(slot[SLOT], undefined, 'and the slot is empty after');
      const second = takeKeyPair();
      assert.equal(calls(), 2);
      assert.notEqual(first, second, 'the early pair is for the first chat only');
      const [a, b] = await Promise.all([first, second]);
      assert.equal(a.privateKey.extractable, false);
      assert.equal((a.publicKey.algorithm as RsaHashedKeyAlgorithm).modulusLength, 3072);
      assert.notEqual(await spki(a), await spki(b));
    });
  });

  it("takes the pair that index.html's script started, and starts no second one", async () => {
    const { startKeyPair, takeKeyPair } = await import('../../web/early-key-pair.ts');
    await counting(async (calls) => {
      // The classic script's build is this same module: its startKeyPair fills the slot first...
      startKeyPair();
      assert.equal(calls(), 1);
      const started = slot[SLOT];
      // ...and the bundle's copy, evaluated later, finds it there.
      startKeyPair();
      assert.equal(calls(), 1, 'a pair already waiting is not made again');
      const taken = takeKeyPair();
      assert.equal(taken, started, 'the first chat gets the very pair the script started');
      assert.equal(calls(), 1);
      await taken;
    });
  });

  it('hands out only a promise from the slot: anything else there is passed over for a fresh pair', async () => {
    const { takeKeyPair } = await import('../../web/early-key-pair.ts');
    await counting(async (calls) => {
      slot[SLOT] = { then: () => undefined, privateKey: 'not a key' };
      const pair = takeKeyPair();
      assert.equal(calls(), 1, 'a fresh pair instead');
      assert.equal(slot[SLOT], undefined);
      assert.equal(((await pair).publicKey.algorithm as RsaHashedKeyAlgorithm).modulusLength, 3072);
    });
  });
});
