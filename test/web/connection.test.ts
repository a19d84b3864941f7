/**
 * web/connection.ts's state machine, driven in Node through a socket stand-in and a minimal server made of the
 * shared handshake and record code, with hand-run timers: when it retries, when it never does, what it closes
 * with, and what it writes into the wire log for the inspector (the log itself: wire-log.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServerBody } from '../../shared/protocol.ts';
import {
  Connection,
  REFUSALS_BEFORE_PAUSE,
  type ConnectionOptions,
  type ConnectionState,
} from '../../web/connection.ts';
import { statusText } from '../../web/status-text.ts';
import { STEP_ORDER } from '../../web/steps.ts';
import type { StepEvent } from '../../web/wire-log.ts';
import { rejectsWith } from '../helpers/expect-error.ts';
import { eventually, fakeNetwork, FakeSocket, makeKeyPair } from './fake-server.ts';

interface Harness {
  connection: Connection;
  network: ReturnType<typeof fakeNetwork>;
  sockets: FakeSocket[];
  /** What the connection reported through its events, in order. */
  states: ConnectionState[];
  steps: StepEvent[];
  bodies: ServerBody[];
  keyPairsMade: () => number;
  until(phase: ConnectionState['phase']): Promise<ConnectionState>;
}

function harness(options: Partial<ConnectionOptions> & { answer?: boolean; mode?: 'secure' | 'plain' } = {}): Harness {
  const { answer = true, mode = 'secure', ...overrides } = options;
  const network = fakeNetwork({ answer, mode });
  const states: ConnectionState[] = [];
  const steps: StepEvent[] = [];
  const bodies: ServerBody[] = [];
  const waiting = new Set<(state: ConnectionState) => void>();
  let made = 0;
  const connection = new Connection({
    url: 'ws://localhost:8080/ws',
    name: 'alice',
    acceptPlain: mode === 'plain',
    trust: async () => true,
    keyPair: makeKeyPair(),
    generateKeyPair: () => {
      made++;
      return makeKeyPair();
    },
    ...network.options,
    events: {
      state: (state) => {
        states.push(state);
        for (const waiter of [...waiting]) waiter(state);
      },
      step: (event) => steps.push(event),
      body: (body) => bodies.push(body),
    },
    ...overrides,
  });
  return {
    connection,
    network,
    sockets: network.sockets,
    states,
    steps,
    bodies,
    keyPairsMade: () => made,
    until(phase) {
      if (connection.state.phase === phase) return Promise.resolve(connection.state);
      return new Promise((resolve, reject) => {
        const waiter = (state: ConnectionState) => {
          if (state.phase === phase) {
            waiting.delete(waiter);
            resolve(state);
          } else if (state.phase === 'ended') {
            // An end is final: waiting on would hang the test instead of failing it.
            waiting.delete(waiter);
            reject(new Error(`ended (${JSON.stringify(state.end)}) while waiting for ${phase}`));
          }
        };
        waiting.add(waiter);
      });
    },
  };
}

/** A harness already through the handshake. */
async function secured(options: Parameters<typeof harness>[0] = {}): Promise<Harness> {
  const h = harness(options);
  h.connection.connect();
  await h.until('secure');
  return h;
}

const pendingRetries = (h: Harness) => h.network.pendingRetries();

/** Ended as `end`, and nothing later (a close, a drop) brings a retry. */
function assertEndedForGood(h: Harness, end: unknown): void {
  h.sockets.at(-1)!.drop(1006);
  assert.deepEqual(h.connection.state, { phase: 'ended', end });
  assert.deepEqual(pendingRetries(h), []);
}

