/**
 * shared/bytes.ts: base64url (RFC 4648 §5) against the RFC's §10 vectors and Node's own codec, its strictness
 * (one spelling per byte string), constantTimeEqual, u64be, strict UTF-8 and the reused Scratch.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  base64UrlLength,
  concat,
  constantTimeEqual,
  fromBase64Url,
  fromBase64UrlJs,
  fromAscii,
  fromBase64UrlPooled,
  fromUtf8,
  randomBytes,
  randomPublicBytes,
  readU64be,
  Scratch,
  SCRATCH_LIMIT,
  toBase64Url,
  toBase64UrlJs,
  toHex,
  u64be,
  utf8,
  utf8Length,
  writeBase64Url,
  writeRandomPublicBytes,
} from '../../shared/bytes.ts';
import { WirechatError } from '../../shared/errors.ts';

const RUNS = { numRuns: 300 };
const isBadBase64 = (error: unknown) => error instanceof WirechatError && error.code === 'BAD_BASE64';

/**
 * The same vectors for both codecs: on Node, toBase64Url and fromBase64Url use Node's own codec (fromBase64Url only
 * for text it shows is canonical), and the page runs the JS one.
 */
const CODECS = [
  { codec: "Node's codec (the server's)", toBase64Url, fromBase64Url },
  { codec: "Node's codec into its pool (the server's Fernet)", toBase64Url, fromBase64Url: fromBase64UrlPooled },
  { codec: "the JS codec (the page's)", toBase64Url: toBase64UrlJs, fromBase64Url: fromBase64UrlJs },
];

for (const { codec, toBase64Url, fromBase64Url } of CODECS)
  describe(`base64url, ${codec}`, () => {
    // RFC 4648 §10. None of these uses characters 62 or 63, so base64 and base64url spell them alike.
    const RFC_VECTORS: [string, string][] = [
      ['', ''],
      ['f', 'Zg=='],
      ['fo', 'Zm8='],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg=='],
      ['fooba', 'Zm9vYmE='],
      ['foobar', 'Zm9vYmFy'],
    ];

    for (const [plain, encoded] of RFC_VECTORS) {
      test(`RFC 4648 §10: "${plain}" is "${encoded}" padded, "${encoded.replace(/=/g, '')}" unpadded`, () => {
        assert.equal(toBase64Url(utf8(plain), true), encoded);
        assert.equal(toBase64Url(utf8(plain)), encoded.replace(/=/g, ''));
        assert.equal(fromUtf8(fromBase64Url(encoded)), plain);
        assert.equal(fromUtf8(fromBase64Url(encoded.replace(/=/g, ''))), plain);
      });
    }

    test('characters 62 and 63 are "-" and "_" (base64\'s "+" and "/" are refused)', () => {
      // Standard base64: fb ff bf = "+/+/" would be refused; fb ef be = "++++", ff ff ff = "////".
      assert.equal(toBase64Url(Uint8Array.of(0xfb, 0xef, 0xbe)), '----');
      assert.equal(toBase64Url(Uint8Array.of(0xff, 0xff, 0xff)), '____');
      assert.equal(toBase64Url(Uint8Array.of(0xfb, 0xff), true), '-_8=');
      assert.deepEqual(fromBase64Url('-_8='), Uint8Array.of(0xfb, 0xff));
      assert.deepEqual(fromBase64Url('-_8'), Uint8Array.of(0xfb, 0xff));
      assert.throws(() => fromBase64Url('+/8='), isBadBase64);
      assert.throws(() => fromBase64Url('++++'), isBadBase64);
      assert.throws(() => fromBase64Url('////'), isBadBase64);
    });

    test("encodes as Node's base64url does, padded only on request, and decodes back (property)", () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
          const unpadded = toBase64Url(bytes);
          const padded = toBase64Url(bytes, true);
          assert.equal(unpadded, Buffer.from(bytes).toString('base64url'));
          assert.ok(!unpadded.includes('='));
          assert.equal(padded.length % 4, 0);
          assert.equal(padded.replace(/=+$/, ''), unpadded);
          assert.deepEqual(fromBase64Url(unpadded), bytes);
          assert.deepEqual(fromBase64Url(padded), bytes);
        }),
        RUNS,
      );
    });

    test('refuses characters outside the URL-safe alphabet', () => {
      for (const bad of ['Zm9v!', 'Zm 9v', 'Zm9v\n', 'Zm.v', 'Zm9vYé==', 'Zm\u00009v', 'Zm9v\uff21', 'Zm9+', 'Zm9/']) {
        assert.throws(() => fromBase64Url(bad), isBadBase64, JSON.stringify(bad));
      }
    });

    test('refuses wrong padding: inside, too much, or on a length that is not a multiple of 4', () => {
      for (const bad of ['Zg==Zg==', 'Z=g=', 'Zg===', 'Zg=', 'Zm8==', 'Zm9v=', '=', '==', '====', 'Zm9vYg=']) {
        assert.throws(() => fromBase64Url(bad), isBadBase64, JSON.stringify(bad));
      }
    });

    test('refuses an impossible length (one character over a multiple of 4)', () => {
      for (const bad of ['Z', 'Zm9vY', 'Zm9vYmFyZ']) assert.throws(() => fromBase64Url(bad), isBadBase64, bad);
    });

    test('refuses stray bits in the last character, so one byte string has one spelling', () => {
      // "f" is Zg: Z = 011001, g = 10|0000. Zh, Zi, ..., Zv set one of the four spare bits.
      assert.deepEqual(fromBase64Url('Zg'), utf8('f'));
      for (const bad of ['Zh', 'Zp', 'Zv', 'Zh==', 'Zm9', 'Zm-', 'Zm9=']) {
        assert.throws(() => fromBase64Url(bad), isBadBase64, bad);
      }
    });

    test('whatever it accepts is the canonical spelling of what it returns (property)', () => {
      const alphabet = fc.constantFrom(...'AZaz09-_=+/ g!Q'.split(''));
      fc.assert(
        fc.property(fc.oneof(fc.string({ unit: alphabet, maxLength: 12 }), fc.string({ maxLength: 12 })), (text) => {
          let bytes: Uint8Array;
          try {
            bytes = fromBase64Url(text);
          } catch (error) {
            assert.ok(isBadBase64(error), `not BAD_BASE64: ${String(error)}`);
            return;
          }
          assert.equal(toBase64Url(bytes, text.includes('=')), text);
        }),
        { numRuns: 500 },
      );
    });
  });

