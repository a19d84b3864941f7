/**
 * web/controller.ts: what the person sees and what happens to their lines, through real handshakes with the
 * minimal server of fake-server.ts: trust on first use and the changed-key decision, the outbox across a
 * reconnect, receipts, EXIT, and refusing lines the protocol would refuse.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChatLine } from '../../web/chat-log.ts';
import type { ConnectionState } from '../../web/connection.ts';
import { Controller, type AppView } from '../../web/controller.ts';
import { MemoryStorage, TrustStore } from '../../web/trust-store.ts';
import { eventually, fakeNetwork, makeKeyPair } from './fake-server.ts';

const HOST = 'localhost:8080';

function setup(options: { identity?: Promise<CryptoKeyPair>; storage?: MemoryStorage; answer?: boolean } = {}) {
  const network = fakeNetwork({ identity: options.identity, answer: options.answer ?? true });
  const storage = options.storage ?? new MemoryStorage();
  let view: AppView | undefined;
  let renders = 0;
  const controller = new Controller({
    host: HOST,
    url: `ws://${HOST}/ws`,
    insecureReason: undefined,
    defaultName: 'guest-abcd',
    trustStore: new TrustStore(storage),
    generateKeyPair: makeKeyPair,
    render: (next) => {
      renders++;
      view = next;
    },
    connection: network.options,
  });
  const current = () => view ?? controller.view;
  return {
    controller,
    renders: () => renders,
    sockets: network.sockets,
    retry: network.retry,
    storage,
    view: current,
    own: () => current().entries.filter((e): e is ChatLine => e.kind === 'line' && e.own),
    /** Types a line and says what came of it: the error shown under the field, or 'taken'. */
    type(text: string): string {
      const before = current().composer.taken;
      controller.send(text);
      const after = current().composer;
      assert.equal(after.taken, after.error === '' ? before + 1 : before, 'a line is taken or refused, never both');
      return after.error === '' ? 'taken' : after.error;
    },
    async phase(phase: ConnectionState['phase']) {
      await eventually(() => current().state.phase === phase, `the ${phase} state`);
    },
  };
}

const statuses = (lines: ChatLine[]) => lines.map((l) => [l.text, l.status]);

const OLD_PIN = '0000 '.repeat(16).trim();

/** A page that remembers another key for this host, connected and showing the warning. */
async function warned() {
  const storage = new MemoryStorage();
  new TrustStore(storage).pin(HOST, OLD_PIN);
  const s = setup({ storage });
  s.controller.connect('alice', false);
  await eventually(() => s.view().trustPrompt !== undefined, 'the warning');
  return s;
}

test('first contact pins the fingerprint and says so; the next visit finds it the same', async () => {
  const storage = new MemoryStorage();
  const first = setup({ storage });
  assert.equal(first.view().stage, 'join');
  first.controller.connect('  alice  ', false);
  await first.phase('secure');
  const identity = first.view().identity;
  assert.ok(identity);
  assert.equal(identity.trust, 'first');
  assert.equal(new TrustStore(storage).pinned(HOST), identity.fingerprint);
  assert.equal(identity.name, 'alice');
  assert.deepEqual(
    first.view().steps.map((s) => s.step),
    ['keypair', 'hello', 'welcome', 'verified', 'trusted', 'unwrapped', 'ready'],
  );

  const again = setup({ storage });
  again.controller.connect('alice', false);
  await again.phase('secure');
  assert.equal(again.view().identity?.trust, 'same');
});

test('the pin is first read as the chat starts, while the socket opens, and again at the welcome', async () => {
  // The browser loads a page's storage on the first read, synchronously: that must not land mid-handshake.
  const reads: string[][] = [];
  class Watched extends MemoryStorage {
    override getItem(key: string): string | null {
      reads.push(s.view().steps.map((step) => step.step));
      return super.getItem(key);
    }
  }
  const s = setup({ storage: new Watched() });
  s.controller.connect('alice', false);
  assert.deepEqual(reads.slice(), [[]], 'read once by connect(), before any step of the handshake');
  await s.phase('secure');
  assert.equal(reads.length, 2, 'and the trust check reads it afresh');
  assert.ok(
    reads[1]!.includes('verified') && !reads[1]!.includes('unwrapped'),
    'after the signature, before the unwrap',
  );
});