test('connect: connecting, securing, then secure, with every handshake step and the wire in the log', async () => {
  const h = harness();
  h.connection.connect();
  const state = await h.until('secure');
  assert.deepEqual(
    h.states.map((s) => s.phase),
    ['connecting', 'securing', 'secure'],
  );
  const steps = ['keypair', 'hello', 'welcome', 'verified', 'trusted', 'unwrapped', 'ready'];
  assert.deepEqual(
    h.steps.map((s) => s.step),
    steps,
  );
  assert.deepEqual(STEP_ORDER, steps, 'the page names the steps in the order they come');
  assert.deepEqual(h.connection.wire.steps, h.steps, 'the wire log keeps the same steps');
  assert.ok(state.phase === 'secure' && /^[0-9A-F]{4}( [0-9A-F]{4}){15}$/.test(state.identity.fingerprint));
  const frames = h.connection.wire.frames;
  assert.deepEqual(
    frames.map((w) => [w.direction, JSON.parse(w.data).type, w.connection, w.check.state]),
    [
      ['out', 'hello', 0, 'made'],
      ['in', 'welcome', 0, 'passed'],
    ],
  );
  assert.deepEqual(
    frames.map((w) => w.data),
    h.sockets[0]!.sent.slice(0, 1).concat(frames[1]!.data),
  );
});

test('a line goes out as a record and its receipt comes back naming the id sendLine returned', async () => {
  const h = await secured();
  const id = await h.connection.sendLine('hello <b>there</b>');
  await eventually(() => h.bodies.length > 0, 'the receipt');
  assert.deepEqual(h.sockets[0]!.server.received, [{ kind: 'line', id, text: 'hello <b>there</b>' }]);
  assert.deepEqual(h.bodies, [{ kind: 'receipt', id, status: 'delivered', reason: '', n: 1 }]);
});

test('sendLine refuses while the chat is not ready (PROTO_UNEXPECTED, as the session does), instead of losing the line', async () => {
  const h = harness({ answer: false });
  h.connection.connect();
  await h.until('securing');
  await rejectsWith(h.connection.sendLine('too early'), 'PROTO_UNEXPECTED');
});

test('an unexpected drop retries after the backoff with a fresh key pair and a new handshake', async () => {
  const h = await secured();
  h.sockets[0]!.drop(1006);
  const down = h.connection.state;
  assert.ok(down.phase === 'disconnected' && !down.paused);
  assert.deepEqual([down.code, down.attempt, down.delayMs], [1006, 1, 500]);
  assert.equal(h.keyPairsMade(), 1, 'the next key pair is made during the wait');
  h.network.retry();
  await h.until('secure');
  assert.equal(h.sockets.length, 2);
  const hellos = h.sockets.map((s) => JSON.parse(s.sent[0]!).publicKey);
  assert.notEqual(hellos[0], hellos[1], 'a reconnect must not reuse the key pair');
  // Secure again resets the schedule: the next drop waits 0.5 s again.
  h.sockets[1]!.drop(1001, 'going away');
  const again = h.connection.state;
  assert.ok(again.phase === 'disconnected' && !again.paused);
  assert.deepEqual([again.delayMs, again.attempt, again.reason, again.unverified], [500, 1, 'going away', true]);
});

test('drops in a row back off 0.5 s, 1 s, 2 s, 4 s', async () => {
  const h = harness({
    createSocket: () => {
      const socket = new FakeSocket({ answer: true, mode: 'secure' });
      queueMicrotask(() => socket.drop(1006)); // the server is down: every attempt fails at once
      return socket;
    },
  });
  h.connection.connect();
  const delays: number[] = [];
  for (let i = 0; i < 4; i++) {
    const state = await h.until('disconnected');
    assert.ok(state.phase === 'disconnected' && !state.paused);
    delays.push(state.delayMs);
    h.network.retry();
  }
  assert.deepEqual(delays, [500, 1000, 2000, 4000]);
});

test('EXIT says bye inside the channel, closes with 1000 and never retries', async () => {
  const h = await secured();
  await h.connection.end('EXIT');
  await eventually(() => h.sockets[0]!.server.received.length > 0, 'the bye');
  assert.deepEqual(h.sockets[0]!.server.received, [{ kind: 'bye', word: 'EXIT' }]);
  assert.deepEqual(h.sockets[0]!.closed, { code: 1000, reason: 'EXIT typed in the page' });
  assertEndedForGood(h, { by: 'you', word: 'EXIT' });
  // The bye crossed the wire after the chat ended on the page, and the wire log still shows it.
  const last = h.connection.wire.frames.at(-1)!;
  assert.equal(last.direction, 'out');
  assert.equal(JSON.parse(last.data).type, 'record');
  assert.deepEqual(last.body, { kind: 'bye', word: 'EXIT' });
});

