/**
 * Issue 4, limits: what a peer can do with volume or time rather than with bad bytes (a flood of lines, too
 * many connections, a reader that does not read, a handshake that never ends), and the upgrade's own checks
 * (Origin, Host). Each group runs on a server whose limit is set low through its option override, with an
 * honest pair on the same server checked after every case.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { Close } from '../../shared/errors.ts';
import { expectDropped, honestServer } from '../helpers/checks.ts';
import { connectWs, helloFrame, RawClient, RawSocket, sleep, within } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** The HTTP status a refused upgrade answers with (ws's 'unexpected-response'). */
function upgradeStatus(url: string, options: WebSocket.ClientOptions): Promise<number> {
  const ws = new WebSocket(url, options);
  return within(
    new Promise<number>((resolve, reject) => {
      ws.on('unexpected-response', (req, res) => {
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      ws.on('open', () => reject(new Error('the upgrade was accepted')));
      ws.on('error', () => undefined);
    }),
    5000,
    'the upgrade to be refused',
  );
}

describe('adversarial limits', () => {
  describe('rate limit (rate 1/s, burst 10)', () => {
    const { server } = honestServer({ rate: 1, burst: 10 });

    it('answers lines beyond the burst with failed receipts, and relays none of them', async () => {
      const client = await RawClient.handshake(server());
      const records = [];
      for (let id = 0; id < 12; id++) records.push(await client.line(id, `burst ${id}`));
      for (const record of records) client.sendJson(record);
      await client.frame(12);
      const receipts = (await client.bodies()).filter((b) => b.kind === 'receipt');
      assert.deepEqual(
        receipts.map((r) => r.kind === 'receipt' && [r.id, r.status]),
        records.map((_, id) => [id, id < 10 ? 'delivered' : 'failed']),
      );
      const failed = receipts[10]!;
      assert.equal(failed.kind === 'receipt' && failed.reason, 'not sent: at most 1 lines a second');
      const relayed = server()
        .events.filter((e) => e.kind === 'line' && e.name === client.name)
        .map((e) => e.text);
      assert.deepEqual(
        relayed,
        records.slice(0, 10).map((_, id) => `burst ${id}`),
      );
      assert.ok(client.isOpen, 'a short burst over the limit is refused line by line, not cut off');
      client.terminate();
    });

    it('closes 1008 LIMIT_RATE on a sustained flood', async () => {
      const client = await RawClient.handshake(server());
      // Bounded: 10 lines fit the burst, 10 more are refused one by one, the 21st is one too many.
      for (let id = 0; id < 100 && client.isOpen; id++) {
        client.sendJson(await client.line(id, `flood ${id}`));
        if (id % 10 === 9) await sleep(1);
      }
      await expectDropped(server(), client, { code: Close.POLICY_VIOLATION, error: 'LIMIT_RATE', name: client.name });
      assert.equal(server().events.filter((e) => e.kind === 'line' && e.text.startsWith('flood ')).length, 10);
    });
  });

  describe('connection cap (maxConnections 3)', () => {
    const { server } = honestServer({ maxConnections: 3 });

    it('closes the 4th connection with 1013 and takes a new one once a seat is free', async () => {
      const third = await RawSocket.open(server());
      const fourth = await RawSocket.open(server());
      const closed = await fourth.waitClosed();
      assert.equal(closed.code, Close.TRY_AGAIN_LATER);
      assert.match(closed.reason, /^LIMIT_CONNECTIONS: the server is full/);
      assert.ok(third.isOpen);
      third.ws.close(1000);
      await third.waitClosed();
      // The freed seat is counted: the next connection gets through the handshake.
      const again = await RawClient.handshake(server());
      assert.ok(again.isOpen);
      again.ws.close(1000);
      await again.waitClosed();
    });
  });

  describe('upgrade checks', () => {
    const { server } = honestServer({});

    it('answers a page from another site (hostile Origin) with HTTP 403', async () => {
      assert.equal(await upgradeStatus(server().wsUrl, { origin: 'https://evil.example' }), 403);
    });

    it('answers "null" and malformed Origins with HTTP 403', async () => {
      assert.equal(await upgradeStatus(server().wsUrl, { origin: 'null' }), 403);
      assert.equal(await upgradeStatus(server().wsUrl, { origin: 'http://127.0.0.1:1' }), 403);
    });

    it('answers a Host that is not this machine (DNS rebinding) with HTTP 403, even from its own origin', async () => {
      const url = new URL(server().wsUrl);
      const status = await upgradeStatus(server().wsUrl, {
        headers: { Host: `rebind.example:${url.port}` },
        origin: `http://rebind.example:${url.port}`,
      });
      assert.equal(status, 403);
    });

    it('accepts the same origin', async () => {
      const ws = await connectWs(server().wsUrl, { origin: new URL(server().url).origin });
      ws.close(1000);
    });

    it('answers an upgrade on another path with HTTP 404', async () => {
      assert.equal(await upgradeStatus(server().wsUrl.replace('/ws', '/chat'), {}), 404);
    });
  });

  describe('slow reader (maxBuffered 16 KiB)', () => {
    const { server } = honestServer({ maxBuffered: 16 * 1024 });

    it('closes 1008 LIMIT_SLOW_READER on a tab that stops reading, and the others keep going', async () => {
      const slow = await RawClient.handshake(server());
      (slow.ws as unknown as { _socket: Socket })._socket.pause();
      const line = 'y'.repeat(4000);
      // The kernel's socket buffers take several MB before anything queues in the server: bounded at 40 MB.
      for (let i = 0; i < 10_000 && !server().events.some((e) => e.kind === 'left' && e.name === slow.name); i++) {
        server().relay.direct(slow.name, line);
        if (i % 50 === 49) await sleep(1);
      }
      (slow.ws as unknown as { _socket: Socket })._socket.resume();
      await expectDropped(server(), slow, {
        code: Close.POLICY_VIOLATION,
        error: 'LIMIT_SLOW_READER',
        name: slow.name,
      });
    });
  });

  describe('handshake timeout (300 ms)', () => {
    const { server } = honestServer({ handshakeTimeoutMs: 300 });

    it('closes 1008 HANDSHAKE_TIMEOUT on a connection that never says hello', async () => {
      const socket = await RawSocket.open(server());
      await expectDropped(server(), socket, { code: Close.POLICY_VIOLATION, error: 'HANDSHAKE_TIMEOUT' });
    });

    it('closes 1008 HANDSHAKE_TIMEOUT on a hello that never finishes (one fragment, then nothing)', async () => {
      const socket = await RawSocket.open(server());
      socket.send('{"type":"hello",', { fin: false });
      await expectDropped(server(), socket, { code: Close.POLICY_VIOLATION, error: 'HANDSHAKE_TIMEOUT' });
    });

    it('closes 1008 HANDSHAKE_TIMEOUT on a page that announces a resume and never presents its claim', async () => {
      // Welcomed, but not joined until its claim comes: without the timer it would hold its seat for good, unnamed,
      // unlisted by /who and out of reach of /kick (the heartbeat keeps it, since ws answers pings by itself).
      const socket = await RawSocket.open(server());
      socket.sendJson({ ...(await helloFrame({ name: 'silent' })), resume: true });
      assert.match(await socket.frame(0), /^\{"type":"welcome"/);
      await expectDropped(server(), socket, { code: Close.POLICY_VIOLATION, error: 'HANDSHAKE_TIMEOUT' });
    });
  });

  describe('a plain server and a page that does not allow plain mode', () => {
    let plainServer: TestServer;
    before(async () => (plainServer = await startTestServer({ plain: true })));
    after(() => plainServer.stop());
    const server = () => plainServer;

    it('counts the refused page as in its handshake until it closes: unnamed, it holds a pending seat at most', async () => {
      // Held until the page's own close (its person may be deciding about a changed key), never joined: not in
      // /who, out of /kick's reach. Counted as pending, one address keeps at most --max-pending-per-address of them.
      const socket = await RawSocket.open(server());
      socket.sendJson(await helloFrame({ name: 'no-plain' }));
      assert.match(await socket.frame(0), /^\{"type":"welcome","version":\d+,"mode":"plain"/);
      assert.deepEqual(server().admission.count('127.0.0.1'), { open: 1, inHandshake: 1 });
      socket.terminate();
      await socket.waitClosed();
    });
  });
});