test('a line is shown at once as sending and becomes delivered by its receipt', async () => {
  const s = setup();
  s.controller.connect('alice', false);
  await s.phase('secure');
  assert.equal(s.type('<img src=x onerror=alert(1)>'), 'taken');
  assert.deepEqual(statuses(s.own()), [['<img src=x onerror=alert(1)>', 'sending']]);
  await eventually(() => s.own()[0]?.status === 'delivered', 'the receipt');
  assert.deepEqual(s.sockets[0]!.server.received, [{ kind: 'line', id: 0, text: '<img src=x onerror=alert(1)>' }]);
});

test('lines typed before the chat is secure wait in the outbox and go out in order once it is', async () => {
  const s = setup();
  s.controller.connect('alice', false);
  assert.equal(s.type('one'), 'taken');
  assert.equal(s.type('two'), 'taken');
  assert.deepEqual(statuses(s.own()), [
    ['one', 'queued'],
    ['two', 'queued'],
  ]);
  await eventually(() => s.own().every((l) => l.status === 'delivered'), 'both delivered');
  assert.deepEqual(
    s.sockets[0]!.server.received.map((b) => (b as { text: string }).text),
    ['one', 'two'],
  );
});

test('across a drop: lines the resume cannot confirm are marked not delivered, lines typed meanwhile go out after it', async () => {
  const s = setup();
  s.controller.connect('alice', false);
  await s.phase('secure');
  s.sockets[0]!.server.handle = async () => undefined; // the server stops answering: no receipt will come
  assert.equal(s.type('lost'), 'taken');
  await eventually(() => s.sockets[0]!.sent.length === 2, 'the line on the wire');
  s.sockets[0]!.drop(1006);
  assert.equal(s.view().state.phase, 'disconnected');
  assert.equal(s.type('typed while down'), 'taken');
  // Still waiting: it goes again, under its id, if the server gives this page its place back.
  assert.deepEqual(statuses(s.own()), [
    ['lost', 'sending'],
    ['typed while down', 'queued'],
  ]);
  assert.ok(s.view().entries.some((e) => e.kind === 'system' && /Connection lost/.test(e.text)));
  s.retry();
  await s.phase('secure');
  // This server keeps no history: a new participant, told so, and the line nobody can confirm is marked.
  assert.ok(
    s.view().entries.some((e) => e.kind === 'system' && /new participant.*could not be recovered/.test(e.text)),
  );
  await eventually(() => s.own()[1]?.status === 'delivered', 'the queued line delivered');
  assert.equal(s.own()[0]!.status, 'not-delivered', 'never silently changed');
  assert.equal(s.view().connection, 1, 'the handshake shown is the new one');
  s.controller.resend(s.own()[0]!.key);
  await eventually(() => s.own()[2]?.status === 'delivered', 'the resent copy delivered');
  assert.deepEqual(statuses(s.own()), [
    ['lost', 'not-delivered'],
    ['typed while down', 'delivered'],
    ['lost', 'delivered'],
  ]);
});

test('a changed server key stops the handshake until the person decides; Disconnect ends it and keeps the pin', async () => {
  const s = await warned();
  const prompt = s.view().trustPrompt!;
  assert.equal(prompt.pinned, OLD_PIN);
  assert.match(prompt.presented, /^[0-9A-F]{4}( [0-9A-F]{4}){15}$/);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(s.sockets[0]!.sent.length, 1, 'only hello was sent while the warning is up');
  assert.equal(s.type('typed during the warning'), 'taken');
  s.controller.decideTrust(false);
  await s.phase('ended');
  const state = s.view().state;
  assert.ok(state.phase === 'ended' && state.end.by === 'trust');
  assert.equal(s.view().trustPrompt, undefined);
  assert.equal(new TrustStore(s.storage).pinned(HOST), OLD_PIN);
  assert.deepEqual(statuses(s.own()), [['typed during the warning', 'not-delivered']]);
});