test('END while waiting to reconnect cancels the retry', async () => {
  const h = await secured();
  h.sockets[0]!.drop(1006);
  await h.connection.end('END');
  assertEndedForGood(h, { by: 'you', word: 'END' });
});

test('an authenticated end body still ends the chat, with its code and reason; the close after it is not a drop', async () => {
  const h = await secured();
  await h.sockets[0]!.server.say({ kind: 'end', code: 'CHAT_ENDED', reason: 'The server operator ended the chat' });
  await h.until('ended');
  assert.equal(h.sockets[0]!.closed?.code, 1000);
  assertEndedForGood(h, {
    by: 'server',
    code: 'CHAT_ENDED',
    reason: 'The server operator ended the chat',
    verified: true,
  });
});

test('a refusal the server makes with keys comes as an authenticated end (LIMIT_RATE) and is final', async () => {
  const h = await secured();
  await h.sockets[0]!.server.say({
    kind: 'end',
    code: 'LIMIT_RATE',
    reason: 'more than 20 lines a second, for too long',
  });
  await h.until('ended');
  h.sockets[0]!.drop(1008, 'LIMIT_RATE: more than 20 lines a second, for too long');
  assertEndedForGood(h, {
    by: 'server',
    code: 'LIMIT_RATE',
    reason: 'more than 20 lines a second, for too long',
    verified: true,
  });
});

test('an end body in plain mode ends the chat, but is marked unverified: nothing authenticates it', async () => {
  const h = harness({ mode: 'plain' });
  h.connection.connect();
  await h.until('plain');
  await h.sockets[0]!.server.say({ kind: 'end', code: 'CHAT_ENDED', reason: 'bye' });
  await h.until('ended');
  assertEndedForGood(h, { by: 'server', code: 'CHAT_ENDED', reason: 'bye', verified: false });
});

test("a plain server's signed welcome to a page that did not allow plain mode ends the chat for good", async () => {
  const h = harness({ mode: 'plain', acceptPlain: false });
  h.connection.connect();
  const state = await h.until('ended');
  assert.deepEqual(state, { phase: 'ended', end: { by: 'plain-refused' } });
  assert.equal(h.sockets[0]!.closed?.code, 4008);
  assert.match(h.sockets[0]!.closed?.reason ?? '', /^1008 HANDSHAKE_PLAIN_REFUSED: /);
  assert.equal(h.sockets[0]!.sent.length, 1, 'nothing but hello was sent');
  assertEndedForGood(h, { by: 'plain-refused' });
});

test('a tampered record ends the chat as an integrity failure, closed with 1008 sent as 4008, never retried', async () => {
  const h = await secured();
  await h.sockets[0]!.server.say(
    { kind: 'line', from: 'console', text: 'forged', at: Date.now(), direct: false, n: 1, late: false },
    true,
  );
  const state = await h.until('ended');
  assert.ok(state.phase === 'ended' && state.end.by === 'integrity');
  assert.deepEqual([state.end.code, state.end.closeCode, state.end.sentCode], ['RECORD_BAD_MAC', 1008, 4008]);
  assert.equal(h.sockets[0]!.closed?.code, 4008);
  assert.match(h.sockets[0]!.closed?.reason ?? '', /^1008 RECORD_BAD_MAC: /);
  assert.ok(new TextEncoder().encode(h.sockets[0]!.closed?.reason).length <= 123);
  assert.deepEqual(h.bodies, [], 'the forged line is never shown');
  const forged = h.connection.wire.frames.at(-1)!;
  assert.deepEqual([forged.direction, forged.check.state === 'failed' && forged.check.code], ['in', 'RECORD_BAD_MAC']);
  h.sockets[0]!.drop(4008);
  assert.deepEqual(pendingRetries(h), []);
});

