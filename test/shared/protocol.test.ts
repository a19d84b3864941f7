/**
 * shared/protocol.ts: every frame and body parser. Valid ones come back as they went in; each kind of malformed
 * input is refused with its own code (never merely "some error"), and names and lines are held to the
 * character and length rules of docs/protocol.md §3.1.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WirechatError, type ErrorCode } from '../../shared/errors.ts';
import { throwsWith } from '../helpers/expect-error.ts';
import {
  checkLine,
  checkName,
  isEndWord,
  LIMITS,
  parseClientBody,
  parseClientFrame,
  parseServerBody,
  parseServerFrame,
  PROTOCOL_VERSION,
  type ClientBody,
  type ClientFrame,
  type ServerBody,
  type ServerFrame,
} from '../../shared/protocol.ts';
import { normalizeName } from '../../shared/names.ts';

const B43 = 'A'.repeat(42) + 'E'; // 43 characters: an unpadded 32-byte value
const TOKEN =
  'gAAAAABpVmHDwMHCw8TFxsfIycrLzM3Oz8la8ZrSTmmzo-10bh7leRLTrvqm3PQkMb5zRogNkMQsVxkCaIQxJZBEM_73QmqzZ5ttbkwwZMa92XllLRzimEUN5_ywB9icv3JbRAdq0DfV0glPGczgDRWvVlL6zuUwFA==';

const hello = {
  type: 'hello',
  version: PROTOCOL_VERSION,
  name: 'alice',
  publicKey: 'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA',
  nonce: B43,
  acceptPlain: false,
  resume: false,
} as const;
const welcome = {
  type: 'welcome',
  version: PROTOCOL_VERSION,
  mode: 'secure',
  name: 'alice-2',
  sessionId: 'QEFCQ0RFRkdISUpLTE1OTw',
  nonce: B43,
  time: 1767268800123,
  serverKey: 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE',
  wrappedKeys: 'AAEC',
  signature: 'A'.repeat(86),
} as const;
const record = { type: 'record', seq: 7, token: TOKEN, mac: B43 } as const;

const clientBodies: ClientBody[] = [
  { kind: 'line', id: 0, text: 'hello' },
  { kind: 'line', id: Number.MAX_SAFE_INTEGER, text: 'gr\u00fc\u00dfe \u2713 \u{1f600}' },
  { kind: 'bye', word: 'EXIT' },
  { kind: 'resume', secret: 'WzEsImEiXQ.AAAAAAAAAAAAAAAAAAAAAA', epoch: 'AAAAAAAAAAAAAAAA', last: 41 },
];
const serverBodies: ServerBody[] = [
  { kind: 'line', from: 'console', text: 'hi', at: 1767268800123, direct: false, n: 1, late: false },
  { kind: 'line', from: 'console', text: 'just you', at: 0, direct: true, n: 2, late: true },
  { kind: 'receipt', id: 3, status: 'delivered', reason: '', n: 7 },
  { kind: 'receipt', id: 4, status: 'failed', reason: 'not sent: at most 20 lines a second', n: 0 },
  { kind: 'seat', secret: 'WzEsImEiXQ.AAAAAAAAAAAAAAAAAAAAAA', epoch: 'AAAAAAAAAAAAAAAA', last: 0 },
  { kind: 'resumed', name: 'ann', recovered: true, reason: '', gone: 0, replayed: 3 },
  { kind: 'resumed', name: 'ann-2', recovered: false, reason: 'trimmed', gone: 12, replayed: 0 },
  { kind: 'presence', at: 1, changes: [{ change: 'joined', name: 'bob' }], moreJoined: 0, moreLeft: 0 },
  {
    kind: 'presence',
    at: 2,
    changes: [
      { change: 'left', name: 'bob', reason: 'left' },
      { change: 'joined', name: 'bob' },
    ],
    moreJoined: 40,
    moreLeft: 3,
  },
  { kind: 'presence', at: 3, changes: [], moreJoined: 1, moreLeft: 0 },
  { kind: 'end', code: 'CHAT_ENDED', reason: 'The server operator ended the chat (END)' },
  { kind: 'end', code: 'LIMIT_RATE', reason: 'more than 20 lines a second, for too long' },
];

const clientFrames: ClientFrame[] = [
  hello,
  { ...hello, acceptPlain: true, name: '\u00e9l\u00e8ve \u{1f600}' },
  record,
  ...clientBodies.map((body, seq) => ({ type: 'plain' as const, seq, body })),
];
const serverFrames: ServerFrame[] = [
  welcome,
  { ...welcome, mode: 'plain', wrappedKeys: '' },
  record,
  ...serverBodies.map((body, seq) => ({ type: 'plain' as const, seq, body })),
];

function refused(parse: (data: string) => unknown, data: string, code: ErrorCode): void {
  throwsWith(() => parse(data), code, data.slice(0, 120));
}
const clientRefuses = (value: unknown, code: ErrorCode) => refused(parseClientFrame, JSON.stringify(value), code);
const serverRefuses = (value: unknown, code: ErrorCode) => refused(parseServerFrame, JSON.stringify(value), code);
const without = (obj: object, key: string) => Object.fromEntries(Object.entries(obj).filter(([k]) => k !== key));

describe('valid frames round-trip', () => {
  for (const frame of clientFrames) {
    test(`page -> server: ${JSON.stringify(frame).slice(0, 70)}`, () => {
      const parsed = parseClientFrame(JSON.stringify(frame));
      assert.deepEqual(parsed, frame);
      assert.deepEqual(parseClientFrame(JSON.stringify(parsed)), frame);
    });
  }
  for (const frame of serverFrames) {
    test(`server -> page: ${JSON.stringify(frame).slice(0, 70)}`, () => {
      const parsed = parseServerFrame(JSON.stringify(frame));
      assert.deepEqual(parsed, frame);
      assert.deepEqual(parseServerFrame(JSON.stringify(parsed)), frame);
    });
  }

  test('the order of fields and white space between them do not matter', () => {
    const reordered = `{ "resume": false, "acceptPlain": false, "nonce": "${B43}", "publicKey": "${hello.publicKey}",\n "name": "alice", "version": ${PROTOCOL_VERSION}, "type": "hello" }`;
    assert.deepEqual(parseClientFrame(reordered), hello);
  });

  test('version 3 bodies: numbers where they belong, and a resumed answer that says one thing', () => {
    const refusedBody = (body: unknown) =>
      assert.throws(() => parseServerBody(body), WirechatError, JSON.stringify(body));
    refusedBody({ kind: 'receipt', id: 0, status: 'delivered', reason: '', n: 0 });
    refusedBody({ kind: 'receipt', id: 0, status: 'failed', reason: 'x', n: 3 });
    refusedBody({ kind: 'line', from: 'a', text: 'x', at: 0, direct: false, n: 0, late: false });
    refusedBody({ kind: 'line', from: 'a', text: 'x', at: 0, direct: false, n: 1 });
    refusedBody({ kind: 'resumed', name: 'a', recovered: true, reason: 'unknown', gone: 0, replayed: 0 });
    refusedBody({ kind: 'resumed', name: 'a', recovered: false, reason: '', gone: 0, replayed: 0 });
    refusedBody({ kind: 'resumed', name: 'a', recovered: false, reason: 'ahead', gone: 0, replayed: 0 });
    refusedBody({ kind: 'resumed', name: 'a', recovered: false, reason: 'lost', gone: 0, replayed: 0 });
    refusedBody({ kind: 'seat', secret: 'a b', epoch: 'e', last: 0 });
    refusedBody({ kind: 'seat', secret: 'x'.repeat(513), epoch: 'e', last: 0 });
    assert.deepEqual(parseClientBody({ kind: 'resume', secret: '', epoch: '', last: 0 }), {
      kind: 'resume',
      secret: '',
      epoch: '',
      last: 0,
    });
    assert.throws(() => parseClientBody({ kind: 'resume', secret: 's', epoch: 'e' }), WirechatError);
  });

  test('bodies parse on their own too', () => {
    for (const body of clientBodies) assert.deepEqual(parseClientBody(body), body);
    for (const body of serverBodies) assert.deepEqual(parseServerBody(body), body);
  });
});

describe('PROTO_BAD_JSON: a frame that is not JSON', () => {
  for (const data of [
    '',
    ' ',
    '{',
    'hello',
    "{'type':'hello'}",
    '{"type":"record"} x',
    '{"type":"record",}',
    'undefined',
    'NaN',
  ]) {
    test(JSON.stringify(data), () => {
      refused(parseClientFrame, data, 'PROTO_BAD_JSON');
      refused(parseServerFrame, data, 'PROTO_BAD_JSON');
    });
  }
});

describe('PROTO_BAD_SHAPE: JSON that is not an object, or a field missing, extra or wrong', () => {
  test('a JSON value that is not an object', () => {
    for (const data of ['null', '1', '"hello"', 'true', '[]', '[{"type":"hello"}]']) {
      refused(parseClientFrame, data, 'PROTO_BAD_SHAPE');
      refused(parseServerFrame, data, 'PROTO_BAD_SHAPE');
    }
  });

  test('every field of every frame is required', () => {
    // A missing version is a version other than 1, and the version is checked first.
    const code = (key: string) => (key === 'version' ? 'HANDSHAKE_VERSION' : 'PROTO_BAD_SHAPE');
    for (const key of Object.keys(hello).filter((k) => k !== 'type')) clientRefuses(without(hello, key), code(key));
    for (const key of Object.keys(welcome).filter((k) => k !== 'type')) serverRefuses(without(welcome, key), code(key));
    for (const key of ['seq', 'token', 'mac']) {
      clientRefuses(without(record, key), 'PROTO_BAD_SHAPE');
      serverRefuses(without(record, key), 'PROTO_BAD_SHAPE');
    }
    clientRefuses({ type: 'plain', seq: 0 }, 'PROTO_BAD_SHAPE');
    clientRefuses({ type: 'plain', body: clientBodies[0] }, 'PROTO_BAD_SHAPE');
  });

  test('extra fields are refused, whatever their name or value', () => {
    for (const extra of [{ x: 1 }, { extra: null }, { Type: 'hello' }, { mac2: B43 }, { constructor: 'x' }]) {
      clientRefuses({ ...hello, ...extra }, 'PROTO_BAD_SHAPE');
      clientRefuses({ ...record, ...extra }, 'PROTO_BAD_SHAPE');
      serverRefuses({ ...welcome, ...extra }, 'PROTO_BAD_SHAPE');
      serverRefuses({ ...record, ...extra }, 'PROTO_BAD_SHAPE');
      clientRefuses({ type: 'plain', seq: 0, body: clientBodies[0], ...extra }, 'PROTO_BAD_SHAPE');
    }
    // A JSON text with "__proto__" as a key makes an own property: refused like any other unknown field.
    refused(parseClientFrame, JSON.stringify(record).replace('{', '{"__proto__":{"x":1},'), 'PROTO_BAD_SHAPE');
    for (const body of clientBodies) assert.throws(() => parseClientBody({ ...body, extra: 1 }), /unknown field/);
    for (const body of serverBodies) assert.throws(() => parseServerBody({ ...body, extra: 1 }), /unknown field/);
  });

  test('integers: non-negative safe integers only', () => {
    for (const seq of [-1, 1.5, 2 ** 53, '0', null, true, [0], { n: 0 }]) {
      clientRefuses({ ...record, seq }, 'PROTO_BAD_SHAPE');
      serverRefuses({ ...welcome, time: seq }, 'PROTO_BAD_SHAPE');
    }
    assert.equal(
      (parseClientFrame(JSON.stringify({ ...record, seq: LIMITS.maxSeq })) as { seq: number }).seq,
      LIMITS.maxSeq,
    );
    refused(parseClientFrame, JSON.stringify(record).replace('"seq":7', '"seq":1e400'), 'PROTO_BAD_SHAPE');
  });

  test('booleans: true or false only', () => {
    for (const acceptPlain of [0, 1, 'true', 'false', null])
      clientRefuses({ ...hello, acceptPlain }, 'PROTO_BAD_SHAPE');
  });

  test('strings: a string, within its length', () => {
    for (const key of ['publicKey', 'nonce']) {
      for (const value of [1, null, ['AAAA'], { a: 'A' }]) clientRefuses({ ...hello, [key]: value }, 'PROTO_BAD_SHAPE');
    }
    clientRefuses({ ...hello, publicKey: 'A'.repeat(4097) }, 'PROTO_BAD_SHAPE');
    clientRefuses({ ...hello, nonce: 'A'.repeat(65) }, 'PROTO_BAD_SHAPE');
    clientRefuses({ ...record, token: 'A'.repeat(LIMITS.maxTokenChars + 4) }, 'PROTO_BAD_SHAPE');
    clientRefuses({ ...record, mac: 'A'.repeat(65) }, 'PROTO_BAD_SHAPE');
    serverRefuses({ ...welcome, serverKey: 'A'.repeat(1025) }, 'PROTO_BAD_SHAPE');
    serverRefuses({ ...welcome, wrappedKeys: 'A'.repeat(4097) }, 'PROTO_BAD_SHAPE');
    serverRefuses({ ...welcome, signature: 'A'.repeat(257) }, 'PROTO_BAD_SHAPE');
    serverRefuses({ ...welcome, sessionId: 'A'.repeat(65) }, 'PROTO_BAD_SHAPE');
    // At the limit is fine.
    parseClientFrame(JSON.stringify({ ...record, token: 'A'.repeat(LIMITS.maxTokenChars) }));
  });

  test('welcome.mode is "secure" or "plain"', () => {
    for (const mode of ['SECURE', 'none', '', 1, null]) serverRefuses({ ...welcome, mode }, 'PROTO_BAD_SHAPE');
  });

  test('a plain frame carries a valid body of its direction', () => {
    clientRefuses({ type: 'plain', seq: 0, body: serverBodies[0] }, 'PROTO_BAD_SHAPE');
    serverRefuses({ type: 'plain', seq: 0, body: clientBodies[2] }, 'PROTO_BAD_SHAPE');
    clientRefuses({ type: 'plain', seq: 0, body: 'hello' }, 'PROTO_BAD_SHAPE');
    clientRefuses({ type: 'plain', seq: 0, body: null }, 'PROTO_BAD_SHAPE');
  });

  test('bodies: an unknown kind, a wrong status, a missing field', () => {
    for (const value of [
      {},
      { kind: 'receipt', id: 0, status: 'delivered', reason: '' },
      { kind: 'LINE', id: 0, text: 'x' },
      [],
      null,
      'line',
    ]) {
      throwsWith(() => parseClientBody(value), 'PROTO_BAD_SHAPE');
    }
    for (const value of [
      {},
      { kind: 'bye', word: 'EXIT' },
      { kind: 'receipt', id: 0, status: 'lost', reason: '' },
      { kind: 'line', from: 'a', text: 'x', at: 0 },
      { kind: 'line', from: 'a', text: 'x', at: 0, direct: 'no' },
      { kind: 'end' },
      { kind: 'end', reason: 'no code' },
      { kind: 'end', code: 'chat_ended', reason: 'a code is upper case' },
      { kind: 'end', code: 'KICKED\u202e', reason: 'a code is safe to show as it is' },
      { kind: 'end', code: '', reason: 'x' },
    ]) {
      throwsWith(() => parseServerBody(value), 'PROTO_BAD_SHAPE');
    }
  });

  test('free-text fields have their maximum length', () => {
    assert.throws(() => parseServerBody({ kind: 'end', code: 'KICKED', reason: 'x'.repeat(257) }), WirechatError);
    assert.throws(() => parseServerBody({ kind: 'end', code: 'K'.repeat(41), reason: '' }), WirechatError);
    const left = (reason: string) => ({
      kind: 'presence',
      at: 0,
      changes: [{ change: 'left', name: 'a', reason }],
      moreJoined: 0,
      moreLeft: 0,
    });
    assert.throws(() => parseServerBody(left('x'.repeat(257))), WirechatError);
    parseServerBody(left('x'.repeat(256)));
    assert.throws(
      () => parseServerBody({ kind: 'receipt', id: 0, status: 'failed', reason: 'x'.repeat(257), n: 0 }),
      WirechatError,
    );
    assert.throws(() => parseClientBody({ kind: 'bye', word: 'x'.repeat(17) }), WirechatError);
    parseServerBody({ kind: 'end', code: 'K'.repeat(40), reason: 'x'.repeat(256) });
    parseClientBody({ kind: 'bye', word: 'x'.repeat(16) });
  });
});

describe('presence bodies', () => {
  const presence = (fields: object) => ({
    kind: 'presence',
    at: 0,
    changes: [{ change: 'joined', name: 'a' }],
    moreJoined: 0,
    moreLeft: 0,
    ...fields,
  });
  const joined = (n: number) => Array.from({ length: n }, (_, i) => ({ change: 'joined', name: `tab-${i}` }));

  test(`name at most ${LIMITS.maxPresenceChanges} changes; the rest can only be counted`, () => {
    parseServerBody(presence({ changes: joined(LIMITS.maxPresenceChanges), moreJoined: 1000 }));
    throwsWith(() => parseServerBody(presence({ changes: joined(LIMITS.maxPresenceChanges + 1) })), 'PROTO_BAD_SHAPE');
  });

  test('refuse a change of another kind, with a field too many or too few, or one that is not an object', () => {
    for (const change of [
      { change: 'join', name: 'a' },
      { change: 'joined', name: 'a', reason: '' },
      { change: 'left', name: 'a' },
      { change: 'left', name: 'a', reason: 'x', at: 0 },
      { name: 'a' },
      'a',
      ['joined', 'a'],
      null,
    ]) {
      throwsWith(() => parseServerBody(presence({ changes: [change] })), 'PROTO_BAD_SHAPE', JSON.stringify(change));
    }
  });

  test('refuse changes that are not an array, counts that are not counts, and a body that says nothing', () => {
    for (const fields of [
      { changes: { change: 'joined', name: 'a' } },
      { changes: 'a' },
      { moreJoined: -1 },
      { moreLeft: 1.5 },
      { moreLeft: '1' },
      { changes: [], moreJoined: 0, moreLeft: 0 },
    ]) {
      throwsWith(() => parseServerBody(presence(fields)), 'PROTO_BAD_SHAPE', JSON.stringify(fields));
    }
  });

  test('the bodies of version 1, join and leave, are gone', () => {
    throwsWith(() => parseServerBody({ kind: 'join', name: 'bob', at: 1 }), 'PROTO_BAD_SHAPE');
    throwsWith(() => parseServerBody({ kind: 'leave', name: 'bob', at: 2, reason: 'left (EXIT)' }), 'PROTO_BAD_SHAPE');
  });
});

describe('PROTO_UNKNOWN_TYPE: a type this direction does not send', () => {
  test('page frames', () => {
    for (const type of ['welcome', 'Hello', 'HELLO', 'bye', '', 1, null, undefined])
      clientRefuses({ ...hello, type }, 'PROTO_UNKNOWN_TYPE');
    clientRefuses({}, 'PROTO_UNKNOWN_TYPE');
  });
  test('server frames', () => {
    for (const type of ['hello', 'Welcome', 'end', '', 0, false])
      serverRefuses({ ...welcome, type }, 'PROTO_UNKNOWN_TYPE');
    serverRefuses({ seq: 0 }, 'PROTO_UNKNOWN_TYPE');
  });
});

describe(`HANDSHAKE_VERSION: a version other than ${PROTOCOL_VERSION}`, () => {
  test('hello and welcome', () => {
    for (const version of [0, 1, 2, 4, '3', 2.5, null, -1]) {
      clientRefuses({ ...hello, version }, 'HANDSHAKE_VERSION');
      serverRefuses({ ...welcome, version }, 'HANDSHAKE_VERSION');
    }
  });

  test('is reported before the field set, so a later version with other fields hears "version"', () => {
    clientRefuses({ type: 'hello', version: PROTOCOL_VERSION + 1, key: 'x' }, 'HANDSHAKE_VERSION');
    serverRefuses({ type: 'welcome', version: PROTOCOL_VERSION + 1, other: true }, 'HANDSHAKE_VERSION');
  });
});

describe('BAD_BASE64: a binary field outside the base64url alphabet', () => {
  test('every base64url field', () => {
    for (const bad of ['AA+A', 'AA/A', 'AA A', 'AA\nA', 'A=AA', 'AAAA===', 'AA.A', '\u00e9AAA']) {
      clientRefuses({ ...hello, publicKey: bad }, 'BAD_BASE64');
      clientRefuses({ ...hello, nonce: bad }, 'BAD_BASE64');
      clientRefuses({ ...record, token: bad }, 'BAD_BASE64');
      clientRefuses({ ...record, mac: bad }, 'BAD_BASE64');
      for (const key of ['sessionId', 'nonce', 'serverKey', 'wrappedKeys', 'signature']) {
        serverRefuses({ ...welcome, [key]: bad }, 'BAD_BASE64');
      }
    }
  });
});

describe('names', () => {
  const nameRefused = (name: string) => {
    assert.notEqual(checkName(name), undefined, JSON.stringify(name));
    // A hello's name is the person's: refused with its own code, which sends the page back to its name field.
    clientRefuses({ ...hello, name }, 'NAME_REFUSED');
    serverRefuses({ ...welcome, name }, 'PROTO_BAD_SHAPE');
    assert.throws(
      () =>
        parseServerBody({ kind: 'presence', at: 0, changes: [{ change: 'joined', name }], moreJoined: 0, moreLeft: 0 }),
      WirechatError,
    );
    assert.throws(
      () => parseServerBody({ kind: 'line', from: name, text: 'x', at: 0, direct: false, n: 1, late: false }),
      WirechatError,
    );
  };

  test('control characters, C1 controls, line separators and bidi controls are refused anywhere', () => {
    for (const c of [
      '\u0000',
      '\u0007',
      '\u001b',
      '\t',
      '\n',
      '\r',
      '\u007f',
      '\u0085',
      '\u009f',
      '\u2028',
      '\u2029',
      '\u202a',
      '\u202e',
      '\u2066',
      '\u2069',
    ]) {
      nameRefused(`al${c}ice`);
      nameRefused(`alice${c}`);
      nameRefused(`${c}alice`);
    }
    nameRefused('\u001b[2Jconsole');
    nameRefused('\u202eecilA');
  });

  test('empty and blank names are refused', () => {
    for (const name of ['', ' ', '   ', '\u00a0']) nameRefused(name);
  });

  test('at most 24 code points (an emoji is one), at most 64 UTF-16 units on the wire', () => {
    assert.equal(checkName('a'.repeat(24)), undefined);
    nameRefused('a'.repeat(25));
    const emoji = '\u{1f600}'.repeat(24); // 48 UTF-16 units, 24 code points
    assert.equal(checkName(emoji), undefined);
    assert.deepEqual(parseClientFrame(JSON.stringify({ ...hello, name: emoji })), { ...hello, name: emoji });
    nameRefused('\u{1f600}'.repeat(25));
    // Spaces around are trimmed for the count, but the wire field is still at most 64 units.
    const spaced = `  ${'a'.repeat(24)}  `;
    assert.deepEqual(parseClientFrame(JSON.stringify({ ...hello, name: spaced })), { ...hello, name: spaced });
    clientRefuses({ ...hello, name: ' '.repeat(41) + 'a'.repeat(24) }, 'PROTO_BAD_SHAPE');
  });

  test('a hello may ask for a name in any form; the server sends names only in their normal form', () => {
    for (const name of [
      'alice',
      'Bob 2',
      '\u00e9l\u00e8ve',
      '\u5b66\u751f',
      '\u0627\u0644\u0637\u0627\u0644\u0628',
      'o\u0301scar',
      'a-b_c.d',
      ' bob ',
      'alice\u00a0 smith',
      '\uff22\uff4f\uff42',
    ]) {
      assert.deepEqual(parseClientFrame(JSON.stringify({ ...hello, name })), { ...hello, name });
      const normal = normalizeName(name);
      assert.equal(checkName(normal), undefined, normal);
      assert.equal(parseServerFrame(JSON.stringify({ ...welcome, name: normal })).type, 'welcome');
      if (normal !== name) serverRefuses({ ...welcome, name }, 'PROTO_BAD_SHAPE');
    }
  });
});

describe('chat lines', () => {
  const lineRefused = (text: string) => {
    assert.notEqual(checkLine(text), undefined, JSON.stringify(text.slice(0, 20)));
    throwsWith(() => parseClientBody({ kind: 'line', id: 0, text }), 'PROTO_BAD_SHAPE');
    assert.throws(
      () => parseServerBody({ kind: 'line', from: 'a', text, at: 0, direct: false, n: 1, late: false }),
      WirechatError,
    );
  };
  const lineAccepted = (text: string) => {
    assert.equal(checkLine(text), undefined);
    assert.deepEqual(parseClientBody({ kind: 'line', id: 0, text }), { kind: 'line', id: 0, text });
  };

  test('checkLine counts UTF-8 bytes, not UTF-16 units', () => {
    lineAccepted('a'.repeat(LIMITS.maxLineBytes));
    lineRefused('a'.repeat(LIMITS.maxLineBytes + 1));
    lineAccepted('\u20ac'.repeat(1365)); // 3 bytes each: 4095 bytes in 1365 units
    lineRefused('\u20ac'.repeat(1366)); // 4098 bytes in only 1366 units
    lineAccepted('\u{1f600}'.repeat(1024)); // 4 bytes each: 4096 bytes
    lineRefused('\u{1f600}'.repeat(1025));
    lineRefused('\u00e9'.repeat(2049)); // 4098 bytes
    assert.match(checkLine('\u20ac'.repeat(1366)) ?? '', /4098/);
  });

  test('empty lines, lines of spaces only, and control characters (tabs and newlines too) are refused', () => {
    lineRefused('');
    for (const blank of [' ', '   ', '\u00a0', '\u3000 \u2003']) lineRefused(blank);
    for (const c of [
      '\u0000',
      '\t',
      '\n',
      '\r',
      '\u001b',
      '\u007f',
      '\u0085',
      '\u2028',
      '\u2029',
      '\u202e',
      '\u2067',
    ]) {
      lineRefused(`one${c}two`);
      lineRefused(c);
    }
    lineRefused('\u001b]0;pwned\u0007');
  });

  test('ordinary text is accepted as is, spaces included', () => {
    for (const text of [
      'hi',
      ' padded ',
      'gr\u00fc\u00dfe \u2713',
      '\u{1f600}',
      '"quoted" \\ back',
      '<b>not markup</b>',
    ])
      lineAccepted(text);
  });
});

describe('the bye word', () => {
  test('EXIT and END as the page sends them are accepted; control characters are not', () => {
    for (const word of ['EXIT', 'END', 'exit'])
      assert.deepEqual(parseClientBody({ kind: 'bye', word }), { kind: 'bye', word });
    for (const word of ['EXIT\u001b[2J', '\tEXIT', 'END\n', '\u202eTIXE']) {
      throwsWith(() => parseClientBody({ kind: 'bye', word }), 'PROTO_BAD_SHAPE', JSON.stringify(word));
    }
  });
});

describe('isEndWord', () => {
  test('EXIT or END as the whole line, any case, spaces around ignored', () => {
    for (const line of ['EXIT', 'END', 'exit', 'End', ' eXiT ', '\tEND\n'])
      assert.equal(isEndWord(line), true, JSON.stringify(line));
  });
  test('anything else is a chat line', () => {
    for (const line of ['', 'EXI', 'ENDS', 'EXIT NOW', 'the END', 'E N D', 'QUIT', '/exit', 'EXIT.']) {
      assert.equal(isEndWord(line), false, JSON.stringify(line));
    }
  });
});
