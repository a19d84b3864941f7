/**
 * shared/json-text.ts: bodyJson is JSON.stringify, for every input. flatJson takes the flat plain objects it can
 * write and leaves everything else to JSON.stringify; either way the text must be JSON.stringify's, byte for byte.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bodyJson, flatJson } from '../../shared/json-text.ts';

/** Same text as JSON.stringify, or the same error thrown. */
function assertSameAsJson(value: unknown): void {
  let expected: string | undefined;
  let error: unknown;
  try {
    expected = JSON.stringify(value);
  } catch (thrown) {
    error = thrown;
  }
  if (error !== undefined) {
    assert.throws(
      () => bodyJson(value),
      (thrown: unknown) => (thrown as Error).name === (error as Error).name,
    );
    return;
  }
  assert.equal(bodyJson(value), expected);
  const flat = flatJson(value);
  if (flat !== undefined) assert.equal(flat, expected);
}

/** Every UTF-16 code unit: control characters, '"', '\\', lone and paired surrogates, U+2028, non-ASCII. */
const anyText = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary-ascii' }),
  fc.string({
    unit: fc.constantFrom('a', '"', '\\', '\u0000', '\u001f', '\u007f', '\u2028', '\ud800', '\udc00', 'é', '😀'),
  }),
  fc.string(),
);
const anyNumber = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(-0, NaN, Infinity, -Infinity, 1e21, 5e-324));
const flatValue = fc.oneof(anyText, anyNumber, fc.boolean(), fc.constant(null), fc.constant(undefined));
const anyKey = fc.oneof(
  anyText,
  fc.constantFrom('0', '1', '10', '4294967295', '-1', '01', 'kind', 'text', '__proto__'),
);

describe('bodyJson: exactly JSON.stringify', () => {
  test('flat objects of any keys and values (property)', () => {
    fc.assert(
      fc.property(fc.dictionary(anyKey, flatValue, { maxKeys: 12, noNullPrototype: true }), (value) =>
        assertSameAsJson(value),
      ),
      { numRuns: 3000 },
    );
  });

  test('flat objects whose strings need no escaping: flatJson writes them itself (property)', () => {
    const clean = fc.string({
      unit: fc.constantFrom('a', 'Z', '0', ' ', '~', '\u007f', 'é', '\u2028', '中', "'", '/'),
    });
    fc.assert(
      fc.property(
        fc.dictionary(clean, fc.oneof(clean, anyNumber, fc.boolean(), fc.constant(null), fc.constant(undefined)), {
          noNullPrototype: true,
        }),
        (value) => {
          assert.equal(flatJson(value), JSON.stringify(value));
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('any JSON value, nested, arrays, bigints (property)', () => {
    fc.assert(
      fc.property(
        fc.anything({ withBigInt: true, withBoxedValues: true, withNullPrototype: true, withObjectString: true }),
        (value) => assertSameAsJson(value),
      ),
      { numRuns: 2000 },
    );
  });

  test("the relay's bodies: lines, receipts, an end, presence", () => {
    const bodies: unknown[] = [
      { kind: 'line', from: 'alice', id: 1, text: 'x'.repeat(255) },
      { kind: 'line', from: 'bob', text: 'hi', at: 1733097600123, direct: true, n: 3, late: undefined },
      { kind: 'receipt', id: 7, status: 'ok', n: 2 },
      { kind: 'receipt', id: 8, status: 'refused', reason: 'too long: "quoted" and \\ and \n', n: 0 },
      { kind: 'end', code: 'BYE', reason: 'bye' },
      { kind: 'presence', at: 1, changes: [{ name: 'alice', joined: true }], moreJoined: 0, moreLeft: 0 },
      { kind: 'line', from: 'é中😀', id: 2, text: 'non-ASCII é 中 and a pair 😀' },
      { kind: 'line', from: 'x', id: 3, text: 'a lone \ud800 surrogate and \udfff' },
    ];
    for (const body of bodies) assertSameAsJson(body);
    assert.equal(flatJson(bodies[0]), JSON.stringify(bodies[0]), 'a line body is written by flatJson itself');
  });

  test('control characters, one at a time, and large strings', () => {
    for (let unit = 0; unit < 0x80; unit++) assertSameAsJson({ text: `a${String.fromCharCode(unit)}b` });
    for (const unit of [0xd7ff, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xe000, 0xfffe, 0xffff])
      assertSameAsJson({ text: String.fromCharCode(unit), [String.fromCharCode(unit)]: 1 });
    assertSameAsJson({ text: 'x'.repeat(1 << 20) });
    assertSameAsJson({ text: 'é'.repeat(100_000) + '\u0001' });
    assertSameAsJson({ text: 'y'.repeat(70_000) + '\ud800' });
  });

  test('what JSON.stringify treats specially is left to it', () => {
    class Line {
      kind = 'line';
    }
    const arrayProxy = new Proxy([1, 2], { getPrototypeOf: () => Object.prototype });
    const cases: unknown[] = [
      undefined,
      null,
      'text',
      42,
      true,
      [1, 'a'],
      new Line(),
      Object.create(null) as unknown,
      Object.assign(Object.create(null) as object, { a: 1 }),
      new String('boxed'),
      new Number(3),
      new Date(0),
      { toJSON: () => ({ other: 1 }) },
      { toJSON: 'not callable', a: 1 },
      { nested: { a: 1 } },
      { list: [1] },
      { f: () => 1, s: Symbol('s'), u: undefined, a: 'kept' },
      { [Symbol('key')]: 1, a: 2 },
      { 2: 'b', 1: 'a', z: 0, 0: 'first' },
      arrayProxy,
      new Proxy({ a: 1, b: 'x' }, {}),
    ];
    for (const value of cases) assertSameAsJson(value);
    assert.equal(flatJson(arrayProxy), undefined);
    assert.equal(flatJson({ toJSON: 'not callable', a: 1 }), undefined);
    assert.throws(() => bodyJson({ big: 1n }), TypeError);
  });

  test('a toJSON on Object.prototype is honoured, as JSON.stringify honours it', () => {
    const proto = Object.prototype as { toJSON?: unknown };
    proto.toJSON = () => 'from the prototype';
    try {
      assertSameAsJson({ kind: 'line', text: 'x' });
      assert.equal(bodyJson({ kind: 'line' }), '"from the prototype"');
    } finally {
      delete proto.toJSON;
    }
  });

  test('a getter is read once and its value written where JSON.stringify writes it', () => {
    let reads = 0;
    const body = {
      kind: 'line',
      get text() {
        reads++;
        return 'read';
      },
    };
    assert.equal(bodyJson(body), JSON.stringify(body));
    assert.equal(reads, 2, 'once by bodyJson, once by JSON.stringify');
  });
});
