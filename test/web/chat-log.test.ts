import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PresenceChange, ServerPresence } from '../../shared/protocol.ts';
import {
  ChatLog,
  DROPPED_REASON,
  ENDED_UNCONFIRMED,
  ENDED_UNSENT,
  presenceLines,
  type ChatLine,
} from '../../web/chat-log.ts';

function own(log: ChatLog, key: number): ChatLine {
  const entry = log.entries.find((e) => e.key === key);
  assert.ok(entry?.kind === 'line' && entry.own, `no own line ${key}`);
  return entry;
}

test('an own line goes queued -> sending -> delivered by the receipt that names its id', () => {
  const log = new ChatLog();
  const key = log.own('alice', 'hi', 1);
  assert.equal(own(log, key).status, 'queued');
  assert.deepEqual(
    log.queued.map((l) => l.key),
    [key],
  );
  log.sending(key);
  assert.equal(own(log, key).status, 'sending');
  assert.deepEqual(log.queued, []);
  log.sent(key, 7);
  log.receipt(7, 'delivered', '');
  assert.equal(own(log, key).status, 'delivered');
});

test('a failed receipt keeps its reason; receipts for other ids do not touch the line', () => {
  const log = new ChatLog();
  const a = log.own('alice', 'a', 1);
  const b = log.own('alice', 'b', 2);
  log.sending(a);
  log.sending(b);
  log.sent(a, 0);
  log.sent(b, 1);
  log.receipt(1, 'failed', 'rate limit: slow down');
  assert.equal(own(log, a).status, 'sending');
  assert.deepEqual([own(log, b).status, own(log, b).reason], ['failed', 'rate limit: slow down']);
});

test('a receipt that arrives before the id is known is applied once it is', () => {
  const log = new ChatLog();
  const key = log.own('alice', 'hi', 1);
  log.sending(key);
  log.receipt(0, 'delivered', '');
  log.sent(key, 0);
  assert.equal(own(log, key).status, 'delivered');
});

test('a line without a receipt stays sending across a drop: it is sent again, under its id, once resumed', () => {
  const log = new ChatLog();
  const sent = log.own('alice', 'sent', 1);
  const waiting = log.own('alice', 'typed while down', 2);
  log.sending(sent);
  log.sent(sent, 0);
  // (the connection drops and resumes: ids are the participant's, so the receipt for 0 is this line's)
  assert.equal(own(log, sent).status, 'sending');
  assert.equal(own(log, waiting).status, 'queued');
  log.receipt(0, 'delivered', '', 5);
  assert.deepEqual([own(log, sent).status, own(log, sent).n], ['delivered', 5]);
});

test('lines the resume could not confirm become not-delivered and resendable; others are untouched', () => {
  const log = new ChatLog();
  const a = log.own('alice', 'a', 1);
  const b = log.own('alice', 'b', 2);
  log.sending(a);
  log.sent(a, 0);
  log.sending(b);
  log.sent(b, 1);
  log.receipt(1, 'delivered', '', 3);
  log.unconfirmed([0, 1]);
  assert.deepEqual(
    [own(log, a).status, own(log, a).reason, own(log, a).resendable],
    ['not-delivered', DROPPED_REASON, true],
  );
  assert.equal(own(log, b).status, 'delivered');
  log.receipt(0, 'delivered', '', 4);
  assert.equal(own(log, a).status, 'not-delivered', 'a receipt for an abandoned id lands nowhere');
});

test('resend queues a copy at the end once, and the original stops offering it', () => {
  const log = new ChatLog();
  const key = log.own('alice', 'again', 1);
  log.line('console', 'meanwhile', 2, false);
  log.sending(key);
  log.sent(key, 0);
  log.unconfirmed([0]);
  const copy = log.resend(key, 3);
  assert.ok(copy !== undefined);
  assert.equal(log.entries.at(-1)?.key, copy);
  assert.deepEqual([own(log, copy).text, own(log, copy).status], ['again', 'queued']);
  assert.deepEqual(
    [own(log, key).resendable, own(log, key).resent, own(log, key).status],
    [false, true, 'not-delivered'],
  );
  assert.equal(log.resend(key, 4), undefined);
});

test('delivered lines cannot be resent', () => {
  const log = new ChatLog();
  const key = log.own('alice', 'fine', 1);
  log.sending(key);
  log.sent(key, 0);
  log.receipt(0, 'delivered', '');
  assert.equal(log.resend(key, 2), undefined);
});

test('when the chat ends, queued lines were never sent and sending ones never confirmed: both not-delivered, not resendable', () => {
  const log = new ChatLog();
  const q = log.own('alice', 'queued', 1);
  const s = log.own('alice', 'sending', 2);
  const d = log.own('alice', 'done', 3);
  log.sending(s);
  log.sending(d);
  log.sent(d, 0);
  log.receipt(0, 'delivered', '');
  log.ended();
  for (const key of [q, s]) {
    assert.deepEqual(
      [own(log, key).status, own(log, key).reason, own(log, key).resendable],
      ['not-delivered', key === q ? ENDED_UNSENT : ENDED_UNCONFIRMED, false],
    );
  }
  assert.equal(own(log, d).status, 'delivered');
});

test('a session refusing a line marks it not-delivered with its reason', () => {
  const log = new ChatLog();
  const key = log.own('alice', 'late', 1);
  log.sending(key);
  log.notSent(key, 'the chat is disconnected');
  assert.deepEqual([own(log, key).status, own(log, key).reason], ['not-delivered', 'the chat is disconnected']);
});

