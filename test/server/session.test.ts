/**
 * server/session.ts: one connection's wire, phases, receipts and heartbeat. Sessions here run on a real loopback
 * WebSocket server with a host that records what it is told and answers lines as each test says, so what the
 * session does itself (every receipt, the heartbeat, how it fails) is seen apart from the relay; the tests at the
 * end run the same rules through a whole server.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { loadIdentity, type Identity } from '../../server/identity.ts';
import { nodeCryptoBackend } from '../../server/node-fernet.ts';
import { nodeServerHandshake } from '../../server/node-handshake.ts';
import { DEFAULTS, type ServerOptions } from '../../server/options.ts';
import { ServerSession, type LineOutcome, type SessionHost } from '../../server/session.ts';
import type { ClientResume, ServerBody, ServerLine, ServerReceipt } from '../../shared/protocol.ts';
import { ScriptedClient } from '../../tools/client.ts';
import { expectDropped, honestServer } from '../helpers/checks.ts';
import { connectWs, helloFrame, RawClient, until, within } from '../helpers/raw-client.ts';
import { startTestServer, testKeyPair, type TestServer } from '../helpers/server.ts';

const DELIVERED: LineOutcome = { status: 'delivered', reason: '', n: 1 };

/** A host that records what its sessions tell it and answers each line with `answer`. */
class RecordingHost implements SessionHost {
  readonly lines: string[] = [];
  readonly departures: Array<{ label: string; code: number; reason: string }> = [];
  answer: (text: string) => LineOutcome | Promise<LineOutcome> = () => DELIVERED;
  claimName(_session: ServerSession, requested: string): string {
    return requested;
  }
  joined(): void {}
  readonly resumes: ClientResume[] = [];
  /** A resuming page is given the name it asked for and joined; the claim is recorded. */
  resume(session: ServerSession, claim: ClientResume, asked: string): Promise<void> {
    this.resumes.push(claim);
    session.seated(asked);
    return Promise.resolve();
  }
  line(_session: ServerSession, _id: number, text: string): LineOutcome | Promise<LineOutcome> {
    this.lines.push(text);
    return this.answer(text);
  }
  left(session: ServerSession, code: number, reason: string): void {
    this.departures.push({ label: session.label, code, reason });
  }
}

interface Harness {
  url: string;
  host: RecordingHost;
  sessions: ServerSession[];
  /** The server side of each connection, in the order they came. */
  sockets: WebSocket[];
  close(): Promise<void>;
}

let identity: Identity;
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wirechat-session-'));
  identity = await loadIdentity(join(dir, 'identity.jwk'));
});
after(() => rm(dir, { recursive: true, force: true }));

