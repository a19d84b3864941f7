import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStorage, TrustStore, type PinStorage } from '../../web/trust-store.ts';

const A = 'AAAA '.repeat(16).trim();
const B = 'BBBB '.repeat(16).trim();

test('an unknown host is unknown until pinned, then the same fingerprint is the same', () => {
  const store = new TrustStore(new MemoryStorage());
  assert.deepEqual(store.check('localhost:8080', A), { kind: 'unknown' });
  assert.equal(store.pin('localhost:8080', A), true);
  assert.deepEqual(store.check('localhost:8080', A), { kind: 'same' });
});

test('a different fingerprint is a change, and the pinned one is reported for the warning', () => {
  const store = new TrustStore(new MemoryStorage());
  store.pin('localhost:8080', A);
  assert.deepEqual(store.check('localhost:8080', B), { kind: 'changed', pinned: A });
  // Checking does not overwrite: the pin changes only when the person trusts the new key.
  assert.equal(store.pinned('localhost:8080'), A);
  store.pin('localhost:8080', B);
  assert.deepEqual(store.check('localhost:8080', B), { kind: 'same' });
});

test('pins are per host, port included', () => {
  const store = new TrustStore(new MemoryStorage());
  store.pin('localhost:8080', A);
  assert.deepEqual(store.check('localhost:9090', B), { kind: 'unknown' });
  assert.deepEqual(store.check('127.0.0.1:8080', A), { kind: 'unknown' });
});

test('pins survive a new store over the same storage (a reload)', () => {
  const storage = new MemoryStorage();
  new TrustStore(storage).pin('h', A);
  assert.deepEqual(new TrustStore(storage).check('h', B), { kind: 'changed', pinned: A });
});

test('a damaged stored value counts as a change, never as unknown', () => {
  const storage = new MemoryStorage();
  storage.setItem('wirechat.pin.h', 'garbage');
  assert.deepEqual(new TrustStore(storage).check('h', A), { kind: 'changed', pinned: 'garbage' });
});

test('storage that throws still keeps the pin for this visit', () => {
  const broken: PinStorage = {
    getItem: () => {
      throw new Error('denied');
    },
    setItem: () => {
      throw new Error('quota');
    },
    removeItem: () => {
      throw new Error('denied');
    },
  };
  const store = new TrustStore(broken);
  assert.deepEqual(store.check('h', A), { kind: 'unknown' });
  assert.equal(store.pin('h', A), false);
  assert.deepEqual(store.check('h', B), { kind: 'changed', pinned: A });
  store.forget('h');
  assert.deepEqual(store.check('h', B), { kind: 'unknown' });
});