test('Trust the new key goes on, replaces the pin and says the key changed', async () => {
  const s = await warned();
  const presented = s.view().trustPrompt!.presented;
  s.controller.decideTrust(true);
  await s.phase('secure');
  assert.equal(s.view().identity?.trust, 'replaced');
  assert.equal(new TrustStore(s.storage).pinned(HOST), presented);
});

test('EXIT in any case with spaces ends the chat, says bye, and the page says who ended it', async () => {
  const s = setup();
  s.controller.connect('alice', false);
  await s.phase('secure');
  assert.equal(s.type('  exit '), 'taken');
  await s.phase('ended');
  const state = s.view().state;
  assert.deepEqual(state.phase === 'ended' && state.end, { by: 'you', word: 'EXIT' });
  await eventually(() => s.sockets[0]!.server.received.length === 1, 'the bye');
  assert.deepEqual(s.sockets[0]!.server.received, [{ kind: 'bye', word: 'EXIT' }]);
  assert.deepEqual(s.own(), [], 'EXIT is a command, not a chat line');
  assert.equal(s.type('hello?'), 'the chat has ended');
});

test('lines the protocol would refuse are refused here, with the reason, and never queued', async () => {
  const s = setup();
  s.controller.connect('alice', false);
  assert.equal(s.type('   '), 'an empty line is not sent');
  assert.match(s.type('tab\there'), /control characters/);
  assert.match(s.type('x'.repeat(4097)), /at most 4096 bytes/);
  assert.deepEqual(s.own(), []);
  assert.equal(s.type('fine'), 'taken');
  assert.equal(s.view().composer.error, '', 'a line taken clears the reason the last one was refused');
});

test('a line sent costs two views on the sender (taken, then delivered) and one on a receiver; wire frames none', async () => {
  const s = setup();
  s.controller.connect('alice', false);
  await s.phase('secure');
  const wire = s.view().wire;
  assert.ok(wire);
  for (let i = 0; i < 3; i++) {
    const before = s.renders();
    const frames = wire.frames.length;
    s.type(`line ${i}`);
    await eventually(() => s.own()[i]?.status === 'delivered', 'the receipt');
    await eventually(
      () => wire.frames.length === frames + 2 && wire.frames.at(-1)!.check.state === 'passed',
      'the receipt checked',
    );
    assert.equal(s.renders() - before, 2, `line ${i}: one view with it sending, one with it delivered`);
    assert.equal(s.view().wire, wire, 'the same log: frames are never copied into a view');
  }
  const before = s.renders();
  await s.sockets[0]!.server.say({
    kind: 'line',
    from: 'console',
    text: 'hi',
    at: Date.now(),
    direct: false,
    n: 100,
    late: false,
  });
  await eventually(() => s.view().entries.some((e) => e.kind === 'line' && e.text === 'hi'), 'the line');
  assert.equal(s.renders() - before, 1);
});

test("the controller's view carries the chat's wire log and every step, by reference; a new chat has none", async () => {
  const s = setup();
  assert.equal(s.view().wire, undefined, 'no log before Connect');
  s.controller.connect('alice', false);
  const wire = s.view().wire;
  assert.ok(wire);
  await s.phase('secure');
  s.type('hello');
  await eventually(() => wire.frames.some((f) => f.direction === 'in' && f.body?.kind === 'receipt'), 'the receipt');
  assert.deepEqual(
    wire.frames.map((f) => [f.direction, JSON.parse(f.data).type, f.check.state]),
    [
      ['out', 'hello', 'made'],
      ['in', 'welcome', 'passed'],
      ['out', 'record', 'made'],
      ['in', 'record', 'passed'],
    ],
  );
  assert.deepEqual(
    wire.steps.map((st) => st.step),
    ['keypair', 'hello', 'welcome', 'verified', 'trusted', 'unwrapped', 'ready'],
  );
  s.type('EXIT');
  await s.phase('ended');
  s.controller.newChat();
  assert.equal(s.view().wire, undefined);
});

