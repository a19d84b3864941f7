/**
 * shared/errors.ts's close-code table: one place for what a close code means, how a browser page has to send it,
 * and how a reader turns the browser's code back into the RFC one. The page's status line, the server's console
 * and the tools all word codes through it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  Close,
  closeCodeText,
  closeName,
  closeReason,
  END_CLOSE,
  endCloseCode,
  ERROR_CLOSE,
  fromBrowserCloseCode,
  toBrowserCloseCode,
} from '../../shared/errors.ts';

test('every RFC 6455 and IANA close code a person may meet has its words, 1005, 1006 and 1012 included', () => {
  const table: [number, string][] = [
    [1000, 'normal closure'],
    [1001, 'going away'],
    [1002, 'protocol error'],
    [1003, 'unsupported data'],
    [1005, 'no status code'],
    [1006, 'connection lost without a close frame'],
    [1007, 'invalid payload'],
    [1008, 'policy violation'],
    [1009, 'message too big'],
    [1010, 'mandatory extension'],
    [1011, 'internal error'],
    [1012, 'service restart'],
    [1013, 'try again later'],
    [1014, 'bad gateway'],
    [1015, 'TLS handshake failure'],
  ];
  for (const [code, words] of table) assert.equal(closeName(code), words, String(code));
  for (const code of Object.values(Close)) assert.notEqual(closeName(code), 'unknown code', `Close has ${code}`);
  for (const code of Object.values(ERROR_CLOSE))
    assert.notEqual(closeName(code), 'unknown code', `an error maps to ${code}`);
  assert.equal(closeName(1004), 'unknown code');
  assert.equal(closeName(3001), 'a registered library code');
  assert.equal(closeName(4999), "an application's own code");
});

test('a browser sends 1000 and 3000-4999 as they are and any other code as 4000 + its last three digits', () => {
  assert.deepEqual(
    [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 1013, 3000, 4008, 4999].map(toBrowserCloseCode),
    [1000, 4001, 4002, 4003, 4007, 4008, 4009, 4011, 4013, 3000, 4008, 4999],
  );
});

test("a reader turns a page's 4000 + n back into the RFC code it stands for, and leaves other codes alone", () => {
  assert.deepEqual(
    [4001, 4002, 4003, 4007, 4008, 4009, 4011, 4012, 4013].map(fromBrowserCloseCode),
    [1001, 1002, 1003, 1007, 1008, 1009, 1011, 1012, 1013],
  );
  // 4000 (1000 is sent as itself), 4005, 4006 and 4015 (never sent by anyone) and 4999 are an application's own.
  for (const code of [1000, 1006, 3000, 4000, 4005, 4006, 4015, 4999]) assert.equal(fromBrowserCloseCode(code), code);
  assert.equal(closeName(4008), 'policy violation');
  assert.equal(closeCodeText(4008), '1008 policy violation (sent as 4008)');
  assert.equal(closeCodeText(1008), '1008 policy violation');
  assert.equal(closeCodeText(4999), "4999 an application's own code");
});

test('every code a page may need to send survives the round trip through the browser code', () => {
  fc.assert(
    fc.property(fc.constantFrom(...Object.values(ERROR_CLOSE), ...Object.values(END_CLOSE)), (code) => {
      const sent = toBrowserCloseCode(code);
      assert.ok(sent === 1000 || (sent >= 3000 && sent <= 4999), `${code} is sent as ${sent}`);
      assert.equal(fromBrowserCloseCode(sent), code);
    }),
  );
});

test("an end body's code names the close that follows it: its own table, or the error's", () => {
  assert.equal(endCloseCode('CHAT_ENDED'), Close.NORMAL);
  assert.equal(endCloseCode('SERVER_STOPPING'), Close.GOING_AWAY);
  assert.equal(endCloseCode('KICKED'), Close.POLICY_VIOLATION);
  assert.equal(endCloseCode('SERVER_ERROR'), Close.INTERNAL_ERROR);
  assert.equal(endCloseCode('LIMIT_RATE'), Close.POLICY_VIOLATION);
  assert.equal(endCloseCode('PROTO_BAD_SHAPE'), Close.PROTOCOL_ERROR);
  for (const code of Object.keys(END_CLOSE)) assert.ok(!(code in ERROR_CLOSE), `${code} is not also an error code`);
  for (const code of [...Object.keys(END_CLOSE), ...Object.keys(ERROR_CLOSE)]) assert.match(code, /^[A-Z][A-Z0-9_]*$/);
});

test('a close reason fits in 123 bytes of UTF-8, cut on a character boundary', () => {
  assert.equal(closeReason('short'), 'short');
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (text) => {
      const cut = closeReason(text);
      assert.ok(new TextEncoder().encode(cut).length <= 123);
      assert.ok(!cut.includes('\ufffd') || text.includes('\ufffd'), 'no broken character');
    }),
  );
});
