import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EndReason } from '../../web/connection.ts';
import { closeText, endSummary, endText, statusText } from '../../web/status-text.ts';

test('every kind of end says why', () => {
  const ends: [EndReason, RegExp][] = [
    [{ by: 'you', word: 'EXIT' }, /^You ended the chat \(EXIT\)\.$/],
    [{ by: 'server', reason: 'The server operator ended the chat' }, /^The server operator ended the chat\.$/],
    [{ by: 'server', reason: '' }, /^The server ended the chat\.$/],
    [{ by: 'closed', code: 1000, reason: '' }, /closed the connection \(1000, normal closure\)/],
    [
      { by: 'refused', code: 1008, reason: 'HANDSHAKE_PLAIN_REFUSED: tick "Allow plain mode"' },
      /^The server refused this connection \(1008, HANDSHAKE_PLAIN_REFUSED: tick "Allow plain mode"\)\. .*stopped\.$/,
    ],
    [
      { by: 'integrity', code: 'RECORD_BAD_MAC', message: 'record 3 failed its HMAC check', closeCode: 1008, sentCode: 4008 },
      /^Integrity check failed \(RECORD_BAD_MAC\): record 3 failed its HMAC check\. The frame was not shown\. .*1008 \(sent as 4008/,
    ],
    [{ by: 'trust', fingerprint: 'AAAA' }, /did not trust it/],
    [{ by: 'error', message: 'boom' }, /^The page could not go on: boom\.$/],
  ];
  for (const [end, pattern] of ends) {
    assert.match(endText(end), pattern);
    assert.match(endSummary(end), /^Ended/);
  }
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

test('the status line shows the close code and reason and counts down to the next attempt', () => {
  const state = { phase: 'disconnected', code: 1006, reason: '', attempt: 3, delayMs: 2000, retryAt: 10_000 } as const;
  assert.equal(
    statusText(state, 8_100),
    'Disconnected (1006, connection lost without a close frame): reconnecting in 2 s (attempt 3)',
  );
  assert.match(statusText(state, 20_000), /reconnecting in 0 s/);
});

test('a close reason sent by the peer wins over the generic meaning of its code', () => {
  assert.equal(closeText(1008, 'handshake timed out'), '1008, handshake timed out');
  assert.equal(closeText(4999, ''), '4999, no reason given');
});

test('plain mode is never called secure', () => {
  assert.match(statusText({ phase: 'plain' } as never, 0), /PLAIN MODE/);
  assert.doesNotMatch(statusText({ phase: 'plain' } as never, 0), /secure/i);
});
