/**
 * The parser of what relays publish: every kind read back as written, anything else refused with a RangeError
 * (never another exception, never a guess), a message moved to another chat or channel refused.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseAnswer, parseEnvelope, type Envelope } from '../../../server/broker/messages.ts';

const RELAY = 'AAAAAAAAAAAAAAAA';
const OTHER = 'BBBBBBBBBBBBBBBB';
const ID = 'abcdefghijklmnop';
const where = { chat: 'wirechat', to: 'all' };
const alice = { id: 'p-alice', name: 'alice', relay: RELAY };

const valid: Envelope[] = [
  {
    v: 1,
    chat: 'wirechat',
    to: 'all',
    from: RELAY,
    id: ID,
    body: { t: 'event', event: { type: 'presence', change: 'join', participant: alice, reason: '' } },
  },
  {
    v: 1,
    chat: 'wirechat',
    to: 'all',
    from: RELAY,
    id: ID,
    body: { t: 'event', event: { type: 'relay-lost', relay: { id: OTHER, label: 'b:8443' }, participants: [alice] } },
  },
  {
    v: 1,
    chat: 'wirechat',
    to: 'all',
    from: RELAY,
    id: ID,
    body: { t: 'event', event: { type: 'end', by: 'console', reason: 'END' } },
  },
  { v: 1, chat: 'wirechat', to: 'all', from: RELAY, id: ID, body: { t: 'request', rid: ID, kind: 'who', body: {} } },
  {
    v: 1,
    chat: 'wirechat',
    to: 'all',
    from: RELAY,
    id: ID,
    body: { t: 'request', rid: ID, kind: 'kick', body: { id: 'p-alice', by: 'console', reason: 'spam' } },
  },
  {
    v: 1,
    chat: 'wirechat',
    to: 'all',
    from: RELAY,
    id: ID,
    body: { t: 'response', rid: ID, ok: true, answer: { kicked: true } },
  },
  {
    v: 1,
    chat: 'wirechat',
    to: 'all',
    from: RELAY,
    id: ID,
    body: { t: 'response', rid: ID, ok: false, error: 'no such kind' },
  },
];

describe('broker messages', () => {
  it('reads every kind back as it was written', () => {
    for (const envelope of valid)
      assert.deepEqual(parseEnvelope(JSON.parse(JSON.stringify(envelope)), where), envelope);
    assert.deepEqual(parseAnswer('who', { participants: [alice] }), { participants: [alice] });
    assert.deepEqual(parseAnswer('kick', { kicked: false }), { kicked: false });
  });

  it('refuses a message meant for another chat or another channel', () => {
    assert.throws(() => parseEnvelope(valid[0], { chat: 'other', to: 'all' }), /another chat/);
    assert.throws(() => parseEnvelope(valid[0], { chat: 'wirechat', to: OTHER }), /another channel/);
  });

  it('refuses a field too many, a field missing, and a wrong type, each with a RangeError', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...valid),
        fc.constantFrom('add', 'drop', 'retype'),
        fc.nat(),
        (envelope, how, pick) => {
          const copy = JSON.parse(JSON.stringify(envelope)) as Record<string, unknown>;
          // The objects inside the envelope, any of which may be spoiled.
          const objects: Array<Record<string, unknown>> = [];
          (function walk(value: unknown) {
            if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
              objects.push(value as Record<string, unknown>);
              Object.values(value).forEach(walk);
            } else if (Array.isArray(value)) value.forEach(walk);
          })(copy);
          const target = objects[pick % objects.length]!;
          const keys = Object.keys(target);
          if (how === 'add') target.extra = 1;
          else if (keys.length === 0)
            return; // an empty body has nothing to drop or retype
          else if (how === 'drop') delete target[keys[pick % keys.length]!];
          else target[keys[pick % keys.length]!] = [Symbol.iterator.toString()];
          // An answer is read by the relay that asked, against the kind it asked (the only answer here is a kick's).
          assert.throws(() => {
            const { body } = parseEnvelope(copy, where);
            if (body.t === 'response' && body.ok) parseAnswer('kick', body.answer);
          }, RangeError);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('throws nothing but a RangeError for any JSON at all', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        try {
          parseEnvelope(value, where);
        } catch (error) {
          assert.ok(error instanceof RangeError, String(error));
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
