/**
 * shared/wire-read.ts: the lenient reading that the inspector and the terminal tools share. It reads as far as a
 * frame goes and never throws, whatever comes off the wire.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createFernet, generateFernetKey } from '../../shared/fernet.ts';
import { utf8 } from '../../shared/bytes.ts';
import { isP256Spki, looseBytes, readFrame, readToken, route } from '../../shared/wire-read.ts';

describe('reading the wire leniently', () => {
  it('reads a frame as far as it goes: JSON or not, an object or not, its type and seq when they have the right type', () => {
    assert.deepEqual(readFrame('{"type":"record","seq":3,"token":"x"}'), {
      json: true,
      fields: { type: 'record', seq: 3, token: 'x' },
      type: 'record',
      seq: 3,
    });
    assert.deepEqual(readFrame('{"type":7,"seq":"3"}'), {
      json: true,
      fields: { type: 7, seq: '3' },
      type: '?',
      seq: undefined,
    });
    assert.deepEqual(readFrame('[1,2]'), { json: true, fields: undefined, type: '?', seq: undefined });
    assert.deepEqual(readFrame('null'), { json: true, fields: undefined, type: '?', seq: undefined });
    assert.deepEqual(readFrame('{"type":'), { json: false, fields: undefined, type: '?', seq: undefined });
  });

  it('never throws on any text (fast-check)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (data) => {
        const frame = readFrame(data);
        assert.equal(typeof frame.type, 'string');
      }),
    );
  });

  it('reads base64url fields, and nothing else', () => {
    assert.deepEqual(looseBytes('AAEC'), Uint8Array.of(0, 1, 2));
    for (const bad of ['AA+C', 'A', 7, null, undefined, ['AAEC']])
      assert.equal(looseBytes(bad), undefined, String(bad));
  });

  it("takes a token apart into the Fernet spec's parts, or says why it cannot with shared/fernet.ts's code", async () => {
    const fernet = await createFernet(generateFernetKey());
    const token = await fernet.encrypt(utf8('twenty bytes of text'), { time: 1_800_000_000 });
    const anatomy = readToken(token);
    assert.ok(anatomy.readable);
    assert.deepEqual(
      anatomy.parts.map((p) => [p.key, p.bytes]),
      [
        ['version', 1],
        ['timestamp', 8],
        ['iv', 16],
        ['ciphertext', 32],
        ['hmac', 32],
      ],
    );
    assert.equal(anatomy.bytes, 1 + 8 + 16 + 32 + 32);
    assert.equal(anatomy.token.timestamp, 1_800_000_000);
    assert.equal((readToken('gAAA!!') as { code?: string }).code, 'FERNET_BAD_BASE64');
    assert.match((readToken('gAAAAA') as { code?: string }).code ?? '', /^FERNET_/);
    assert.deepEqual(readToken(42), { readable: false, code: undefined, why: 'it is not a string' });
  });

  it('says each direction in one set of words, with the arrow the place showing it uses', () => {
    assert.equal(route('c2s'), 'page → server');
    assert.equal(route('s2c', '->'), 'server -> page');
  });

  it('knows a P-256 SPKI by its fixed start', async () => {
    const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
    const spki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey));
    assert.equal(isP256Spki(spki), true);
    assert.equal(isP256Spki(spki.subarray(1)), false);
    const other = Uint8Array.from(spki);
    other[20]! ^= 1;
    assert.equal(isP256Spki(other), false);
  });
});
