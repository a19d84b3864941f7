import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import type { ServerBody, ServerLine } from '../../shared/protocol.ts';

const isLine =
  (text: string) =>
  (b: ServerBody): b is ServerLine =>
    b.kind === 'line' && b.text === text;

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
    assert.deepEqual(receipt, { kind: 'receipt', id, status: 'delivered', reason: '', n: line.n });
    await server.waitForEvent((e) => e.kind === 'line' && e.name === 'alice' && e.text === 'hello bob');
    await alice.bye();
    await bob.bye();
  });

  it('sends console lines to every tab, and ends the chat for everyone with a reason', async () => {
    const carol = await server.connect({ name: 'carol' });
    void server.relay.say('hi from the console');
    const line = await carol.waitFor(isLine('hi from the console'));
    assert.equal(line.from, 'console');
    server.relay.endAll(1000, 'The server operator ended the chat (END)');
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
    for (const [name, reason] of [
      ['byeing', 'left'],
      ['closing', 'left'],
      ['cutting', 'disconnected (1008 policy violation (sent as 4008))'],
    ] as const) {
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
