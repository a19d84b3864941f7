/**
 * server/session.ts's send path: the frames a session sends in one tick leave its socket in one write (the socket
 * is corked for the tick), each still sealed on its own and in order, a frame sent alone is not held back, a
 * frame lives in the server's slab only while nothing waits on its socket, and a line's frames to the other tabs
 * leave before its sender's receipt is sealed, and both before the console's terminal write. Real loopback
 * sockets; the writes are read from the server-side net.Socket itself.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { Console } from '../../server/console.ts';
import { FRAME_SLAB_BYTES } from '../../server/frame-slab.ts';
import { loadIdentity, type Identity } from '../../server/identity.ts';
import { nodeCryptoBackend } from '../../server/node-fernet.ts';
import { DEFAULTS } from '../../server/options.ts';
import { openHistory } from '../../server/history.ts';
import { Relay } from '../../server/relay.ts';
import { ServerSession, type SessionHost } from '../../server/session.ts';
import type { CryptoBackend } from '../../shared/crypto-backend.ts';
import type { Fernet } from '../../shared/fernet.ts';
import type { ServerBody } from '../../shared/protocol.ts';
import { ScriptedClient } from '../../tools/client.ts';
import { until } from '../helpers/raw-client.ts';
import { testKeyPair } from '../helpers/server.ts';

let identity: Identity;
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wirechat-cork-'));
  identity = await loadIdentity(join(dir, 'identity.jwk'));
});
after(() => rm(dir, { recursive: true, force: true }));

const host: SessionHost = {
  claimName: (_session, requested) => requested,
  joined: () => undefined,
  line: () => ({ status: 'delivered', reason: '', n: 1 }),
  left: () => undefined,
  resume: async () => undefined,
};

/** Calls `noted(chunks)` for each write the server-side socket under `ws` makes (net.Socket's _write and _writev). */
function watchWrites(ws: WebSocket, noted: (chunks: number) => void): void {
  type Write = (...args: unknown[]) => void;
  const socket = (ws as unknown as { _socket: Socket & { _write: Write; _writev: Write } })._socket;
  const write = socket._write.bind(socket);
  const writev = socket._writev.bind(socket);
  socket._write = (...args: unknown[]) => {
    noted(1);
    write(...args);
  };
  socket._writev = (chunks: unknown, callback: unknown) => {
    noted((chunks as unknown[]).length);
    writev(chunks, callback);
  };
}

