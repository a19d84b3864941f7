/**
 * The exactly-once rule for resent lines (shared/outbox.ts on the page, the log's origin dedupe on the server),
 * held against the real memory log: whatever a drop cuts (the tail of the lines on their way, the tail of the
 * receipts on theirs), resending what has no receipt after each resume stores every line once, in the order typed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ephemeralChatKey } from '../../server/log/chat-key.ts';
import { MemoryStore } from '../../server/log/memory.ts';
import { createChatLog, createLogSealer } from '../../server/log/sealed.ts';
import { Outbox } from '../../shared/outbox.ts';

test('the outbox numbers lines for the whole chat and holds each until its receipt', () => {
  const outbox = new Outbox();
  assert.deepEqual([outbox.add('a'), outbox.add('b'), outbox.add('c')], [0, 1, 2]);
  assert.equal(outbox.settle(1), true);
  assert.equal(outbox.settle(1), false, 'a second receipt for the same id settles nothing');
  assert.deepEqual(outbox.resend(), [
    { id: 0, text: 'a' },
    { id: 2, text: 'c' },
  ]);
  assert.equal(outbox.add('d'), 3, 'ids go on after a resend: they are never reused');
  assert.deepEqual(outbox.abandon(), [0, 2, 3]);
  assert.equal(outbox.size, 0);
  assert.equal(outbox.add('e'), 4);
});

/** One connection: of what the page sends, the server gets a prefix; of the receipts, the page gets a prefix. */
const connection = fc.record({
  /** New lines typed during this connection. */
  typed: fc.integer({ min: 0, max: 6 }),
  /** How many of the frames sent (resends first, then the new lines) reach the server before the cut. */
  reach: fc.nat({ max: 12 }),
  /** How many of the receipts for those get back before the cut. */
  back: fc.nat({ max: 12 }),
});

test('resending what has no receipt after every resume stores each line exactly once, in typing order', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(connection, { maxLength: 8 }), async (connections) => {
      const log = await createChatLog(new MemoryStore(), await createLogSealer(ephemeralChatKey()));
      const outbox = new Outbox();
      const identity = 'participant-1';
      let typed = 0;
      /** Sends `frames` over one connection that the server reads `reach` of and answers `back` of. */
      const run = async (frames: { id: number; text: string }[], reach: number, back: number) => {
        const answered: number[] = [];
        for (const frame of frames.slice(0, reach)) {
          const appended = await log.append({
            kind: 'line',
            from: 'alice',
            text: frame.text,
            origin: { identity, lineId: frame.id },
          });
          assert.ok(appended.n >= 1, 'every append is numbered');
          answered.push(frame.id);
        }
        for (const id of answered.slice(0, back)) outbox.settle(id);
      };
      for (const { typed: count, reach, back } of connections) {
        const frames = outbox.resend();
        for (let i = 0; i < count; i++) {
          const text = `line ${typed++}`;
          frames.push({ id: outbox.add(text), text });
        }
        await run(frames, reach, back);
      }
      // The last connection stays up: everything left is resent and answered.
      const rest = outbox.resend();
      await run(rest, rest.length, rest.length);
      assert.equal(outbox.size, 0, 'every line has its receipt in the end');
      const stored = (await log.readAfter(0, 1000)).map((entry) => entry.text);
      assert.deepEqual(
        stored,
        Array.from({ length: typed }, (_, i) => `line ${i}`),
        'each line once, in typing order',
      );
      await log.close();
    }),
    { numRuns: 200 },
  );
});