describe('base64url: the two codecs', () => {
  const outcome = (decode: (text: string) => Uint8Array, text: string) => {
    try {
      return { bytes: [...decode(text)] };
    } catch (error) {
      return { error: error instanceof WirechatError ? `${error.code}: ${error.message}` : String(error) };
    }
  };

  test('accept and refuse the same texts, with the same bytes and the same errors (property)', () => {
    const alphabet = fc.constantFrom(...'AZaz09-_=+/ g!Qé\u0000'.split(''));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: alphabet, maxLength: 24 }), fc.string({ maxLength: 24 })), (text) => {
        assert.deepEqual(outcome(fromBase64Url, text), outcome(fromBase64UrlJs, text), JSON.stringify(text));
        assert.deepEqual(outcome(fromBase64UrlPooled, text), outcome(fromBase64UrlJs, text), JSON.stringify(text));
      }),
      { numRuns: 2000 },
    );
  });

  test('encode alike, padded or not, and decode a key-sized value alike (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (bytes, pad) => {
        const text = toBase64Url(bytes, pad);
        assert.equal(text, toBase64UrlJs(bytes, pad));
        assert.deepEqual(fromBase64Url(text), fromBase64UrlJs(text));
        assert.deepEqual([...fromBase64UrlPooled(text)], [...fromBase64UrlJs(text)]);
      }),
      RUNS,
    );
  });

  test('encode a view into a larger buffer as its own bytes only', () => {
    const whole = Uint8Array.of(1, 2, 3, 4, 5, 6, 7);
    const view = whole.subarray(2, 6);
    assert.equal(toBase64Url(view), toBase64UrlJs(Uint8Array.of(3, 4, 5, 6)));
  });

  test('decode into a Uint8Array of its own, as the JS codec does', () => {
    const bytes = fromBase64Url('Zm9vYmFy');
    assert.equal(bytes.constructor, Uint8Array);
    assert.equal(bytes.byteOffset, 0);
    assert.equal(bytes.buffer.byteLength, 6);
  });
});

