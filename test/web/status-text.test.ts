import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Disconnected, EndReason } from '../../web/connection.ts';
import { closeText, endSummary, endText, statusText } from '../../web/status-text.ts';

const server = (code: string, reason: string, verified = true): EndReason => ({ by: 'server', code, reason, verified });

test('every kind of end says why', () => {
  const ends: [EndReason, RegExp][] = [
    [{ by: 'you', word: 'EXIT' }, /^You ended the chat \(EXIT\)\.$/],
    [server('CHAT_ENDED', 'The server operator ended the chat'), /^The server operator ended the chat\.$/],
    [server('CHAT_ENDED', ''), /^The server ended the chat\.$/],
    [server('SERVER_STOPPING', ''), /^The server is stopping\.$/],
    [server('KICKED', ''), /^The server removed you from the chat\.$/],
    [
      server('LIMIT_RATE', 'more than 20 lines a second, for too long'),
      /^The server ended the chat over something this page sent \(LIMIT_RATE\): more than 20 lines a second, for too long\.$/,
    ],
    [server('SERVER_ERROR', ''), /^The server could not go on with this chat \(SERVER_ERROR\)\.$/],
    [{ by: 'plain-refused' }, /^This server runs in plain mode: .*signed welcome.*"Allow plain mode" ticked\.$/],
    [
      {
        by: 'integrity',
        code: 'RECORD_BAD_MAC',
        message: 'record 3 failed its HMAC check',
        closeCode: 1008,
        sentCode: 4008,
      },
      /^Integrity check failed \(RECORD_BAD_MAC\): record 3 failed its HMAC check\. The frame was not shown\. .*1008 \(sent as 4008/,
    ],
    [{ by: 'trust', fingerprint: 'AAAA' }, /did not trust it/],
    [{ by: 'error', message: 'boom' }, /^The page could not go on: boom\.$/],
  ];
  for (const [end, pattern] of ends) {
    assert.match(endText(end), pattern);
    assert.match(endSummary(end), /^Ended/);
  }
  assert.equal(endSummary(server('CHAT_ENDED', '')), 'Ended by the server');
  assert.equal(endSummary(server('LIMIT_RATE', '')), 'Ended by the server (LIMIT_RATE)');
});

test('an end in plain mode says that nothing authenticated it', () => {
  assert.match(
    endText(server('CHAT_ENDED', 'bye', false)),
    /^bye\. In plain mode nothing authenticates this end: anyone on the path could have sent it\.$/,
  );
});

test("the server's own end reason is shown printable too: no control or bidi character reaches the page", () => {
  const text = endText(server('KICKED', 'you were removed \u202e)tpircs(\u200f\u001b[2J'));
  assert.equal(text, 'you were removed \\u202e)tpircs(\\u200f\\u001b[2J.');
});

test('a handshake signature that fails says someone on the path may have changed it; other failures do not', () => {
  const end = (code: 'HANDSHAKE_BAD_SIGNATURE' | 'RECORD_BAD_MAC'): EndReason => ({
    by: 'integrity',
    code,
    message: 'the check failed',
    closeCode: 1008,
    sentCode: 4008,
  });
  assert.match(
    endText(end('HANDSHAKE_BAD_SIGNATURE')),
    /^Integrity check failed \(HANDSHAKE_BAD_SIGNATURE\): the check failed\. Someone between you and the server may have changed the handshake \(for example swapped your public key\)\. The frame was not shown\./,
  );
  assert.doesNotMatch(endText(end('RECORD_BAD_MAC')), /Someone between/);
});

const dropped = (over: Partial<Disconnected> = {}): Disconnected =>
  ({
    phase: 'disconnected',
    code: 1006,
    reason: '',
    unverified: true,
    attempt: 3,
    paused: false,
    delayMs: 2000,
    retryAt: 10_000,
    ...over,
  }) as Disconnected;

test('the status line shows the close code in words and counts down to the next attempt', () => {
  const state = dropped();
  assert.equal(
    statusText(state, 8_100),
    'Disconnected (1006 connection lost without a close frame): reconnecting in 2 s (attempt 3)',
  );
  assert.match(statusText(state, 20_000), /reconnecting in 0 s/);
});

test('a paused page says it stopped retrying by itself, and why', () => {
  const state = dropped({ code: 1008, reason: 'LIMIT_RATE: x', paused: true });
  assert.equal(
    statusText(state, 0),
    'Disconnected (1008 policy violation; its close frame said \u2068“LIMIT_RATE: x”\u2069, unverified): not retrying by itself after 5 refusals in a row',
  );
});

test("a close frame's reason is the peer's unverified words: quoted, isolated, neutralized, never the page's own", () => {
  assert.equal(
    closeText({ code: 1008, reason: 'HANDSHAKE_TIMEOUT: no handshake', unverified: true }),
    '1008 policy violation; its close frame said \u2068“HANDSHAKE_TIMEOUT: no handshake”\u2069, unverified',
  );
  // Every character that could reorder or hide the page's own sentence is escaped: bidi overrides, marks
  // (U+200E, U+200F, U+061C), isolates (a PDI must not close the page's isolate early), zero-width characters.
  const hostile = '\u202eevil\u200e\u200f\u061c\u2069\u2066\u200b\u00ad\ufeff\u3164\u001b[2J';
  const shown = closeText({ code: 1008, reason: hostile, unverified: true });
  assert.equal(
    shown,
    '1008 policy violation; its close frame said \u2068“\\u202eevil\\u200e\\u200f\\u061c\\u2069\\u2066\\u200b\\u00ad\\ufeff\\u3164\\u001b[2J”\u2069, unverified',
  );
  const between = shown.slice(shown.indexOf('\u2068') + 1, shown.lastIndexOf('\u2069'));
  assert.doesNotMatch(between, /[\p{Cc}\p{Cf}\p{Bidi_Control}]/u, 'nothing invisible or reordering inside the quotes');
  // A long reason is cut (a close reason is at most 123 bytes anyway, but the page does not rely on it).
  assert.match(closeText({ code: 1008, reason: 'x'.repeat(200), unverified: true }), /x{80}\.\.\.”/);
});

test("the page's own reason is not marked; a page's 4008 reads as 1008; unknown codes are named as unknown", () => {
  assert.equal(
    closeText({ code: 1008, reason: 'the server did not answer hello in time', unverified: false }),
    '1008 policy violation: the server did not answer hello in time',
  );
  assert.equal(closeText({ code: 4008, reason: '', unverified: true }), '1008 policy violation (sent as 4008)');
  assert.equal(closeText({ code: 4999, reason: '', unverified: true }), "4999 an application's own code");
  assert.equal(closeText({ code: 1000, reason: ' ', unverified: true }), '1000 normal closure');
});

test('plain mode is never called secure', () => {
  assert.match(statusText({ phase: 'plain' } as never, 0), /PLAIN MODE/);
  assert.doesNotMatch(statusText({ phase: 'plain' } as never, 0), /secure/i);
});
