/**
 * Property tests of the frame and body parsers: whatever arrives, a parser either returns a frame that
 * re-serialises and re-parses to the same value (and holds exactly what arrived), or throws a WirechatError,
 * never another exception type that would escape the session's error handling as a 1011.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WirechatError } from '../../shared/errors.ts';
import {
  parseClientBody,
  parseClientFrame,
  parseServerBody,
  parseServerFrame,
  PROTOCOL_VERSION,
} from '../../shared/protocol.ts';

const RUNS = { numRuns: 400 };

/** The JSON value as JSON sees it: -0 becomes 0, and so on. */
const normal = (value: unknown): unknown => JSON.parse(JSON.stringify(value)) as unknown;

/**
 * Parses `text`; if that succeeds, the result must hold exactly the input's value, and serialising and parsing
 * it again must give the same value. If it fails, the failure must be a WirechatError. Returns whether it parsed.
 */
function holds(parse: (text: string) => unknown, text: string): boolean {
  let frame: unknown;
  try {
    frame = parse(text);
  } catch (error) {
    assert.ok(error instanceof WirechatError, `${text.slice(0, 200)} threw ${String(error)}`);
    return false;
  }
  const again = JSON.stringify(frame);
  assert.deepEqual(normal(frame), normal(JSON.parse(text)), 'the frame holds exactly what arrived');
  assert.deepEqual(normal(parse(again)), normal(frame), 're-serialised, it parses to the same value');
  return true;
}

function bodyHolds(parse: (value: unknown) => unknown, value: unknown): boolean {
  let body: unknown;
  try {
    body = parse(value);
  } catch (error) {
    assert.ok(error instanceof WirechatError, `${JSON.stringify(value)?.slice(0, 200)} threw ${String(error)}`);
    return false;
  }
  assert.deepEqual(normal(body), normal(value));
  assert.deepEqual(normal(parse(normal(body))), normal(body));
  return true;
}

// ---- near-valid values: each field either valid or drawn from trouble -----------------------------------------

const base64url = (maxLength: number) =>
  fc.string({
    unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('')),
    maxLength,
  });
const trouble: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    -1,
    -0,
    1.5,
    2 ** 53,
    1e308,
    '',
    ' ',
    '=',
    'A=A',
    'AA==',
    '+/',
    '\u0000',
    '\u001b[2J',
    '\u202e',
    'x'.repeat(5000),
  ),
  fc.string({ maxLength: 30 }),
);
const maybe = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 12, arbitrary: valid }, { weight: 1, arbitrary: trouble });
/** null three times in four. */
const rarely = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });
const name = fc.oneof(
  fc.constantFrom('alice', 'bob', ' carol ', '\u00e9l\u00e8ve', '\u{1f600}'),
  fc.string({ minLength: 1, maxLength: 26 }),
);
const lineText = fc.oneof(
  fc.constantFrom('hi', 'gr\u00fc\u00dfe \u2713', '\u20ac'.repeat(1366)),
  fc.string({ minLength: 1, maxLength: 40 }),
);
const uint = fc.oneof(fc.nat(), fc.constantFrom(0, Number.MAX_SAFE_INTEGER));