describe('constantTimeEqual', () => {
  test('equal bytes are equal, including empty ones', () => {
    assert.equal(constantTimeEqual(new Uint8Array(0), new Uint8Array(0)), true);
    assert.equal(constantTimeEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 3)), true);
  });

  test('a difference in any position, or in length, is unequal', () => {
    const a = Uint8Array.from({ length: 32 }, (_, i) => i);
    for (let i = 0; i < a.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const b = a.slice();
        b[i]! ^= bit;
        assert.equal(constantTimeEqual(a, b), false, `byte ${i} bit ${bit}`);
      }
    }
    assert.equal(constantTimeEqual(a, a.subarray(0, 31)), false);
    assert.equal(constantTimeEqual(a.subarray(0, 31), a), false);
    assert.equal(constantTimeEqual(a, concat(a, Uint8Array.of(0))), false);
  });

  test('agrees with a plain comparison (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), (a, b) => {
        assert.equal(constantTimeEqual(a, b), toHex(a) === toHex(b) && a.length === b.length);
      }),
      RUNS,
    );
  });
});

describe('u64be', () => {
  const cases: [number, string][] = [
    [0, '0000000000000000'],
    [1, '0000000000000001'],
    [0xff, '00000000000000ff'],
    [2 ** 32 - 1, '00000000ffffffff'],
    [2 ** 32, '0000000100000000'],
    [1767268803, '00000000695661c3'],
    [Number.MAX_SAFE_INTEGER, '001fffffffffffff'],
  ];
  for (const [value, hex] of cases) {
    test(`${value} is ${hex}, and reads back`, () => {
      assert.equal(toHex(u64be(value)), hex);
      assert.equal(readU64be(u64be(value), 0), value);
      assert.equal(readU64be(concat(Uint8Array.of(9, 9), u64be(value)), 2), value);
    });
  }

  test('refuses what is not a u64 it can write exactly', () => {
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY, -0.5]) {
      assert.throws(() => u64be(bad), RangeError, String(bad));
    }
  });

  test('readU64be reads any safe integer at any offset, and refuses to read past the end (RangeError)', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.uint8Array({ maxLength: 9 }), (n, before) => {
        const bytes = concat(before, u64be(n), Uint8Array.of(0xff));
        assert.equal(readU64be(bytes, before.length), n);
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        assert.equal(readU64be(bytes, before.length), Number(view.getBigUint64(before.length)));
      }),
      RUNS,
    );
    // Above 2^53 the value is the nearest double, as the DataView's sum of two words gave it.
    assert.equal(readU64be(new Uint8Array(8).fill(0xff), 0), 2 ** 64);
    for (const [length, offset] of [
      [8, 1],
      [7, 0],
      [16, -1],
      [16, 0.5],
      [0, 0],
    ] as const) {
      assert.throws(() => readU64be(new Uint8Array(length), offset), RangeError, `${offset} of ${length}`);
    }
  });

  test('agrees with BigInt (property)', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        const view = new DataView(new ArrayBuffer(8));
        view.setBigUint64(0, BigInt(n));
        assert.equal(toHex(u64be(n)), toHex(new Uint8Array(view.buffer)));
      }),
      RUNS,
    );
  });
});