test('incoming lines and presence changes are logged; the server end shows its reason', async () => {
  const s = setup();
  s.controller.connect('alice', false);
  await s.phase('secure');
  const server = s.sockets[0]!.server;
  const at = Date.now();
  await server.say({ kind: 'presence', at, changes: [{ change: 'joined', name: 'bob' }], moreJoined: 0, moreLeft: 0 });
  await server.say({ kind: 'line', from: 'console', text: 'only for you', at, direct: true, n: 1, late: false });
  await server.say({
    kind: 'presence',
    at,
    changes: [
      { change: 'left', name: 'bob', reason: 'left' },
      { change: 'left', name: 'carol', reason: 'disconnected (1006)' },
      { change: 'left', name: 'dave', reason: 'was removed by the server operator' },
    ],
    moreJoined: 0,
    moreLeft: 0,
  });
  await server.say({ kind: 'end', code: 'CHAT_ENDED', reason: 'The server operator ended the chat' });
  await s.phase('ended');
  const log = s
    .view()
    .entries.map((e) => (e.kind === 'line' ? `${e.from}${e.direct ? ' (direct)' : ''}: ${e.text}` : e.text));
  assert.deepEqual(log, [
    'bob joined.',
    'console (direct): only for you',
    'bob left.',
    'carol disconnected (1006).',
    'dave was removed by the server operator.',
    'Ended by the server.',
  ]);
  const state = s.view().state;
  assert.deepEqual(state.phase === 'ended' && state.end, {
    by: 'server',
    code: 'CHAT_ENDED',
    reason: 'The server operator ended the chat',
    verified: true,
  });
});

test('Start a new chat goes back to the name form with a fresh key pair and an empty log', async () => {
  const s = setup();
  s.controller.connect('alice', false);
  await s.phase('secure');
  s.type('EXIT');
  await s.phase('ended');
  s.controller.newChat();
  const view = s.view();
  assert.deepEqual(
    [view.stage, view.state.phase, view.entries.length, view.identity, view.name],
    ['join', 'idle', 0, undefined, 'alice'],
  );
  assert.deepEqual(view.composer, { error: '', taken: 0 });
  assert.equal(view.keyPair.state, 'generating');
  await eventually(() => s.view().keyPair.state === 'ready', 'the new key pair');
});

test('a name the server refuses (close 4100 before the welcome) brings back the name form with the reason', async () => {
  const s = setup({ answer: false });
  s.controller.connect('teacher', false);
  await s.phase('securing');
  s.sockets[0]!.drop(4100, 'NAME_REFUSED: "teacher" is reserved\u001b[2J');
  await eventually(() => s.view().stage === 'join', 'the name form');
  const view = s.view();
  assert.equal(view.name, 'teacher', 'the name is still in the field, to be changed');
  assert.equal(view.nameError, 'Pick another name: the server refused this one ("teacher" is reserved\\u001b[2J).');
  assert.equal(view.state.phase, 'idle');
  assert.deepEqual(view.entries, []);
  assert.equal(s.sockets.length, 1, 'not retried with the same name');
  s.controller.connect('alice', false);
  assert.equal(s.view().nameError, '');
});

test('a 4100 after the welcome is no answer to a name: it is a drop like any other', async () => {
  const s = setup();
  s.controller.connect('alice', false);
  await s.phase('secure');
  s.sockets[0]!.drop(4100, 'NAME_REFUSED: forged');
  await s.phase('disconnected');
  assert.equal(s.view().stage, 'chat');
});
