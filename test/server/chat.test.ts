import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
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
    const leave = await erin.waitFor((b) => b.kind === 'leave' && b.name === 'dave');
    assert.equal(leave.kind === 'leave' && leave.reason, 'left (EXIT)');
    const event = await server.waitForEvent((e) => e.kind === 'left' && e.name === 'dave');
    assert.equal(event.code, 1000);
    await erin.bye();
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