test('a binary frame is refused as unsupported data (1003, sent as 4003)', async () => {
  const h = await secured();
  h.sockets[0]!.message(new ArrayBuffer(4));
  const state = h.connection.state;
  assert.ok(state.phase === 'ended' && state.end.by === 'integrity' && state.end.code === 'PROTO_BINARY');
  assert.equal(h.sockets[0]!.closed?.code, 4003);
});

test('a refused server key ends the chat as a trust decision; nothing but hello was sent', async () => {
  const h = harness({ trust: async () => false });
  h.connection.connect();
  const state = await h.until('ended');
  assert.ok(state.phase === 'ended' && state.end.by === 'trust');
  assert.equal(h.sockets[0]!.sent.length, 1);
  assert.equal(JSON.parse(h.sockets[0]!.sent[0]!).type, 'hello');
  assert.equal(h.sockets[0]!.closed?.code, 4008);
  assert.deepEqual(pendingRetries(h), []);
});

test('a trust decision that comes after its connection dropped counts for nothing', async () => {
  let decide: (ok: boolean) => void = () => undefined;
  let asked: () => void = () => undefined;
  const waiting = new Promise<void>((resolve) => (asked = resolve));
  const h = harness({
    trust: () =>
      new Promise((resolve) => {
        decide = resolve;
        asked();
      }),
  });
  h.connection.connect();
  await waiting; // the welcome verified and the page waits for a person
  h.sockets[0]!.drop(1006);
  decide(false);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(h.connection.state.phase, 'disconnected', 'a stale "no" must not end the chat');
});

test('a forged close 1000 without an end body is a disconnection, not an end, and the page reconnects', async () => {
  const h = await secured();
  h.sockets[0]!.drop(1000, 'The server operator ended the chat (END)');
  const state = h.connection.state;
  assert.ok(state.phase === 'disconnected' && !state.paused);
  assert.deepEqual(
    [state.code, state.reason, state.unverified, state.attempt],
    [1000, 'The server operator ended the chat (END)', true, 1],
  );
  h.network.retry();
  await h.until('secure');
  assert.equal(h.sockets.length, 2);
});

test('a forged close 1008 with a U+202E reason is a drop, shown neutralized and marked unverified, and retried', async () => {
  const h = await secured();
  const reason = 'HANDSHAKE_PLAIN_REFUSED: \u202etxt.exe';
  h.sockets[0]!.drop(1008, reason);
  const state = h.connection.state;
  assert.ok(state.phase === 'disconnected' && !state.paused);
  assert.deepEqual([state.code, state.reason, state.unverified], [1008, reason, true]);
  const shown = statusText(state, state.retryAt - 1000);
  assert.ok(!shown.includes('\u202e'), 'no raw U+202E on the page');
  assert.equal(
    shown,
    'Disconnected (1008 policy violation; its close frame said \u2068“HANDSHAKE_PLAIN_REFUSED: \\u202etxt.exe”\u2069, unverified): reconnecting in 1 s (attempt 1)',
  );
  assert.equal(pendingRetries(h).length, 1);
  h.network.retry();
  await h.until('secure');
});

test('refusal-like closes (1002, 1003, 1007, 1008, 1009) are drops too: nothing authenticates them', async () => {
  for (const code of [1002, 1003, 1007, 1008, 1009, 4008]) {
    const h = await secured();
    h.sockets[0]!.drop(code, 'HANDSHAKE_PLAIN_REFUSED: no');
    const state = h.connection.state;
    assert.ok(state.phase === 'disconnected' && !state.paused && state.unverified, `code ${code}`);
    assert.equal(pendingRetries(h).length, 1);
  }
});