/** A record of fields, then perhaps one dropped and perhaps one added. */
function shaped(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Record<string, unknown>> {
  const keys = Object.keys(fields);
  return fc
    .tuple(
      fc.record(fields),
      rarely(fc.constantFrom(...keys)),
      rarely(fc.tuple(fc.constantFrom('extra', 'Type', 'seq', 'body', '__proto__', 'kind'), trouble)),
    )
    .map(([obj, drop, add]) => {
      const out: Record<string, unknown> = { ...obj };
      if (drop !== null) delete out[drop];
      if (add !== null)
        Object.defineProperty(out, add[0], { value: add[1], enumerable: true, writable: true, configurable: true });
      return out;
    });
}

const clientBody = fc.oneof(
  shaped({ kind: maybe(fc.constant('line')), id: maybe(uint), text: maybe(lineText) }),
  shaped({ kind: maybe(fc.constant('bye')), word: maybe(fc.constantFrom('EXIT', 'END', 'exit\u001b')) }),
);
const serverBody = fc.oneof(
  shaped({
    kind: maybe(fc.constant('line')),
    from: maybe(name),
    text: maybe(lineText),
    at: maybe(uint),
    direct: maybe(fc.boolean()),
  }),
  shaped({
    kind: maybe(fc.constant('receipt')),
    id: maybe(uint),
    status: maybe(fc.constantFrom('delivered', 'failed')),
    reason: maybe(fc.string({ maxLength: 20 })),
  }),
  shaped({
    kind: maybe(fc.constant('presence')),
    at: maybe(uint),
    changes: maybe(
      fc.array(
        fc.oneof(
          shaped({ change: maybe(fc.constant('joined')), name: maybe(name) }),
          shaped({
            change: maybe(fc.constant('left')),
            name: maybe(name),
            reason: maybe(fc.string({ maxLength: 20 })),
          }),
        ),
        { maxLength: 22 },
      ),
    ),
    moreJoined: maybe(uint),
    moreLeft: maybe(uint),
  }),
  shaped({ kind: maybe(fc.constant('end')), reason: maybe(fc.string({ maxLength: 20 })) }),
);
const record = shaped({
  type: maybe(fc.constant('record')),
  seq: maybe(uint),
  token: maybe(base64url(200).map((t) => t + '='.repeat((4 - (t.length % 4)) % 4))),
  mac: maybe(base64url(43)),
});
const clientFrame = fc.oneof(
  shaped({
    type: maybe(fc.constant('hello')),
    version: maybe(fc.constant(1)),
    name: maybe(name),
    publicKey: maybe(base64url(600)),
    nonce: maybe(base64url(43)),
    acceptPlain: maybe(fc.boolean()),
  }),
  record,
  shaped({ type: maybe(fc.constant('plain')), seq: maybe(uint), body: maybe(clientBody) }),
);
const serverFrame = fc.oneof(
  shaped({
    type: maybe(fc.constant('welcome')),
    version: maybe(fc.constant(1)),
    mode: maybe(fc.constantFrom('secure', 'plain')),
    name: maybe(name),
    sessionId: maybe(base64url(22)),
    nonce: maybe(base64url(43)),
    time: maybe(uint),
    serverKey: maybe(base64url(122)),
    wrappedKeys: maybe(base64url(512)),
    signature: maybe(base64url(86)),
  }),
  record,
  shaped({ type: maybe(fc.constant('plain')), seq: maybe(uint), body: maybe(serverBody) }),
);

describe('frame parsers never throw anything but WirechatError', () => {
  test('any JSON value, as a page frame and as a server frame', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        holds(parseClientFrame, text);
        holds(parseServerFrame, text);
      }),
      RUNS,
    );
  });

  for (const [side, frames, parse] of [
    ['page', clientFrame, parseClientFrame],
    ['server', serverFrame, parseServerFrame],
  ] as const) {
    test(`near-valid ${side} frames: valid ones round-trip, the rest are WirechatErrors`, () => {
      let parsed = 0;
      fc.assert(
        fc.property(frames, (value) => {
          if (holds(parse, JSON.stringify(value))) parsed++;
        }),
        RUNS,
      );
      assert.ok(parsed > 20, `only ${parsed} of ${RUNS.numRuns} parsed: the generator no longer reaches valid frames`);
    });
  }

  test('random strings, and JSON-like soup, never throw anything but a WirechatError', () => {
    const soup = fc
      .array(
        fc.constantFrom(
          '{',
          '}',
          '[',
          ']',
          ',',
          ':',
          '"type"',
          '"hello"',
          '"record"',
          '"plain"',
          '"seq"',
          '0',
          '-0',
          '1e999',
          '"\\ud800"',
          'null',
          ' ',
          '"',
        ),
        { maxLength: 30 },
      )
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), soup),
        (text) => {
          holds(parseClientFrame, text);
          holds(parseServerFrame, text);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('a frame text whose JSON stays valid when one character is changed or removed', () => {
    fc.assert(
      fc.property(clientFrame, fc.nat(), fc.string({ maxLength: 1 }), (value, at, replacement) => {
        const text = JSON.stringify(value);
        const i = at % Math.max(1, text.length);
        const mutated = text.slice(0, i) + replacement + text.slice(i + 1);
        holds(parseClientFrame, mutated);
        holds(parseServerFrame, mutated);
      }),
      RUNS,
    );
  });
});

describe('hostile nesting', () => {
  // 10,000 levels fit in 20 KB, well inside the 64 KiB a server accepts: enough to overflow the stack of any
  // recursive walk (JSON.stringify of the value in an error message, say), which would escape as a RangeError.
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const deepObject = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);

  test('deeply nested values in any field give a WirechatError, never a RangeError', () => {
    for (const nested of [deep(10_000), deepObject(10_000)]) {
      for (const text of [
        nested,
        `{"type":${nested}}`,
        `{"type":"hello","version":${nested},"name":"a","publicKey":"","nonce":"","acceptPlain":false}`,
        `{"type":"record","seq":${nested},"token":"","mac":""}`,
        `{"type":"plain","seq":0,"body":${nested}}`,
        `{"type":"plain","seq":0,"body":{"kind":${nested}}}`,
        `{"type":"plain","seq":0,"body":{"kind":"line","id":0,"text":${nested}}}`,
        `{"type":"welcome","version":${PROTOCOL_VERSION},"mode":${nested}}`,
        `{"type":"plain","seq":0,"body":{"kind":"presence","at":0,"changes":[${nested}],"moreJoined":0,"moreLeft":0}}`,
      ]) {
        holds(parseClientFrame, text);
        holds(parseServerFrame, text);
      }
    }
  });
});

describe('body parsers never throw anything but WirechatError', () => {
  test('any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        bodyHolds(parseClientBody, value);
        bodyHolds(parseServerBody, value);
      }),
      RUNS,
    );
  });

  test('near-valid bodies of each direction', () => {
    let parsed = 0;
    fc.assert(
      fc.property(clientBody, serverBody, (c, s) => {
        if (bodyHolds(parseClientBody, c)) parsed++;
        if (bodyHolds(parseServerBody, s)) parsed++;
        bodyHolds(parseClientBody, s);
        bodyHolds(parseServerBody, c);
      }),
      RUNS,
    );
    assert.ok(parsed > 40, `only ${parsed} bodies parsed`);
  });
});
