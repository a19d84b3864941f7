/**
 * Issue 10, item 5: one address against everyone. A real server on 127.0.0.1; the attacker connects from
 * 127.0.0.2 (Linux routes all of 127.0.0.0/8 to the loopback interface), the honest tabs from 127.0.0.1. Each
 * flood of the issue (sockets that never say hello, completed hellos with one reused public key, a burst of
 * joins) runs against a server with 12 seats, which one address could fill on its own but for the per-address
 * limits; an honest pair keeps chatting through every case (checked after each), and a new tab from 127.0.0.1
 * must still get in and chat. The same flood against the same server without per-address limits shows what
 * they change, and a flood against the default limits shows that the defaults do it too.
 *
 * Counts and events only: every flood is bounded in count, every wait is bounded, nothing is timed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { DEFAULTS, type ServerOptions } from '../../server/options.ts';
import { Close } from '../../shared/errors.ts';
import type { ServerLine, ServerPresence } from '../../shared/protocol.ts';
import type { ScriptedClient } from '../../tools/client.ts';
import { honestServer } from '../helpers/checks.ts';
import { helloFrame, RawSocket, until } from '../helpers/raw-client.ts';
import type { TestServer } from '../helpers/server.ts';

const ATTACKER = '127.0.0.2';
const HONEST = '127.0.0.1';

/** 12 seats; one address may hold 8 of them, 4 of those before their welcome. */
const LIMITS: Partial<ServerOptions> = {
  maxConnections: 12,
  maxPerAddress: 8,
  maxPendingPerAddress: 4,
  handshakeRate: 1000,
  handshakeBurst: 1000,
  // A socket that never says hello stays until the test lets it go.
  handshakeTimeoutMs: 120_000,
};

/**
 * Opens `count` sockets from the attacker's address at once; none of them ever says anything. Those over the rate
 * are answered with HTTP 429 before the upgrade (`tooFast`: the errors); those over a seat limit are upgraded and
 * closed right after (`refused`); the rest stay (`held`), counted by the server.
 */
async function holdFlood(
  server: TestServer,
  count: number,
): Promise<{ held: RawSocket[]; refused: RawSocket[]; tooFast: unknown[] }> {
  const opened = await Promise.allSettled(
    Array.from({ length: count }, () => RawSocket.open(server, { localAddress: ATTACKER })),
  );
  const sockets = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  const tooFast = opened.flatMap((o) => (o.status === 'rejected' ? [o.reason] : []));
  await until(
    () => sockets.filter((s) => s.isOpen).length === server.admission.count(ATTACKER).open,
    'each socket over a seat limit to be closed',
  );
  return { held: sockets.filter((s) => s.isOpen), refused: sockets.filter((s) => !s.isOpen), tooFast };
}

/**
 * `count` completed hellos from the attacker's address, one after another, all with the same public key and nonce:
 * the attacker does no crypto (it never reads the wrapped keys). Returns the welcomed sockets and the refused ones.
 */
async function helloFlood(server: TestServer, count: number): Promise<{ joined: RawSocket[]; refused: RawSocket[] }> {
  const hello = JSON.stringify(await helloFrame({ name: 'flood', nonce: new Uint8Array(32) }));
  const joined: RawSocket[] = [];
  const refused: RawSocket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = await RawSocket.open(server, { localAddress: ATTACKER });
    socket.send(hello);
    const answer = await socket.answer(0);
    if ('frame' in answer && answer.frame.startsWith('{"type":"welcome"')) joined.push(socket);
    else refused.push(socket);
  }
  return { joined, refused };
}

async function refusedWith(sockets: RawSocket[], reason: RegExp): Promise<void> {
  for (const socket of sockets) {
    const closed = await socket.waitClosed();
    assert.equal(closed.code, Close.TRY_AGAIN_LATER);
    assert.match(closed.reason, reason);
  }
}