async function sessions(overrides: Partial<ServerOptions> = {}, handshake = nodeServerHandshake): Promise<Harness> {
  const host = new RecordingHost();
  const harness: Harness = { url: '', host, sessions: [], sockets: [], close: async () => undefined };
  const options: ServerOptions = { ...DEFAULTS, identity: dir, ...overrides };
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  wss.on('connection', (ws) => {
    harness.sockets.push(ws);
    harness.sessions.push(new ServerSession(ws, { identity, options, backend: nodeCryptoBackend, host, handshake }));
  });
  await new Promise((resolve) => wss.once('listening', resolve));
  harness.url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/ws`;
  harness.close = () =>
    new Promise<void>((resolve) => {
      for (const ws of harness.sockets) ws.terminate();
      wss.close(() => resolve());
    });
  return harness;
}

const tab = (h: Harness, name: string, acceptPlain = false) =>
  ScriptedClient.connect({ url: h.url, name, keyPair: testKeyPair(), acceptPlain });
const receiptFor =
  (id: number) =>
  (b: ServerBody): b is ServerReceipt =>
    b.kind === 'receipt' && b.id === id;

describe('the session sends every receipt itself', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('delivered, or failed with the reason its host gave', async () => {
    h = await sessions();
    h.host.answer = (text) =>
      text === 'refuse me' ? { status: 'failed', reason: 'not sent: the chat log is full', n: 0 } : DELIVERED;
    const amy = await tab(h, 'amy');
    const first = await amy.send('hello');
    const second = await amy.send('refuse me');
    assert.deepEqual(await amy.waitFor(receiptFor(first)), {
      kind: 'receipt',
      id: first,
      status: 'delivered',
      reason: '',
      n: 1,
    });
    assert.deepEqual(await amy.waitFor(receiptFor(second)), {
      kind: 'receipt',
      id: second,
      status: 'failed',
      reason: 'not sent: the chat log is full',
      n: 0,
    });
    assert.deepEqual(h.host.lines, ['hello', 'refuse me']);
    await amy.bye();
  });

  it('goes on while its host answers a line later, and keeps the receipts in the order of the lines', async () => {
    h = await sessions();
    // The host answers the lines in the reverse of their order: the last first.
    const releases = new Map<string, () => void>();
    h.host.answer = (text) =>
      new Promise<LineOutcome>((resolve) => releases.set(text, () => resolve({ ...DELIVERED, n: Number(text) })));
    const amy = await tab(h, 'amy');
    const ids = [await amy.send('1'), await amy.send('2'), await amy.send('3')];
    // Every line reaches the host while the first is still unanswered: the lines of one read share a batch.
    await until(() => h.host.lines.length === 3, 'the host to be asked about all three lines');
    assert.equal(amy.bodies.filter((b) => b.kind === 'receipt').length, 0);
    releases.get('3')!();
    releases.get('2')!();
    // Nothing may leave before line 1's receipt: wait for the session to have turned over a few times.
    await new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
    releases.get('1')!();
    await amy.waitFor(receiptFor(ids[2]!));
    const receipts = amy.bodies.filter((b): b is ServerReceipt => b.kind === 'receipt').map((b) => [b.id, b.n]);
    assert.deepEqual(receipts, [
      [ids[0], 1],
      [ids[1], 2],
      [ids[2], 3],
    ]);
    await amy.bye();
  });

  it("receipts a tab's lines before it lets the tab's bye end the session", async () => {
    h = await sessions();
    let release!: () => void;
    const later = new Promise<void>((resolve) => (release = resolve));
    h.host.answer = () => later.then(() => DELIVERED);
    const amy = await tab(h, 'amy');
    await amy.send('last words');
    await until(() => h.host.lines.length === 1, 'the host to be asked about the line');
    // The page stops reading bodies once it said bye, so what reaches it after is counted as frames.
    const after: string[] = [];
    amy.ws.on('message', (data) => after.push(String(data)));
    await amy.session.bye('EXIT');
    await new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
    assert.equal(h.host.departures.length, 0, 'the bye waits for the receipt of the line before it');
    release();
    assert.equal((await amy.closed).code, 1000);
    assert.equal(after.length, 1, 'one frame, the receipt, came before the close');
    assert.equal(JSON.parse(after[0]!).seq, 0);
    await until(() => h.host.departures.length === 1, 'the console to hear of it');
    assert.deepEqual(h.host.departures[0], { label: 'amy', code: 1000, reason: 'left' });
  });

  it('drops a tab whose frames pile up behind a bye still waiting for a receipt (1008 LIMIT_RATE)', async () => {
    // The frames behind a frame whose handling waits are held until their turn. Seen with --redis and Redis
    // stalled: a tab that said bye and kept sending had its relay hold every frame, 159 -> 535 MB in 8 s.
    h = await sessions({ burst: 5 });
    h.host.answer = () => new Promise<LineOutcome>(() => undefined);
    const amy = await tab(h, 'amy');
    await amy.send('never answered');
    await until(() => h.host.lines.length === 1, 'the host to be asked about the line');
    await amy.session.bye('EXIT');
    const junk = JSON.stringify({ type: 'record', seq: 99, token: 'A'.repeat(1000), mac: 'A' });
    for (let i = 0; i < 100 && amy.ws.readyState === WebSocket.OPEN; i++) amy.ws.send(junk);
    const closed = await within(amy.closed, 5000, 'the session to be dropped');
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /^LIMIT_RATE: more than 12 frames waiting for their turn/);
    await until(() => h.host.departures.length === 1, 'the console to hear of it');
    assert.match(h.host.departures[0]!.reason, /LIMIT_RATE/);
  });

  it('ends the session when its host fails a line it is still to answer', async () => {
    h = await sessions();
    h.host.answer = () => Promise.reject(new Error('the log broke'));
    const amy = await tab(h, 'amy');
    await amy.send('doomed');
    const end = await amy.waitFor((b) => b.kind === 'end');
    assert.deepEqual(end, {
      kind: 'end',
      code: 'SERVER_ERROR',
      reason: 'the server could not go on with this session',
    });
    await until(() => h.host.departures.length === 1, 'the console to hear of it');
    assert.match(h.host.departures[0]!.reason, /the log broke/);
  });

  it('hands a line to its host within the event that brought its frame: no promise per frame over node:crypto', async () => {
    h = await sessions();
    const amy = await tab(h, 'amy');
    // Listeners run in the order they were added: the session's own first, then this one, in the same event.
    const seen: number[] = [];
    h.sockets[0]!.on('message', () => seen.push(h.host.lines.length));
    const ids = [await amy.send('one'), await amy.send('two'), await amy.send('three')];
    for (const id of ids) await amy.waitFor(receiptFor(id));
    assert.deepEqual(seen, [1, 2, 3], 'each line was with the host before the next listener of its event ran');
    assert.deepEqual(h.host.lines, ['one', 'two', 'three']);
    await amy.bye();
  });

  it('refuses a line over its own limits with a failed receipt, without asking its host', async () => {
    h = await sessions({ maxLine: 10, rate: 1, burst: 1 });
    const amy = await tab(h, 'amy');
    // One after the other: the first takes the one token a second allows (rate 1, burst 1).
    const long = await amy.send('héllo world');
    const tooSoon = await amy.send('again');
    assert.deepEqual(await amy.waitFor(receiptFor(long)), {
      kind: 'receipt',
      id: long,
      status: 'failed',
      reason: 'not sent: this server takes lines of at most 10 bytes (this one has 12)',
      n: 0,
    });
    assert.deepEqual(await amy.waitFor(receiptFor(tooSoon)), {
      kind: 'receipt',
      id: tooSoon,
      status: 'failed',
      reason: 'not sent: at most 1 lines a second',
      n: 0,
    });
    assert.deepEqual(h.host.lines, []);
    await amy.bye();
  });

  it("gives a tab's first lines exactly --burst tokens: the bucket made with its first line starts full, no fuller", async () => {
    h = await sessions({ rate: 1, burst: 2 });
    const amy = await tab(h, 'amy');
    const ids = [await amy.send('one'), await amy.send('two'), await amy.send('three')];
    const receipts = await Promise.all(ids.map((id) => amy.waitFor(receiptFor(id))));
    assert.deepEqual(
      receipts.map((r) => r.status),
      ['delivered', 'delivered', 'failed'],
    );
    assert.equal(receipts[2]!.reason, 'not sent: at most 1 lines a second');
    assert.deepEqual(h.host.lines, ['one', 'two']);
    await amy.bye();
  });

  it('in plain mode too: receipts in the clear, and a replayed plain frame ends it (RECORD_BAD_SEQUENCE, 1008)', async () => {
    h = await sessions({ plain: true });
    const amy = await tab(h, 'amy', true);
    assert.equal(h.sessions[0]!.phase, 'plain');
    const id = await amy.send('in the clear');
    assert.deepEqual(await amy.waitFor(receiptFor(id)), { kind: 'receipt', id, status: 'delivered', reason: '', n: 1 });
    amy.ws.send(JSON.stringify({ type: 'plain', seq: 0, body: { kind: 'line', id: 9, text: 'again' } }));
    const closed = await within(amy.closed, 5000, 'the close');
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /^RECORD_BAD_SEQUENCE: /);
    assert.deepEqual(h.host.lines, ['in the clear']);
    assert.deepEqual(
      h.host.departures.map((l) => [l.code, l.reason.split(':')[0]]),
      [[1008, 'dropped']],
    );
  });
});

describe('a session holds a channel exactly while it is joined', () => {
  let h: Harness;
  afterEach(() => h.close());

  const NOTE: ServerBody = { kind: 'receipt', id: 99, status: 'delivered', reason: '', n: 1 };

  /**
   * Has `session` send NOTE, then a ping, and resolves once the ping reached `ws` with the text frames that came
   * before it: the ping is written after whatever the send wrote, so nothing that was sent is still on its way.
   */
  async function sendAndCount(session: ServerSession, ws: WebSocket, frames: string[]): Promise<number> {
    const pinged = new Promise((resolve) => ws.once('ping', resolve));
    await session.send(NOTE);
    assert.equal(session.heartbeat(), true);
    await within(pinged, 5000, 'the ping');
    return frames.length;
  }

  async function connected(h: Harness): Promise<{ ws: WebSocket; frames: string[]; session: ServerSession }> {
    const ws = await connectWs(h.url);
    const frames: string[] = [];
    ws.on('message', (data) => frames.push(String(data)));
    await until(() => h.sessions.length === h.sockets.length && h.sockets.length > 0, 'the session');
    return { ws, frames, session: h.sessions.at(-1)! };
  }

  it('plain: none before the welcome, none once refused, one while joined, none once ended; phase agrees', async () => {
    h = await sessions({ plain: true });
    // A page that does not allow plain mode: it is sent the signed plain welcome and is refused, never joined.
    const refused = await connected(h);
    assert.equal(refused.session.phase, 'hello');
    assert.equal(await sendAndCount(refused.session, refused.ws, refused.frames), 0, 'no channel before the welcome');
    refused.ws.send(JSON.stringify(await helloFrame({ name: 'nora' })));
    await until(() => refused.frames.length === 1, 'the plain welcome');
    assert.equal(refused.session.phase, 'refused');
    assert.equal(await sendAndCount(refused.session, refused.ws, refused.frames), 1, 'no channel once refused');
    // A page that allows it joins: its channel carries bodies in the clear.
    const amy = await tab(h, 'amy', true);
    const session = h.sessions.at(-1)!;
    assert.equal(session.phase, 'plain');
    const got = amy.waitFor((b) => b.kind === 'receipt' && b.id === 99);
    void session.send(NOTE);
    assert.deepEqual(await got, NOTE, 'joined: the body went out on its channel');
    session.close(1000, 'done', 'closed by the test');
    assert.equal(session.phase, 'ended');
    assert.equal(session.ended, true);
    await session.send(NOTE);
    assert.equal((await amy.closed).code, 1000);
    assert.equal(amy.bodies.filter((b) => b.kind === 'receipt' && b.id === 99).length, 1, 'nothing once it ended');
    // The host hears whether it had joined: a joined tab's departure carries no "before the handshake" note.
    refused.ws.close(1000);
    await until(() => h.host.departures.length === 2, 'both departures');
    assert.deepEqual(
      h.host.departures.map((d) => [d.label, /before the handshake finished/.test(d.reason)]),
      [
        ['amy', false],
        ['connection #' + String(refused.session.number), false],
      ],
    );
  });

  it('secure: none before the welcome, one while joined; a frame before it joined is refused', async () => {
    h = await sessions();
    const early = await connected(h);
    assert.equal(early.session.phase, 'hello');
    assert.equal(await sendAndCount(early.session, early.ws, early.frames), 0, 'no channel before the welcome');
    early.ws.send(JSON.stringify({ type: 'record', seq: 0, token: 'x', mac: 'y' }));
    const closed = await within(
      new Promise<{ code: number; reason: string }>((resolve) =>
        early.ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })),
      ),
      5000,
      'the close',
    );
    assert.match(closed.reason, /^PROTO_UNEXPECTED: a record frame while the session is hello/);
    assert.equal(early.session.phase, 'ended');
    const amy = await tab(h, 'amy');
    const session = h.sessions.at(-1)!;
    assert.equal(session.phase, 'secure');
    const got = amy.waitFor((b) => b.kind === 'receipt' && b.id === 99);
    void session.send(NOTE);
    assert.deepEqual(await got, NOTE);
    await amy.bye();
    assert.equal(session.phase, 'ended');
    await until(() => h.host.departures.length === 2, 'both departures');
    assert.deepEqual(
      h.host.departures.map((d) => [d.label, /before the handshake finished/.test(d.reason)]),
      [
        ['connection #' + String(early.session.number), true],
        ['amy', false],
      ],
      'the host hears which of them had joined',
    );
  });
});

describe("the heartbeat is the session's", () => {
  let h: Harness;
  afterEach(() => h.close());

  it('pings a peer that answered the last ping; drops one that did not (1006, "vanished"), then says false', async () => {
    h = await sessions();
    const ws = new WebSocket(h.url, { autoPong: false });
    const pinged = new Promise((resolve) => ws.once('ping', resolve));
    const closed = new Promise<number>((resolve) => ws.once('close', resolve));
    await new Promise((resolve) => ws.once('open', resolve));
    await until(() => h.sessions.length === 1, 'the session');
    const session = h.sessions[0]!;
    assert.equal(session.heartbeat(), true, 'pinged');
    await within(pinged, 5000, 'the ping');
    assert.equal(session.heartbeat(), false, 'no pong came: dropped');
    assert.equal(session.ended, true);
    assert.deepEqual(
      h.host.departures.map((l) => l.code),
      [1006],
    );
    assert.match(h.host.departures[0]!.reason, /^vanished \(no answer to heartbeats\)/);
    assert.equal(await within(closed, 5000, 'the close'), 1006);
    assert.equal(session.heartbeat(), false, 'still gone');
  });

  it('keeps a peer that answers, beat after beat', async () => {
    h = await sessions();
    const amy = await tab(h, 'amy');
    const [session, socket] = [h.sessions[0]!, h.sockets[0]!];
    for (let beat = 0; beat < 3; beat++) {
      const ponged = new Promise((resolve) => socket.once('pong', resolve));
      assert.equal(session.heartbeat(), true);
      await within(ponged, 5000, 'the pong');
    }
    assert.equal(session.ended, false);
    await amy.bye();
  });

  it("hears each socket's pong in its own session: the listeners are shared, the sessions are not", async () => {
    h = await sessions();
    const amy = await tab(h, 'amy');
    const silent = new WebSocket(h.url, { autoPong: false });
    const pinged = new Promise((resolve) => silent.once('ping', resolve));
    await new Promise((resolve) => silent.once('open', resolve));
    await until(() => h.sessions.length === 2, 'both sessions');
    const [answering, quiet] = [h.sessions[0]!, h.sessions[1]!];
    const ponged = new Promise((resolve) => h.sockets[0]!.once('pong', resolve));
    assert.equal(answering.heartbeat(), true);
    assert.equal(quiet.heartbeat(), true);
    await within(ponged, 5000, "amy's pong");
    await within(pinged, 5000, 'the ping to the silent peer');
    assert.equal(quiet.heartbeat(), false, 'no pong came on its socket: dropped');
    assert.equal(answering.heartbeat(), true, "amy's pong was hers");
    assert.deepEqual(
      h.host.departures.map((l) => l.label),
      ['connection #' + quiet.number],
    );
    silent.terminate();
    await amy.bye();
  });
});

describe('fail(): honest to the console, generic to the peer', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('a wire error is told as it is, code before reason: the peer and the console get its code and our words', async () => {
    h = await sessions();
    const ws = new WebSocket(h.url);
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(Buffer.from('binary'), { binary: true });
    assert.deepEqual(await within(closed, 5000, 'the close'), {
      code: 1003,
      reason: 'PROTO_BINARY: binary frames are not part of the protocol',
    });
    assert.equal(h.sessions[0]!.failed, true);
    assert.deepEqual(h.host.departures, [
      {
        label: h.sessions[0]!.label,
        code: 1003,
        reason: 'dropped: PROTO_BINARY: binary frames are not part of the protocol (before the handshake finished)',
      },
    ]);
  });

  // Moved from test/server/close-reasons.test.ts: fail() is the session's, and its host is now a recording one.
  it("sends the peer fixed words and SERVER_ERROR, never the library's message; the console gets the detail", async () => {
    const internal = 'error:0200006B:rsa routines::internal library words';
    h = await sessions({}, { ...nodeServerHandshake, wrap: () => Promise.reject(new Error(internal)) });
    const ws = new WebSocket(h.url);
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify(await helloFrame({ name: 'victim' })));
    const { code, reason } = await within(closed, 5000, 'the close');
    assert.equal(code, 1011);
    assert.equal(reason, 'SERVER_ERROR: the server could not go on with this session');
    assert.ok(!reason.includes('rsa routines'));
    assert.equal(h.host.departures.length, 1);
    assert.equal(h.host.departures[0]!.code, 1011);
    assert.match(
      h.host.departures[0]!.reason,
      /^dropped: internal error: error:0200006B:rsa routines::internal library words/,
    );
    assert.equal(h.sessions[0]!.failed, true);
  });
});

// Moved from test/server/chat.test.ts: a failed receipt is the session's, seen here through a whole server.
describe('a server with a shorter line limit (--max-line)', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ maxLine: 10 });
  });
  after(() => server.stop());

  const isLine =
    (text: string) =>
    (b: ServerBody): b is ServerLine =>
      b.kind === 'line' && b.text === text;

  it('answers a longer line with a failed receipt that says why, relays nothing, and keeps the chat open', async () => {
    const alice = await server.connect({ name: 'alice' });
    const bob = await server.connect({ name: 'bob' });
    const long = await alice.send('héllo world');
    const receipt = await alice.waitFor((b) => b.kind === 'receipt' && b.id === long);
    assert.deepEqual(receipt, {
      kind: 'receipt',
      id: long,
      status: 'failed',
      reason: 'not sent: this server takes lines of at most 10 bytes (this one has 12)',
      n: 0,
    });
    await alice.send('short');
    await bob.waitFor(isLine('short'));
    assert.equal(
      bob.bodies.some((b) => b.kind === 'line' && b.text === 'héllo world'),
      false,
    );
    assert.equal(
      server.events.some((e) => e.kind === 'line' && e.text === 'héllo world'),
      false,
    );
    await alice.bye();
    await bob.bye();
  });
});

// Moved from test/server/adversarial-resources.test.ts: the heartbeat is the session's, run here by a whole server.
describe("a whole server's heartbeat (200 ms)", () => {
  const { server, honest } = honestServer({ heartbeatMs: 200 });

  it('drops a tab that stops answering pings (1006 on its side, "vanished" on the console)', async () => {
    const client = await RawClient.handshake(server(), { name: 'silent', ws: { autoPong: false } });
    let pings = 0;
    client.ws.on('ping', () => pings++);
    await expectDropped(server(), client, { code: 1006, error: 'vanished', name: 'silent', reasonNamesError: false });
    assert.ok(pings >= 1, 'dropped before it was ever pinged');
    const leave = await honest().a.waitForPresence('left', 'silent');
    assert.match(leave.reason, /vanished/);
  });

  it('keeps a tab that answers pings, across several intervals', async () => {
    const client = await RawClient.handshake(server(), { name: 'awake' });
    let pings = 0;
    client.ws.on('ping', () => pings++);
    await until(() => pings >= 3, 'three heartbeats');
    assert.ok(client.isOpen);
    client.ws.close(1000);
    await client.waitClosed();
  });
});