test('every change gives a new entries array; no change keeps the old one', () => {
  const log = new ChatLog();
  const before = log.entries;
  log.system('console joined.', 1);
  const after = log.entries;
  assert.notEqual(before, after);
  log.receipt(99, 'delivered', '');
  log.unconfirmed([99]);
  assert.equal(log.entries, after);
});

test('incoming and system lines keep their order and fields', () => {
  const log = new ChatLog();
  log.system('bob joined.', 1);
  log.line('bob', '<img src=x onerror=alert(1)>', 2, true);
  assert.deepEqual(
    log.entries.map((e) => (e.kind === 'line' ? [e.kind, e.from, e.text, e.direct, e.own] : [e.kind, e.text])),
    [
      ['system', 'bob joined.'],
      ['line', 'bob', '<img src=x onerror=alert(1)>', true, false],
    ],
  );
});

const joined = (...names: string[]): PresenceChange[] => names.map((name) => ({ change: 'joined', name }));
const left = (name: string, reason: string): PresenceChange => ({ change: 'left', name, reason });
const presence = (changes: PresenceChange[], moreJoined = 0, moreLeft = 0): ServerPresence => ({
  kind: 'presence',
  at: 0,
  changes,
  moreJoined,
  moreLeft,
});

test('a presence body reads as sentences: joins in a row make one line, each leave its own, in order', () => {
  assert.deepEqual(presenceLines(presence(joined('alice'))), ['alice joined.']);
  assert.deepEqual(presenceLines(presence(joined('alice', 'bob'))), ['alice and bob joined.']);
  assert.deepEqual(presenceLines(presence(joined('alice', 'bob', 'carol'))), ['alice, bob and carol joined.']);
  assert.deepEqual(
    presenceLines(
      presence([
        left('bob', 'left'),
        ...joined('bob', 'carol'),
        left('dave', ' '),
        left('eve', 'disconnected (1006)'),
        ...joined('erin'),
      ]),
    ),
    ['bob left.', 'bob and carol joined.', 'dave left.', 'eve disconnected (1006).', 'erin joined.'],
  );
});

test("a presence body's reasons are shown printable: a bidi override cannot turn the sentence around", () => {
  assert.deepEqual(presenceLines(presence([left('mallory', 'gone\u202elive')])), ['mallory gone\\u202elive.']);
});

test('a presence body names the counted changes by number: "alice, bob and 40 others joined."', () => {
  assert.deepEqual(presenceLines(presence(joined('alice', 'bob'), 40)), ['alice, bob and 40 others joined.']);
  assert.deepEqual(presenceLines(presence(joined('alice'), 1)), ['alice and 1 other joined.']);
  assert.deepEqual(presenceLines(presence([left('bob', 'left')], 3, 2)), [
    'bob left.',
    '3 others joined.',
    '2 others left.',
  ]);
  assert.deepEqual(presenceLines(presence([], 0, 1)), ['1 other left.']);
});

test('numbered lines stand in number order: a late line goes in its place, a number shown twice is shown once', () => {
  const log = new ChatLog();
  log.line('bob', 'one', 1, false, 1);
  log.line('bob', 'four', 4, false, 4);
  const mine = log.own('alice', 'typed while away', 5);
  assert.equal(log.line('bob', 'two', 2, false, 2, true) !== undefined, true);
  log.line('bob', 'three', 3, false, 3, true);
  assert.equal(log.line('bob', 'two again', 2, false, 2, true), undefined, 'number 2 is already shown');
  const texts = () => log.entries.map((e) => (e.kind === 'line' ? e.text : e.text));
  assert.deepEqual(texts(), ['one', 'two', 'three', 'four', 'typed while away']);
  assert.deepEqual(
    log.entries.filter((e) => e.kind === 'line' && e.late).map((e) => (e.kind === 'line' ? e.text : '')),
    ['two', 'three'],
  );
  // A line said by someone else after this page's own line was typed but before it was stored goes above it.
  log.line('bob', 'six', 6, false, 6);
  log.sending(mine);
  log.sent(mine, 0);
  log.receipt(0, 'delivered', '', 7);
  assert.deepEqual(texts(), ['one', 'two', 'three', 'four', 'six', 'typed while away']);
  log.line('bob', 'five', 5, false, 5, true);
  assert.deepEqual(texts(), ['one', 'two', 'three', 'four', 'five', 'six', 'typed while away']);
});

test('an own line numbered below a line shown moves to its place', () => {
  const log = new ChatLog();
  const mine = log.own('alice', 'mine', 1);
  log.line('bob', 'after mine', 2, false, 9);
  log.sending(mine);
  log.sent(mine, 0);
  log.receipt(0, 'delivered', '', 8);
  assert.deepEqual(
    log.entries.map((e) => (e.kind === 'line' ? e.text : '')),
    ['mine', 'after mine'],
  );
});

test('a new epoch keeps the lines shown, unnumbered, so that the new numbers start below them', () => {
  const log = new ChatLog();
  log.line('bob', 'old one', 1, false, 1);
  log.line('bob', 'old two', 2, false, 2);
  log.newEpoch();
  assert.notEqual(log.line('bob', 'new one', 3, false, 1), undefined, 'number 1 of the new epoch is a new line');
  log.line('bob', 'new two', 4, false, 2);
  assert.deepEqual(
    log.entries.map((e) => (e.kind === 'line' ? `${e.text} ${e.n ?? '-'}` : '')),
    ['old one -', 'old two -', 'new one 1', 'new two 2'],
  );
});