async function letGo(server: TestServer, sockets: RawSocket[]): Promise<void> {
  for (const socket of sockets) socket.terminate();
  await until(() => server.admission.count(ATTACKER).open === 0, "the attacker's sockets to be let go");
}

/** A new tab from 127.0.0.1 joins, says something that `listener` hears, and leaves. */
async function newcomerChats(server: TestServer, listener: ScriptedClient): Promise<void> {
  const carol = await server.connect({ name: 'carol', localAddress: HONEST });
  await carol.send('carol got in');
  const line = await listener.waitFor((b): b is ServerLine => b.kind === 'line' && b.text === 'carol got in');
  assert.equal(line.from, 'carol');
  await carol.bye();
}

describe('one address against everyone: 12 seats, 8 per address, 4 of them in their handshake', () => {
  const { server, honest } = honestServer(LIMITS);

  it('a flood of sockets that never say hello from 127.0.0.2 holds 4 seats; a tab from 127.0.0.1 still joins', async () => {
    const { held, refused } = await holdFlood(server(), 40);
    assert.equal(held.length, 4);
    await refusedWith(refused, /^LIMIT_ADDRESS: 127\.0\.0\.2 already has 4 connections in their handshake/);
    assert.deepEqual(server().admission.count(ATTACKER), { open: 4, inHandshake: 4 });
    await newcomerChats(server(), honest().a);
    await letGo(server(), held);
  });

  it('a welcomed page that announced a resume counts as in its handshake until it presents its claim', async () => {
    const socket = await RawSocket.open(server(), { localAddress: ATTACKER });
    socket.sendJson({ ...(await helloFrame({ name: 'resumer' })), resume: true });
    assert.match(await socket.frame(0), /^\{"type":"welcome"/);
    // Not joined, not named: as much in its handshake as a socket that never said hello.
    assert.deepEqual(server().admission.count(ATTACKER), { open: 1, inHandshake: 1 });
    await letGo(server(), [socket]);
  });

  it('TCP connections from 127.0.0.2 that never send a byte: 32 held (4 per seat), the rest closed at once', async () => {
    // Node's HTTP server keeps a silent connection for up to 90 s (its headers timeout, checked every 30 s), and
    // counts none of them: with nothing per address, one address could hold every file descriptor the process
    // has, and then nobody gets in (seen on loopback: 483 silent sockets against a server limited to 512 files,
    // and a GET from 127.0.0.1 was reset).
    const cap = LIMITS.maxPerAddress! * 4;
    const sockets = Array.from({ length: cap + 8 }, () =>
      connect({ port: server().port, host: HONEST, localAddress: ATTACKER }),
    );
    const closedByServer: Socket[] = [];
    for (const socket of sockets) {
      socket.on('error', () => undefined);
      socket.on('close', () => closedByServer.push(socket));
    }
    await until(() => closedByServer.length === 8, 'the 8 sockets over the cap to be closed');
    assert.equal(server().admission.stats.refusedSockets, 8);
    // The address's WebSocket seats are counted apart: the held sockets took none of them.
    assert.deepEqual(server().admission.count(ATTACKER), { open: 0, inHandshake: 0 });
    await newcomerChats(server(), honest().a);
    for (const socket of sockets) socket.destroy();
    await until(() => closedByServer.length === sockets.length, "the attacker's sockets to be let go");
    await until(() => server().admission.sockets(ATTACKER) === 0, 'the server to count them gone');
  });

  it('completed hellos from 127.0.0.2, all with one public key, hold 8 seats; a tab from 127.0.0.1 still joins', async () => {
    const { joined, refused } = await helloFlood(server(), 16);
    assert.equal(joined.length, 8);
    await refusedWith(refused, /^LIMIT_ADDRESS: 127\.0\.0\.2 already has 8 connections open/);
    assert.equal(refused.length, 8);
    assert.deepEqual(server().admission.count(ATTACKER), { open: 8, inHandshake: 0 });
    assert.equal(
      server()
        .relay.names()
        .filter((n) => n.startsWith('flood')).length,
      8,
    );
    // 2 honest tabs and 8 flood sessions: carol takes the 11th of 12 seats.
    await newcomerChats(server(), honest().a);
    await letGo(server(), joined);
  });
});

describe('one address against everyone: a burst of joins is announced once per tab, not once per join', () => {
  // Presence is held back for 10 minutes unless flushed: the whole burst is one batch, whatever the machine's speed.
  const { server, honest } = honestServer({ ...LIMITS, presenceIntervalMs: 600_000 });

  it('8 joins from 127.0.0.2 cost 9 sealed presence bodies (one per tab that was there to hear), not 44', async () => {
    const a = honest().a;
    const heard = () => a.bodies.filter((b): b is ServerPresence => b.kind === 'presence');
    await a.waitForPresence('joined', 'bob');
    const before = { bodies: heard().length, sent: server().relay.presence.stats.sent };
    const { joined } = await helloFlood(server(), 8);
    assert.equal(joined.length, 8);
    assert.equal(heard().length, before.bodies, 'held back for the batch');
    server().relay.presence.flush();
    await a.waitForPresence('joined', 'flood-8');
    const batch = heard().slice(before.bodies);
    assert.equal(batch.length, 1);
    assert.deepEqual(
      batch[0]!.changes.map((c) => `${c.change} ${c.name}`),
      ['flood', 'flood-2', 'flood-3', 'flood-4', 'flood-5', 'flood-6', 'flood-7', 'flood-8'].map((n) => `joined ${n}`),
    );
    // alice and bob hear all 8; each flood session hears the joins after its own; the last hears none. Announced one
    // by one, join k would have been sealed for the 2 + (k - 1) tabs already in: 44 in all.
    assert.equal(server().relay.presence.stats.sent - before.sent, 2 + 7);
    await newcomerChats(server(), a);
    await letGo(server(), joined);
  });
});

describe('one address against everyone: the same server without per-address limits (as before)', () => {
  const { server } = honestServer({ ...LIMITS, maxPerAddress: 12, maxPendingPerAddress: 12 });

  it('a flood of sockets that never say hello from 127.0.0.2 takes every free seat and keeps 127.0.0.1 out', async () => {
    const { held } = await holdFlood(server(), 40);
    assert.equal(held.length, 10);
    await assert.rejects(server().connect({ name: 'carol', localAddress: HONEST }), /closed 1013 "LIMIT_CONNECTIONS/);
    await letGo(server(), held);
  });
});

describe('one address against everyone: the default limits', () => {
  const defaults: Partial<ServerOptions> = {
    maxPerAddress: DEFAULTS.maxPerAddress,
    maxPendingPerAddress: DEFAULTS.maxPendingPerAddress,
    handshakeRate: DEFAULTS.handshakeRate,
    handshakeBurst: DEFAULTS.handshakeBurst,
    handshakeTimeoutMs: 120_000,
  };
  const { server, honest } = honestServer(defaults);

  it(`100 sockets at once from 127.0.0.2: ${DEFAULTS.maxPendingPerAddress} held, the rest refused (HTTP 429 past the burst, 1013 past the seats); 127.0.0.1 still joins`, async () => {
    const { held, refused, tooFast } = await holdFlood(server(), 100);
    assert.equal(held.length, DEFAULTS.maxPendingPerAddress);
    await refusedWith(refused, /^LIMIT_ADDRESS: 127\.0\.0\.2 already has 8 connections in their handshake/);
    assert.ok(tooFast.length > 0, 'more than a burst at once: the rate refused some before the upgrade');
    for (const error of tooFast) assert.match(String(error), /Unexpected server response: 429/);
    assert.equal(held.length + refused.length + tooFast.length, 100);
    const { refusedRate, refusedPending } = server().admission.stats;
    assert.deepEqual([refusedRate, refusedPending], [tooFast.length, refused.length]);
    await newcomerChats(server(), honest().a);
    await letGo(server(), held);
  });
});
