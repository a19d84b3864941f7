import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Close } from '../../shared/errors.ts';
import { expectDropped } from '../helpers/checks.ts';
import { helloFrame, RawSocket } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import type { ServerBody, ServerLine } from '../../shared/protocol.ts';

const isLine = (text: string) => (b: ServerBody): b is ServerLine => b.kind === 'line' && b.text === text;

describe('secure chat through the relay', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.stop());

  it('relays a line from one tab to another and to the console, with a delivered receipt', async () => {
    const alice = await server.connect({ name: 'alice' });
    const bob = await server.connect({ name: 'bob' });
    const id = await alice.send('hello bob');
    const line = await bob.waitFor(isLine('hello bob'));
    assert.equal(line.from, 'alice');
    assert.equal(line.direct, false);
    const receipt = await alice.waitFor((b) => b.kind === 'receipt' && b.id === id);
    assert.deepEqual(receipt, { kind: 'receipt', id, status: 'delivered', reason: '' });
    await server.waitForEvent((e) => e.kind === 'line' && e.name === 'alice' && e.text === 'hello bob');
    await alice.bye();
    await bob.bye();
  });

  it('sends console lines to every tab, and ends the chat for everyone with a reason', async () => {
    const carol = await server.connect({ name: 'carol' });
    server.relay.say('hi from the console');
    const line = await carol.waitFor(isLine('hi from the console'));
    assert.equal(line.from, 'console');
    server.relay.endAll('The server operator ended the chat (END)', 1000);
    const end = await carol.waitFor((b) => b.kind === 'end');
    assert.deepEqual(end, { kind: 'end', code: 'CHAT_ENDED', reason: 'The server operator ended the chat (END)' });
    const closed = await carol.closed;
    assert.equal(closed.code, 1000);
  });

  it('announces a tab that leaves with EXIT to the console and the others', async () => {
    const dave = await server.connect({ name: 'dave' });
    const erin = await server.connect({ name: 'erin' });
    const closed = await dave.bye('exit');
    assert.equal(closed.code, 1000);
    const leave = await erin.waitForPresence('left', 'dave');
    assert.equal(leave.reason, 'left');
    const event = await server.waitForEvent((e) => e.kind === 'left' && e.name === 'dave');
    assert.equal(event.code, 1000);
    await erin.bye();
  });

  it("never shows a tab's own words as why it left: not its bye word, not its close reason", async () => {
    const watcher = await server.connect({ name: 'watcher' });
    const byeing = await server.connect({ name: 'byeing' });
    await byeing.bye('BANNED BY ADMIN');
    const closing = await server.connect({ name: 'closing' });
    closing.ws.close(1000, 'BANNED BY ADMIN');
    const cutting = await server.connect({ name: 'cutting' });
    cutting.ws.close(4008, 'BANNED BY ADMIN');
    for (const [name, reason] of [['byeing', 'left'], ['closing', 'left'], ['cutting', 'disconnected (1008 policy violation (sent as 4008))']] as const) {
      const leave = await watcher.waitForPresence('left', name);
      assert.equal(leave.reason, reason, name);
    }
    const bye = await server.waitForEvent((e) => e.kind === 'left' && e.name === 'byeing');
    assert.equal(bye.text, 'left', 'the console does not show the bye word either');
    await watcher.bye();
  });

  it('tells the others what the server knows of a kick and of a drop', async () => {
    const watcher = await server.connect({ name: 'watcher' });
    const kicked = await server.connect({ name: 'kicked' });
    server.relay.kick('kicked');
    await kicked.waitFor((b) => b.kind === 'end');
    const kick = await watcher.waitForPresence('left', 'kicked');
    assert.equal(kick.reason, 'was removed by the server operator');
    const dropped = await server.connect({ name: 'dropped' });
    dropped.ws.send(JSON.stringify({ type: 'record', seq: 0, token: 'gAAAA', mac: 'AAAA' }));
    const drop = await watcher.waitForPresence('left', 'dropped');
    assert.match(drop.reason, /^dropped \([A-Z_]+\)$/);
    await watcher.bye();
  });
});

describe('names through the relay', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ name: 'teacher' });
  });
  after(() => server.stop());

  const refused = async (name: string) => {
    const socket = await RawSocket.open(server);
    socket.sendJson(await helloFrame({ name }));
    const { closed } = await expectDropped(server, socket, { code: Close.NAME_REFUSED, error: 'NAME_REFUSED' });
    return closed.reason;
  };

  it('refuses a hello asking for console + U+200B (or any invisible or look-alike name) with NAME_REFUSED, 4100', async () => {
    assert.match(await refused('console\u200b'), /^NAME_REFUSED: a name cannot contain an invisible character \(U\+200B\)$/);
    assert.match(await refused('c\u043ensole'), /cannot mix scripts/);
    assert.match(await refused('\u3164'), /invisible/);
  });

  it("refuses reserved names, the console's own --name and their look-alikes, in any letter case", async () => {
    assert.match(await refused('teacher'), /"teacher" is reserved/);
    assert.match(await refused('TEACHER'), /"teacher" is reserved/);
    assert.match(await refused('system'), /"system" is reserved/);
    assert.match(await refused('\u0455\u0435\u0433\u0475\u0435\u0433'), /looks like the reserved name "server"/);
  });

  it('keeps names unique by skeleton: a look-alike of a name in use gets a suffix, freed when its holder leaves', async () => {
    const latin = await server.connect({ name: 'copse' });
    const cyrillic = await server.connect({ name: '\u0441\u043e\u0440\u0455\u0435' });
    assert.equal(cyrillic.session.identity?.name, '\u0441\u043e\u0440\u0455\u0435-2');
    await latin.waitForPresence('joined', '\u0441\u043e\u0440\u0455\u0435-2');
    const spaced = await server.connect({ name: 'alice\u00a0 smith' });
    assert.equal(spaced.session.identity?.name, 'alice smith', 'normalized: NFKC, one space');
    await latin.bye();
    await server.waitForEvent((e) => e.kind === 'left' && e.name === 'copse');
    const again = await server.connect({ name: 'COPSE' });
    assert.equal(again.session.identity?.name, 'COPSE');
    for (const tab of [cyrillic, spaced, again]) await tab.bye();
  });
});

describe('a server with a shorter line limit (--max-line)', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ maxLine: 10 });
  });
  after(() => server.stop());

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
    });
    await alice.send('short');
    await bob.waitFor(isLine('short'));
    assert.equal(bob.bodies.some((b) => b.kind === 'line' && b.text === 'héllo world'), false);
    assert.equal(server.events.some((e) => e.kind === 'line' && e.text === 'héllo world'), false);
    await alice.bye();
    await bob.bye();
  });
});
