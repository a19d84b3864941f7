/**
 * Issue 4, resources: connections that are opened and abandoned, clients that vanish without a close frame or
 * stop answering pings. What is asserted is that the server lets go of everything such a peer held (its seat,
 * its name, its socket's file handle, its memory) and says so on the console, while an honest pair chats on.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type WebSocket from 'ws';
import { Close } from '../../shared/errors.ts';
import { expectDropped, honestServer } from '../helpers/checks.ts';
import { busyThreadPool, connectWs, helloFrame, RawClient, RawSocket, sleep, until } from '../helpers/raw-client.ts';

// A real collection before each heap reading: without one, heapUsed says more about when V8 last collected
// than about what the server still holds. The test runner does not pass --expose-gc, so switch it on here.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** File descriptors this process holds: each TCP socket, the server's and the client's side alike, is one. */
function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

describe('adversarial resources', () => {
  const { server, honest } = honestServer();

  /**
   * Opens `count` connections in batches of 100 and abandons each batch with terminate (no close frame), every
   * other one right after sending a hello, so the server is mid-handshake when it goes. Returns when the server
   * has noticed every one of them leave.
   */
  async function openAndAbandon(count: number): Promise<void> {
    const hello = JSON.stringify(await helloFrame({ name: 'ghost' }));
    for (let done = 0; done < count; done += 100) {
      const batch: WebSocket[] = await Promise.all(
        Array.from({ length: Math.min(100, count - done) }, () => connectWs(server().wsUrl)),
      );
      batch.forEach((ws, i) => {
        if (i % 2 === 0) ws.send(hello);
        ws.terminate();
      });
      await until(() => server().relay.size === 2, 'the server to notice a batch of abandoned connections');
    }
  }

  it('lets go of 1,000 connections opened and abandoned: seats, names, file handles and memory', async () => {
    await openAndAbandon(100); // warm-up: JIT, buffer pools and the socket machinery are not a leak
    const fdsBefore = openFds();
    const heapBefore = heapUsed();
    const events = server().events.length;
    await openAndAbandon(1000);
    await until(() => openFds() <= fdsBefore + 2, 'the abandoned sockets to be closed on both sides');
    assert.equal(server().relay.size, 2, 'only the honest pair holds a seat');
    assert.deepEqual(server().relay.names().sort(), ['alice', 'bob']);
    // A connection that left before its handshake finished, without failing, is not news for the console.
    assert.deepEqual(server().events.slice(events), []);
    const grown = heapUsed() - heapBefore;
    // Measured: a session kept after its socket closed still holds about 4 KB (its WebSocket, parser and
    // closures), so 1,000 kept ones add about 4 MB; letting them all go leaves under 1 MB of V8's own churn.
    assert.ok(grown < 2.5 * 1024 * 1024, `the heap grew by ${(grown / 1024 / 1024).toFixed(1)} MB`);
  });

  it('does not let a hello that vanishes mid-handshake keep its name (no ghost)', async () => {
    // The server wraps the session keys on libuv's thread pool; with the pool busy, the connections are gone
    // (and the relay told) while their handshakes still wait there, which is the window a ghost was made in.
    const busy = busyThreadPool();
    await openAndAbandon(20);
    await busy;
    await sleep(50);
    assert.deepEqual(server().relay.names().sort(), ['alice', 'bob']);
    const client = await RawClient.handshake(server(), { name: 'ghost' });
    assert.equal(client.name, 'ghost', 'the name of a connection that never joined was still taken');
    client.ws.close(1000);
    await client.waitClosed();
  });

  it('refuses a frame pipelined behind the hello (1002) rather than queue it while the handshake waits', async () => {
    const busy = busyThreadPool();
    const socket = await RawSocket.open(server());
    socket.sendJson(await helloFrame({ name: 'pipeliner' }));
    // Up to maxPayload each, as many as fit in the wait: the server used to keep them all until its welcome.
    socket.sendJson({ type: 'record', seq: 0, token: 'A'.repeat(16_000), mac: 'AAAA' });
    await expectDropped(server(), socket, { code: Close.PROTOCOL_ERROR, error: 'PROTO_UNEXPECTED' });
    assert.equal(socket.received.length, 0, 'a welcome after the handshake was refused');
    await busy;
  });

  it('shows a tab that vanishes without a close frame as disconnected (1006), to the console and the others', async () => {
    const client = await RawClient.handshake(server(), { name: 'vanisher' });
    client.terminate();
    const event = await server().waitForEvent((e) => e.kind === 'left' && e.name === 'vanisher');
    assert.equal(event.code, 1006);
    assert.equal(event.text, 'disconnected (1006 connection lost without a close frame)');
    for (const tab of [honest().a, honest().b]) {
      const leave = await tab.waitForPresence('left', 'vanisher');
      assert.equal(leave.reason, 'disconnected (1006 connection lost without a close frame)');
    }
  });
});