test(`${REFUSALS_BEFORE_PAUSE} refusal-like closes in a row before any handshake pause the retries until Reconnect now`, async () => {
  let refuse = true;
  const h = harness({
    createSocket: () => {
      const socket = new FakeSocket({ answer: true, mode: 'secure' });
      h.sockets.push(socket);
      queueMicrotask(() => {
        socket.open();
        // Someone on the path answers every hello with a forged refusal, before the welcome can come.
        if (refuse) socket.drop(1008, 'LIMIT_RATE: forged');
      });
      return socket;
    },
  });
  h.connection.connect();
  for (let attempt = 1; attempt < REFUSALS_BEFORE_PAUSE; attempt++) {
    const state = await h.until('disconnected');
    assert.ok(state.phase === 'disconnected' && !state.paused, `attempt ${attempt} is retried by itself`);
    h.network.retry();
  }
  const paused = await h.until('disconnected');
  assert.ok(paused.phase === 'disconnected' && paused.paused);
  assert.deepEqual(pendingRetries(h), [], 'no timer: the page waits for the person');
  assert.match(statusText(paused, 0), /not retrying by itself after 5 refusals in a row$/);
  refuse = false;
  h.connection.retryNow();
  await h.until('secure');
  assert.equal(h.sockets.length, REFUSALS_BEFORE_PAUSE + 1);
});

test('a completed handshake resets the refusal count: refusals after a good session start from the top', async () => {
  const h = await secured();
  for (let i = 0; i < REFUSALS_BEFORE_PAUSE + 2; i++) {
    h.sockets.at(-1)!.drop(1008, 'forged');
    const state = h.connection.state;
    assert.ok(state.phase === 'disconnected' && !state.paused, `drop ${i + 1}: a refusal while secure does not count`);
    h.network.retry();
    await h.until('secure');
  }
});

test('going away, a cut, a server error, a restart or a full server are retried', async () => {
  for (const code of [1001, 1005, 1006, 1011, 1012, 1013]) {
    const h = await secured();
    h.sockets[0]!.drop(code);
    assert.equal(h.connection.state.phase, 'disconnected', `code ${code}`);
    assert.equal(pendingRetries(h).length, 1);
  }
});

test('a server that never answers hello is dropped after the handshake timeout and retried', async () => {
  const h = harness({ answer: false });
  h.connection.connect();
  await h.until('securing');
  const timeout = h.network.timers.find((t) => t.ms === 15_000 && !t.cleared);
  assert.ok(timeout, 'a handshake timer runs while securing');
  timeout.run();
  const state = h.connection.state;
  assert.ok(state.phase === 'disconnected' && state.code === 1008);
  assert.equal(h.sockets[0]!.closed?.code, 4008);
  assert.equal(pendingRetries(h).length, 1);
});

test('plain mode is reported as plain, never as secure', async () => {
  const h = harness({ mode: 'plain' });
  h.connection.connect();
  const state = await h.until('plain');
  assert.ok(state.phase === 'plain' && state.identity.mode === 'plain');
  assert.ok(!h.states.some((s) => s.phase === 'secure'));
});

test('the wire log keeps only the newest frames', async () => {
  const h = await secured({ wireLimit: 3 });
  for (const text of ['a', 'b', 'c']) await h.connection.sendLine(text);
  await eventually(() => h.bodies.length === 3, 'three receipts');
  const log = h.connection.wire.frames;
  assert.equal(log.length, 3);
  assert.ok(
    log.every((w) => JSON.parse(w.data).type === 'record'),
    'hello and welcome, the oldest, are gone',
  );
  assert.equal(log.at(-1)!.direction, 'in', "the newest is the last line's receipt");
});

test('a line sealed after its connection dropped never went out, and the wire log does not show it', async () => {
  const h = await secured();
  const sending = h.connection.sendLine('too late');
  h.sockets[0]!.drop(1006); // the socket closes while the record is being sealed
  await sending; // the session sealed it and handed it to the socket, which had closed meanwhile
  assert.deepEqual(
    h.sockets[0]!.sent.map((d) => JSON.parse(d).type),
    ['hello'],
  );
  assert.deepEqual(
    h.connection.wire.frames.map((w) => [w.direction, JSON.parse(w.data).type]),
    [
      ['out', 'hello'],
      ['in', 'welcome'],
    ],
  );
});
