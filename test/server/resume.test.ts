/**
 * Resume secrets (server/resume.ts): only this chat's key makes one, any change breaks it, and the rules that
 * refuse a seat before the log is asked to spend it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ephemeralChatKey } from '../../server/log/chat-key.ts';
import {
  missedWithoutResume,
  newParticipant,
  SeatKeeper,
  seatOrigin,
  seatProblem,
  type Seat,
} from '../../server/resume.ts';

const seat: Seat = { participant: newParticipant(), serial: 1, epoch: 'epoch-A', issuedAfter: 41, name: 'alice' };

test('a secret opens to its seat under the key that made it, and under no other', () => {
  const key = ephemeralChatKey();
  const keeper = new SeatKeeper(key);
  const secret = keeper.issue(seat);
  assert.deepEqual(keeper.open(secret), seat);
  assert.deepEqual(new SeatKeeper(key).open(secret), seat, 'the same chat key after a restart opens it');
  assert.equal(new SeatKeeper(ephemeralChatKey()).open(secret), undefined, 'another chat key does not');
  assert.notEqual(keeper.issue(seat), secret, 'two secrets for one seat differ (a fresh nonce each)');
});

test('a participant identity and the secret carry at least 128 random bits', () => {
  assert.equal(Buffer.from(newParticipant(), 'base64url').length, 16);
  const payload = new SeatKeeper(ephemeralChatKey()).issue(seat).split('.')[0]!;
  const fields = JSON.parse(Buffer.from(payload, 'base64url').toString()) as unknown[];
  assert.equal(Buffer.from(fields[6] as string, 'base64url').length, 16, 'a 16-byte nonce in every secret');
});

test('any change to a secret, or any text that is not one, opens to nothing', () => {
  const keeper = new SeatKeeper(ephemeralChatKey());
  const secret = keeper.issue(seat);
  fc.assert(
    fc.property(fc.nat({ max: secret.length - 1 }), fc.constantFrom(...'ABCabc0129-_.'), (at, c) => {
      const changed = secret.slice(0, at) + c + secret.slice(at + 1);
      if (changed === secret) return;
      assert.equal(keeper.open(changed), undefined, `changed at ${at}`);
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (text) => {
      assert.equal(keeper.open(text), undefined);
    }),
  );
  // A forged payload with a MAC from another seat's secret.
  const other = keeper.issue({ ...seat, participant: newParticipant() });
  assert.equal(keeper.open(`${other.split('.')[0]}.${secret.split('.')[1]}`), undefined);
});

test('a seat from another epoch, or given before what the log dropped, is refused before it is spent', () => {
  const position = { epoch: 'epoch-A', first: 42, last: 90 };
  assert.equal(seatProblem(undefined, position), 'unknown');
  assert.equal(seatProblem({ ...seat, epoch: 'epoch-B' }, position), 'epoch');
  assert.equal(
    seatProblem(seat, position),
    undefined,
    'given at 41 and the log holds 42 on: its spending entry would be held',
  );
  assert.equal(seatProblem(seat, { ...position, first: 43 }), 'trimmed', 'line 42, after it was given, is gone');
});

test('the origin that spends a seat is its own, apart from every line origin', () => {
  assert.deepEqual(seatOrigin(seat), { identity: `seat:${seat.participant}`, lineId: 1 });
  assert.notEqual(seatOrigin(seat).identity, seat.participant);
});

test('a page that does not resume is told what was said since its last line, when the epoch is the same', () => {
  const position = { epoch: 'epoch-A', first: 1, last: 90 };
  assert.equal(missedWithoutResume({ epoch: 'epoch-A', last: 80 }, position), 10);
  assert.equal(missedWithoutResume({ epoch: 'epoch-A', last: 95 }, position), 0);
  assert.equal(missedWithoutResume({ epoch: 'epoch-B', last: 80 }, position), 0);
});