describe('UTF-8', () => {
  test('utf8Length is the length of utf8, for any text, lone surrogates included (property)', () => {
    for (const text of ['', 'a', '\u00e9', '\u2713', '\u{1f600}', '\ud83d', '\ude00', '\ude00\ud83d', 'a\ud83d']) {
      assert.equal(utf8Length(text), utf8(text).length, JSON.stringify(text));
    }
    const units = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: units }), fc.string()), (text) => {
        assert.equal(utf8Length(text), utf8(text).length);
      }),
      { numRuns: 1000 },
    );
  });

  test('encodes and decodes, and refuses invalid UTF-8 as BAD_UTF8 instead of inserting U+FFFD', () => {
    assert.equal(toHex(utf8('gr\u00fc\u00dfe \u2713')), '6772c3bcc39f6520e29c93');
    assert.equal(fromUtf8(utf8('gr\u00fc\u00dfe \u2713')), 'gr\u00fc\u00dfe \u2713');
    for (const bad of [[0xff], [0xc3], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x9c]]) {
      assert.throws(
        () => fromUtf8(Uint8Array.from(bad)),
        (error: unknown) => error instanceof WirechatError && error.code === 'BAD_UTF8',
        toHex(Uint8Array.from(bad)),
      );
    }
  });
});

describe('Scratch', () => {
  test('utf8 gives the bytes utf8 gives, for any text, lone surrogates included, as the buffer grows (property)', () => {
    const scratch = new Scratch();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 3000 }),
          fc.string({ unit: 'grapheme', maxLength: 2000 }),
          fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((unit) => String.fromCharCode(unit)) }),
        ),
        (text) => {
          assert.deepEqual(scratch.utf8(text), utf8(text));
        },
      ),
      RUNS,
    );
    // 3 bytes per unit, past the first 4 KiB: the second pass of encodeInto.
    const wide = '\u2713'.repeat(5000);
    assert.deepEqual(scratch.utf8(wide), utf8(wide));
  });

  test('utf8After: the bytes utf8 gives, after as many bytes left for the caller (property)', () => {
    const scratch = new Scratch();
    fc.assert(
      fc.property(
        fc.nat({ max: 5000 }),
        fc.oneof(fc.string({ maxLength: 3000 }), fc.string({ unit: 'grapheme', maxLength: 2000 })),
        fc.uint8Array({ maxLength: 64 }),
        (offset, text, head) => {
          const view = scratch.utf8After(offset, text);
          assert.equal(view.length, offset + utf8Length(text));
          assert.deepEqual(view.subarray(offset), utf8(text));
          // The caller writes its part into the view, as a record MAC's input is made, and it stays put.
          view.set(head.subarray(0, offset));
          assert.deepEqual(view.subarray(0, Math.min(offset, head.length)), head.subarray(0, offset));
          assert.deepEqual(view.subarray(offset), utf8(text));
        },
      ),
      RUNS,
    );
    // The same offset across a growth: the text lands in the grown buffer, not the old one.
    const small = scratch.utf8After(43, 'a');
    const grown = scratch.utf8After(43, '\u2713'.repeat(4000));
    assert.deepEqual(grown.subarray(43), utf8('\u2713'.repeat(4000)));
    assert.deepEqual(scratch.utf8After(43, 'b').subarray(43), utf8('b'));
    assert.equal(small.length, 44);
  });

  test('base64Url decodes as fromBase64Url does, and refuses what it refuses, with the same code (property)', () => {
    const scratch = new Scratch();
    const answer = (decode: () => Uint8Array): string => {
      try {
        return `bytes ${toHex(decode())}`;
      } catch (error) {
        assert.ok(isBadBase64(error), String(error));
        return 'BAD_BASE64';
      }
    };
    const digits = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ .\u00e9');
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }).map((bytes) => toBase64Url(bytes, true)),
          fc.uint8Array({ maxLength: 400 }).map((bytes) => toBase64Url(bytes)),
          fc.string({ unit: digits, maxLength: 60 }),
        ),
        (text) => {
          assert.equal(
            answer(() => scratch.base64Url(text)),
            answer(() => fromBase64Url(text)),
            JSON.stringify(text),
          );
        },
      ),
      { numRuns: 1000 },
    );
    const tag = new Uint8Array(32).fill(0xab);
    const again = scratch.base64Url(toBase64Url(tag));
    assert.deepEqual(again, tag);
    assert.equal(scratch.base64Url(toBase64Url(tag)), again, 'the same length: the same view');
  });

  test('take gives the length asked for, one buffer reused until a longer one is asked for', () => {
    const scratch = new Scratch();
    const first = scratch.take(10);
    assert.equal(first.length, 10);
    first.set([1, 2, 3]);
    const again = scratch.take(3);
    assert.equal(again.buffer, first.buffer, 'the same buffer');
    assert.deepEqual([...again], [1, 2, 3], 'as it was left');
    const longer = scratch.take(100_000);
    assert.equal(longer.length, 100_000);
    assert.notEqual(longer.buffer, first.buffer);
  });

  test('a call for the length of the last view gets that view again, and a longer one a view of the grown buffer', () => {
    const scratch = new Scratch();
    const first = scratch.take(32);
    assert.equal(scratch.take(32), first, 'the same view, not a new one');
    const ascii = 'a'.repeat(4000);
    assert.deepEqual(scratch.utf8(ascii), utf8(ascii));
    // 2,100 two-byte characters overflow the first 4 KiB: encodeInto stops short and the buffer grows.
    const wide = '\u00e9'.repeat(2100);
    const grown = scratch.utf8(wide);
    assert.deepEqual(grown, utf8(wide));
    assert.notEqual(grown.buffer, first.buffer);
    assert.equal(scratch.take(4200), grown, 'the same length again: the same view, of the grown buffer');
  });
});

