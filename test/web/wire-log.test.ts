/**
 * web/wire-log.ts on its own: frames numbered across connections, bounded, each incoming frame settled once its
 * outcome is known (and only the newest connection's), and listeners told of every change until they leave.
 * What the connection writes into it, through real handshakes: connection.test.ts and inspect.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServerBody, ServerFrame } from '../../shared/protocol.ts';
import { STEP_LIMIT, WireLog, type WireChange } from '../../web/wire-log.ts';

const RECEIPT: ServerBody = { kind: 'receipt', id: 0, status: 'delivered', reason: '', n: 1 };
const RECORD: ServerFrame = { type: 'record', seq: 0, token: 't', mac: 'm' };

test('frames are numbered from 0 across connections, timed and sized in UTF-8 bytes', () => {
  let clock = 1000;
  const log = new WireLog({ now: () => clock++ });
  log.recordOut(0, '{"type":"hello"}', undefined);
  log.recordIn(0, 'é', undefined);
  log.recordOut(1, '{"type":"hello"}', undefined);
  assert.deepEqual(
    log.frames.map((f) => [f.index, f.direction, f.connection, f.at, f.size, f.check.state]),
    [
      [0, 'out', 0, 1000, 16, 'made'],
      [1, 'in', 0, 1001, 2, 'pending'],
      [2, 'out', 1, 1002, 16, 'made'],
    ],
  );
});

test('only the newest frames are kept, and the index still counts every frame', () => {
  const log = new WireLog({ limit: 3 });
  for (let i = 0; i < 5; i++) log.recordOut(0, `${i}`, undefined);
  assert.deepEqual(
    log.frames.map((f) => [f.index, f.data]),
    [
      [2, '2'],
      [3, '3'],
      [4, '4'],
    ],
  );
});

test('settle replaces the newest incoming frame with its outcome and its body, keeping its place and index', () => {
  const log = new WireLog();
  log.recordIn(0, 'welcome', undefined);
  const welcome = log.frames[0]!;
  log.settle({ state: 'passed' });
  log.recordOut(0, 'line', { kind: 'line', id: 0, text: 'hi' });
  log.recordIn(0, 'receipt', RECORD);
  log.settle({ state: 'passed' }, RECEIPT);
  assert.notEqual(log.frames[0], welcome, 'replaced, never changed: a view can tell by identity');
  assert.equal(welcome.check.state, 'pending');
  assert.deepEqual(
    log.frames.map((f) => [f.index, f.data, f.check.state, f.body?.kind]),
    [
      [0, 'welcome', 'passed', undefined],
      [1, 'line', 'made', 'line'],
      [2, 'receipt', 'passed', 'receipt'],
    ],
  );
  // A later verdict on the same frame (a plain welcome refused after its signature verified) replaces the first.
  log.settle({ state: 'failed', code: 'HANDSHAKE_PLAIN_REFUSED', message: 'm' });
  assert.deepEqual(log.frames[2]!.check, { state: 'failed', code: 'HANDSHAKE_PLAIN_REFUSED', message: 'm' });
  assert.deepEqual(log.frames[2]!.body, RECEIPT, 'the body it was read with stays');
});

test("a frame of a connection that is gone stays pending: the next connection's outcomes are not its own", () => {
  const log = new WireLog();
  log.recordIn(0, 'last frame of connection 0', undefined);
  log.recordOut(1, 'hello of connection 1', undefined);
  log.settle({ state: 'passed' });
  assert.equal(log.frames[0]!.check.state, 'pending');
});

test('a settled frame that has already left the log is still settled for later verdicts, and the log is not grown', () => {
  const log = new WireLog({ limit: 2 });
  log.recordIn(0, 'in', undefined);
  log.recordOut(0, 'a', undefined);
  log.recordOut(0, 'b', undefined);
  log.settle({ state: 'passed' });
  assert.deepEqual(
    log.frames.map((f) => [f.data, f.check.state]),
    [
      ['a', 'made'],
      ['b', 'made'],
    ],
  );
});

test('steps are kept for the last fifty connections', () => {
  const log = new WireLog();
  for (let connection = 0; connection < 60; connection++) {
    for (const step of ['keypair', 'hello', 'welcome', 'verified', 'trusted', 'unwrapped', 'ready'] as const) {
      log.step({ step, ms: 1, connection });
    }
  }
  assert.equal(STEP_LIMIT, 7 * 50);
  assert.equal(log.steps.length, STEP_LIMIT);
  assert.equal(log.steps[0]!.connection, 10);
});

test('listeners hear every change, in order, until they unsubscribe', () => {
  const log = new WireLog();
  const heard: string[] = [];
  const describe = (c: WireChange) =>
    c.kind === 'step' ? `step ${c.step.step}` : `${c.kind} ${c.frame.index} ${c.frame.check.state}`;
  const off = log.subscribe((change) => heard.push(describe(change)));
  log.recordOut(0, 'hello', undefined);
  log.step({ step: 'hello', ms: 3, connection: 0 });
  log.recordIn(0, 'welcome', undefined);
  log.settle({ state: 'passed' });
  off();
  log.recordOut(0, 'unheard', undefined);
  assert.deepEqual(heard, ['frame 0 made', 'step hello', 'frame 1 pending', 'settled 1 passed']);
});