/** One joined session on a real server, and its socket's writes counted (net.Socket's _write and _writev). */
async function joined(): Promise<{
  session: ServerSession;
  tab: ScriptedClient;
  writes: number[];
  /** What the session handed ws to send, frame by frame. */
  sent: Uint8Array[];
  ws: WebSocket;
  close(): Promise<void>;
}> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise((resolve) => wss.once('listening', resolve));
  const accepted = new Promise<{ ws: WebSocket; session: ServerSession }>((resolve) =>
    wss.once('connection', (ws) => {
      const options = { ...DEFAULTS, identity: dir };
      resolve({ ws, session: new ServerSession(ws, { identity, options, backend: nodeCryptoBackend, host }) });
    }),
  );
  const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/ws`;
  const tab = await ScriptedClient.connect({ url, name: 'amy', keyPair: testKeyPair() });
  const { ws, session } = await accepted;
  // Each entry: how many chunks one write to the kernel carried.
  const writes: number[] = [];
  watchWrites(ws, (chunks) => writes.push(chunks));
  const sent: Uint8Array[] = [];
  const send = ws.send.bind(ws);
  ws.send = ((data: Uint8Array, ...rest: never[]) => {
    sent.push(data);
    return send(data, ...rest);
  }) as typeof ws.send;
  return {
    session,
    tab,
    writes,
    sent,
    ws,
    close: () =>
      new Promise<void>((resolve) => {
        tab.close();
        ws.terminate();
        wss.close(() => resolve());
      }),
  };
}

const line = (n: number): ServerBody => ({
  kind: 'line',
  from: 'bob',
  text: `line ${n}`,
  at: 0,
  direct: false,
  // A line's chat-wide number is 1 or more (shared/protocol.ts).
  n: n + 1,
  late: false,
});
const isLine = (n: number) => (body: ServerBody) => body.kind === 'line' && body.text === `line ${n}`;

describe('the send path', () => {
  it('ten frames sent in one tick leave in one write, sealed one by one and in order', async () => {
    const h = await joined();
    try {
      for (let id = 0; id < 10; id++) void h.session.send(line(id));
      assert.deepEqual(h.writes, [], 'nothing written before the tick ends');
      await h.tab.waitFor(isLine(9));
      assert.deepEqual(h.writes, [20], 'one writev: a header and a payload for each of the ten frames');
      const texts = h.tab.bodies.flatMap((b) => (b.kind === 'line' ? [b.text] : []));
      assert.deepEqual(
        texts,
        Array.from({ length: 10 }, (_, n) => `line ${n}`),
      );
    } finally {
      await h.close();
    }
  });

  it("a frame lives in the server's slab only while nothing waits on its socket, never in Node's pool", async () => {
    const h = await joined();
    // A slab frame is a view into a slab (server/frame-slab.ts); a frame of its own is alone in its memory.
    const pooled = (frame: Uint8Array) => frame.buffer.byteLength === FRAME_SLAB_BYTES;
    try {
      await until(() => h.ws.bufferedAmount === 0, 'the welcome to be written');
      void h.session.send(line(1)); // nothing waits: from the slab
      void h.session.send(line(2)); // the first waits behind the cork: memory of its own
      void h.session.send(line(3));
      assert.deepEqual(h.sent.map(pooled), [true, false, false], 'at most one slab frame in the queue');
      // ws takes each frame's header from Node's pool, where a queued header pins its 8 KiB: the frames stay out.
      assert.ok(h.sent.every((frame) => frame.buffer !== Buffer.allocUnsafe(1).buffer));
      await h.tab.waitFor(isLine(3));
      await until(() => h.ws.bufferedAmount === 0, 'the three frames to be written');
      void h.session.send(line(4)); // the queue is empty again
      assert.deepEqual(h.sent.map(pooled), [true, false, false, true]);
      await h.tab.waitFor(isLine(4));
      const texts = h.tab.bodies.flatMap((b) => (b.kind === 'line' ? [b.text] : []));
      assert.deepEqual(texts, ['line 1', 'line 2', 'line 3', 'line 4'], 'every frame intact, in order');
    } finally {
      await h.close();
    }
  });

  it('a frame sent alone leaves at the end of its tick, not later', async () => {
    const h = await joined();
    try {
      void h.session.send(line(1));
      await new Promise((resolve) => process.nextTick(resolve));
      assert.equal(h.writes.length, 1, 'written by the next tick');
      await h.tab.waitFor(isLine(1));
      void h.session.send(line(2));
      await h.tab.waitFor(isLine(2));
      assert.equal(h.writes.length, 2, 'one write per tick that sent something');
    } finally {
      await h.close();
    }
  });
});

/** node:crypto, with every Fernet token this backend seals noted as `seal NAME` (the session's tab's name). */
function notingSeals(name: string, events: string[]): CryptoBackend {
  return {
    createMac: (key) => nodeCryptoBackend.createMac(key),
    async createFernet(key) {
      const fernet = await nodeCryptoBackend.createFernet(key);
      return new Proxy(fernet, {
        get(target, property) {
          if (property === 'sealToken') {
            return (...args: Parameters<Fernet['sealToken']>) => {
              events.push(`seal ${name}`);
              return target.sealToken(...args);
            };
          }
          const value: unknown = Reflect.get(target, property);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    },
  };
}

describe('a line through the relay', () => {
  it("leaves for the other tab before its sender's receipt is sealed, and both before the console prints it", async () => {
    // The server-side events of both sessions, in order: each record sealed, each write to a socket.
    const events: string[] = [];
    const history = await openHistory();
    const relay = new Relay('console', { history, presenceIntervalMs: 10 });
    // The operator's console, as the real server has it, its terminal writes noted with the sockets' writes.
    const terminal = new Writable({
      write(chunk: Buffer, _encoding, done) {
        if (chunk.toString().includes('hello bob')) events.push('print');
        done();
      },
    });
    const operator = new Console({
      input: new PassThrough(),
      output: terminal,
      relay,
      plain: false,
      color: false,
      onEnd: () => undefined,
      onInterrupt: () => undefined,
    });
    relay.listen(operator);
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    await new Promise((resolve) => wss.once('listening', resolve));
    const names = ['amy', 'bob'];
    let connections = 0;
    wss.on('connection', (ws) => {
      const name = names[connections++]!;
      const options = { ...DEFAULTS, identity: dir };
      const session = new ServerSession(ws, { identity, options, backend: notingSeals(name, events), host: relay });
      relay.add(session);
      watchWrites(ws, () => events.push(`write ${name}`));
    });
    const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/ws`;
    const amy = await ScriptedClient.connect({ url, name: 'amy', keyPair: testKeyPair() });
    const bob = await ScriptedClient.connect({ url, name: 'bob', keyPair: testKeyPair() });
    try {
      await amy.waitForPresence('joined', 'bob');
      await bob.waitFor((b) => b.kind === 'seat');
      events.length = 0;
      await amy.send('hello bob', 7);
      await bob.waitFor((b) => b.kind === 'line' && b.text === 'hello bob');
      await amy.waitFor((b) => b.kind === 'receipt' && b.id === 7);
      await until(() => events.includes('print'), 'the console to print the line');
      assert.deepEqual(
        events,
        ['seal bob', 'write bob', 'seal amy', 'write amy', 'print'],
        "bob's record sealed and written, then amy's receipt sealed and written, then the console's terminal write",
      );
    } finally {
      operator.close();
      amy.close();
      bob.close();
      await new Promise((resolve) => wss.close(resolve));
      relay.presence.stop();
      await history.hub.close();
    }
  });
});