describe('Scratch, seventh and eighth passes: base64url twelve bytes at a time, and a limit on what it keeps', () => {
  /** Node's base64url of `bytes`, '='-padded to a group of 4 when `pad`: the reference every writer is held to. */
  const nodeBase64Url = (bytes: Uint8Array, pad: boolean): string => {
    const text = Buffer.from(bytes).toString('base64url');
    return pad ? text.padEnd(Math.ceil(text.length / 4) * 4, '=') : text;
  };

  test("writes Node's base64url for every length 0-300 at offsets 0-7, from and into scratches' last views", () => {
    const source = new Scratch();
    const target = new Scratch();
    for (let length = 0; length <= 300; length++) {
      const bytes = source.take(length);
      bytes.set(randomBytes(length));
      for (let offset = 0; offset < 8; offset++)
        for (const pad of [false, true]) {
          const text = nodeBase64Url(bytes, pad);
          const into = target.take(offset + text.length + 3);
          into.fill(0xaa);
          const end = target.writeBase64Url(into, offset, source, bytes, pad);
          assert.equal(end, offset + text.length);
          assert.equal(fromAscii(into.subarray(offset, end)), text, `${length} bytes at ${offset}`);
          assert.ok(
            into.subarray(0, offset).every((b) => b === 0xaa),
            'nothing written before the text',
          );
          assert.ok(
            into.subarray(end).every((b) => b === 0xaa),
            'nothing written after the text',
          );
        }
    }
  });

  test("writes what writeBase64Url and Node write, at any offset, through scratches' last views or not (property)", () => {
    const source = new Scratch();
    const target = new Scratch();
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.nat({ max: 80 }),
        fc.nat({ max: 40 }),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        (given, offset, slack, pad, lastInto, lastSource) => {
          const length = offset + base64UrlLength(given.length, pad) + slack;
          // The scratches' own last views (twelve bytes at a time), or memory that is not theirs (writeBase64Url).
          let bytes: Uint8Array = given;
          if (lastSource) {
            bytes = source.take(given.length);
            bytes.set(given);
          }
          const into = lastInto ? target.take(length) : new Uint8Array(length);
          into.fill(0xaa);
          const expected = new Uint8Array(length).fill(0xaa);
          const end = writeBase64Url(given, expected, offset, pad);
          assert.equal(target.writeBase64Url(into, offset, source, bytes, pad), end);
          assert.deepEqual(into, expected, 'the text where it goes, and nothing written around it');
          assert.equal(fromAscii(into.subarray(offset, end)), nodeBase64Url(given, pad));
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('writes through the grown buffer once a scratch grows, not a view of the memory it had', () => {
    const source = new Scratch();
    const target = new Scratch();
    for (const length of [30, 5000, 30, 9000, 20000]) {
      const bytes = source.take(length);
      bytes.set(randomBytes(length));
      const text = nodeBase64Url(bytes, true);
      const into = target.take(text.length + length); // grows with the source, at other sizes
      assert.equal(target.writeBase64Url(into, length, source, bytes, true), length + text.length);
      assert.equal(fromAscii(into.subarray(length, length + text.length)), text);
    }
  });

  test('writeBase64Url refuses a view without room for the text, rather than dropping what does not fit', () => {
    const scratch = new Scratch();
    const source = new Scratch();
    const into = scratch.take(10);
    // The scratch's buffer has room past the view, which must not be written: 12 bytes of text at 2, 32 at 0.
    assert.throws(() => scratch.writeBase64Url(into, 2, source, source.take(9), true), RangeError);
    assert.throws(() => scratch.writeBase64Url(into, 0, source, source.take(24)), RangeError);
    assert.ok(
      scratch
        .take(4096)
        .subarray(10)
        .every((b) => b === 0),
      'nothing written past the view',
    );
  });

  test('a call for more than SCRATCH_LIMIT gets memory of its own, and the scratch keeps no more than the limit', () => {
    const scratch = new Scratch();
    const small = scratch.take(100);
    const large = scratch.take(SCRATCH_LIMIT + 1);
    assert.equal(large.length, SCRATCH_LIMIT + 1);
    assert.notEqual(large.buffer, small.buffer);
    assert.equal(scratch.take(100), small, 'the scratch as it was: its own buffer and last view');
    // Text off the wire at any size: the bytes are right, and the buffer kept is never above the limit.
    for (const text of ['\u2713'.repeat(SCRATCH_LIMIT), 'a'.repeat(SCRATCH_LIMIT + 7), 'b'.repeat(SCRATCH_LIMIT)]) {
      assert.deepEqual(scratch.utf8(text), utf8(text));
      assert.deepEqual(scratch.utf8After(43, text).subarray(43), utf8(text));
      assert.ok(scratch.take(8).buffer.byteLength <= SCRATCH_LIMIT);
    }
    const base64 = toBase64Url(new Uint8Array(SCRATCH_LIMIT + 3).fill(7));
    assert.deepEqual(scratch.base64Url(base64), new Uint8Array(SCRATCH_LIMIT + 3).fill(7));
    assert.ok(scratch.take(8).buffer.byteLength <= SCRATCH_LIMIT);
  });
});

describe('public random bytes', () => {
  test('writeRandomPublicBytes writes fresh bytes in place and nothing around them', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 600; i++) {
      // 600 x 16 bytes: more than two of the pool's 4 KiB fills.
      const out = new Uint8Array(20).fill(0xaa);
      writeRandomPublicBytes(out, 2, 16);
      assert.deepEqual([out[0], out[1], out[18], out[19]], [0xaa, 0xaa, 0xaa, 0xaa]);
      const value = toHex(out.subarray(2, 18));
      assert.ok(!seen.has(value), 'never the same 16 bytes twice');
      seen.add(value);
    }
    assert.notEqual(toHex(randomPublicBytes(16)), toHex(randomPublicBytes(16)));
  });

  test('writeRandomPublicBytes refuses a place outside the array, or more than 256 bytes', () => {
    assert.throws(() => writeRandomPublicBytes(new Uint8Array(16), 1, 16), RangeError);
    assert.throws(() => writeRandomPublicBytes(new Uint8Array(16), -1, 4), RangeError);
    assert.throws(() => writeRandomPublicBytes(new Uint8Array(300), 0, 257), RangeError);
  });
});

describe('base64url into memory of its own or into the pool', () => {
  test("fromBase64Url's bytes own their memory; fromBase64UrlPooled's share Node's pool, for bytes not kept", () => {
    const text = toBase64Url(
      Uint8Array.from({ length: 363 }, (_, i) => i & 0xff),
      true,
    );
    const own = fromBase64Url(text);
    // A buffer of exactly its bytes: keeping them keeps nothing else.
    assert.equal(own.byteOffset, 0);
    assert.equal(own.buffer.byteLength, own.byteLength);
    const pooled = fromBase64UrlPooled(text);
    assert.deepEqual([...pooled], [...own]);
    assert.equal(pooled.buffer.byteLength, Buffer.poolSize, "a view of Node's shared pool");
  });
});
