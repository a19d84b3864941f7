/**
 * Three relay processes (`npm run server -- --redis URL`) on one real Redis, each with its own tabs (scripted
 * clients speaking the real protocol) and its console: one chat. Every line reaches every tab and every console
 * in one chat-wide order; names are unique chat-wide; /who, /msg, /kick and END work across relays; a relay
 * killed with SIGKILL has its tabs shown gone.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerBody } from '../../../shared/protocol.ts';
import { ScriptedClient } from '../../../tools/client.ts';
import { runLoad } from '../../../tools/load.ts';
import { startAll, startServerProcess, stopAll, teardown, type ServerProcess } from '../../helpers/process.ts';
import { startRedis, type RedisServer } from '../../helpers/redis.ts';
import { testKeyPair } from '../../helpers/server.ts';

type Line = Extract<ServerBody, { kind: 'line' }>;
const isLine = (b: ServerBody): b is Line => b.kind === 'line';

/** The name the relay gave the client (in its signed welcome). */
function nameOf(client: ScriptedClient): string {
  return client.session.identity!.name;
}

function wsUrl(relay: ServerProcess): string {
  return `ws://127.0.0.1:${relay.port}/ws`;
}

function connect(relay: ServerProcess, name: string): Promise<ScriptedClient> {
  return ScriptedClient.connect({ url: wsUrl(relay), name, keyPair: testKeyPair() });
}

/** The chat lines a client received, as "from: text", in the order received. */
function lines(client: ScriptedClient): string[] {
  return client.bodies
    .filter(isLine)
    .filter((b) => !b.direct)
    .map((b) => `${b.from}: ${b.text}`);
}

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('three relays on one Redis', () => {
  let redis: RedisServer;
  let dir: string;
  const relays: ServerProcess[] = [];
  const clients: ScriptedClient[] = [];

  before(async () => {
    redis = await startRedis();
    dir = await mkdtemp(join(tmpdir(), 'wirechat-cluster-'));
    // One identity file (and the chat key beside it) for every relay of the chat.
    relays.push(await startServerProcess(['--redis', redis.url, '--presence-interval', '0'], { identityDir: dir }));
    relays.push(
      ...(await startAll(
        [1, 2].map(
          () => () => startServerProcess(['--redis', redis.url, '--presence-interval', '0'], { identityDir: dir }),
        ),
      )),
    );
  });
  after(() =>
    teardown(
      () => clients.forEach((client) => client.close()),
      () => stopAll(relays),
      () => redis?.stop(),
      () => dir && rm(dir, { recursive: true, force: true }),
    ),
  );

  it('shows one fingerprint on every relay', () => {
    assert.equal(new Set(relays.map((r) => r.fingerprint)).size, 1);
  });

  it('gives a name once chat-wide: the same name on another relay is NAME-2', async () => {
    clients.push(await connect(relays[0]!, 'ann'));
    clients.push(await connect(relays[1]!, 'ann'));
    clients.push(await connect(relays[2]!, 'cat'));
    assert.deepEqual(
      clients.map((c) => nameOf(c)),
      ['ann', 'ann-2', 'cat'],
    );
    // Each relay's tabs hear of the others' joins, whichever relay they joined.
    await clients[0]!.waitForPresence('joined', 'cat', 10_000);
    await clients[0]!.waitForPresence('joined', 'ann-2', 10_000);
    await clients[1]!.waitForPresence('joined', 'cat', 10_000);
    await relays[0]!.waitForLine('cat joined on another relay');
  });

  it("gives every line of every relay's tabs and consoles to every tab and console, in one order", async () => {
    const sent: string[] = [];
    for (let round = 1; round <= 5; round++) {
      for (const client of clients) {
        const text = `${nameOf(client)} line ${round}`;
        sent.push(`${nameOf(client)}: ${text}`);
        void client.send(text);
      }
      relays[round % 3]!.type(`console ${round % 3} line ${round}`);
      sent.push(`console: console ${round % 3} line ${round}`);
    }
    // A tab does not get its own lines back; it sees everyone else's, in the chat's order.
    await until(() => clients.every((c) => lines(c).length === sent.length - 5), 'every line on every tab');
    const order = (client: ScriptedClient) => lines(client);
    const merged = [...order(clients[0]!)];
    for (const client of clients.slice(1)) {
      const mine = order(client);
      // Both orders, without each one's own lines, are the same sequence.
      const common = (list: string[], a: string, b: string) =>
        list.filter((l) => !l.startsWith(`${a}: `) && !l.startsWith(`${b}: `));
      assert.deepEqual(
        common(mine, nameOf(clients[0]!), nameOf(client)),
        common(merged, nameOf(clients[0]!), nameOf(client)),
      );
    }
    for (const client of clients) {
      const received = order(client);
      assert.equal(new Set(received).size, received.length, `${nameOf(client)} got no line twice`);
      for (const line of sent)
        if (!line.startsWith(`${nameOf(client)}: `))
          assert.ok(received.includes(line), `${nameOf(client)} got ${line}`);
    }
    // Every console prints every tab's line, in the same order as the tabs got them.
    for (const relay of relays) {
      for (const client of clients) await relay.waitForLine(`${nameOf(client)}: ${nameOf(client)} line 5`);
      const printed = relay.lines
        .filter((l) => / (ann|ann-2|cat): \1 line \d$/.test(l))
        .map((l) => l.replace(/^\[[^\]]*\] /, ''));
      const tabOrder = order(clients[2]!).filter((l) => !l.startsWith('console'));
      const fromOthers = printed.filter((l) => !l.startsWith('cat: '));
      assert.deepEqual(
        fromOthers,
        tabOrder.filter((l) => !l.startsWith('cat: ')),
        'the console order is the chat order',
      );
    }
    // Every receipt says delivered.
    for (const client of clients) {
      await until(() => client.bodies.filter((b) => b.kind === 'receipt').length >= 5, 'receipts');
      assert.ok(
        client.bodies
          .filter((b) => b.kind === 'receipt')
          .every((b) => b.kind === 'receipt' && b.status === 'delivered'),
      );
    }
  });

  it('passes npm run load with the tabs spread over the three relays: every line to every tab once, one order', async () => {
    const result = await runLoad({ clients: 6, lines: 8, urls: relays.map(wsUrl) });
    assert.deepEqual(result.problems, []);
    assert.equal(result.deliveries, 6 * 8 * 5);
  });

  it('lists every tab of every relay in /who, under its relay', async () => {
    // The load's tabs (the test before) are gone from this relay's view first: their leaves reach it through
    // Redis, and a /who answered before the last of them would rightly still list it.
    for (let i = 0; i < 6; i++) await relays[2]!.waitForLine(new RegExp(`\\bload-${i} (left|disconnected)\\b`));
    relays[2]!.type('/who');
    const head = await relays[2]!.waitForLine('3 in the chat, on 3 relays:');
    assert.ok(head);
    await relays[2]!.waitForLine(/: cat$/);
    await relays[2]!.waitForLine(/\(this relay\): cat/);
    await relays[2]!.waitForLine(/: ann$/);
    await relays[2]!.waitForLine(/: ann-2$/);
  });

  it('sends /msg to a tab on another relay, and to nobody else', async () => {
    relays[2]!.type('/msg ann for ann only');
    await relays[2]!.waitForLine('you -> ann (on another relay): for ann only');
    const direct = await clients[0]!.waitFor((b) => isLine(b) && b.direct && b.text === 'for ann only', 10_000);
    assert.ok(direct);
    relays[2]!.type('after the whisper');
    for (const client of clients.slice(0, 2))
      await client.waitFor((b) => isLine(b) && b.text === 'after the whisper', 10_000);
    for (const client of clients.slice(1))
      assert.ok(!client.bodies.some((b) => isLine(b) && b.text === 'for ann only'));
  });

  it('kicks a tab on another relay', async () => {
    relays[0]!.type('/kick cat');
    const closed = await clients[2]!.closed;
    assert.equal(closed.code, 1008);
    await clients[0]!.waitForPresence('left', 'cat', 10_000);
    await relays[1]!.waitForLine(/cat was removed by the server operator \(on another relay\)/);
  });

  it('shows the tabs of a relay killed with SIGKILL as gone, once, within the heartbeat', async () => {
    const doomed = await connect(relays[2]!, 'dan');
    await clients[0]!.waitForPresence('joined', 'dan', 10_000);
    relays[2]!.signalServer('SIGKILL');
    await relays[2]!.exited.catch(() => {});
    const left = await clients[0]!.waitForPresence('left', 'dan', 15_000);
    assert.match(left.reason, /was lost with its relay/);
    await clients[1]!.waitForPresence('left', 'dan', 5_000);
    doomed.close();
    // The name is free again.
    const again = await connect(relays[0]!, 'dan');
    assert.equal(nameOf(again), 'dan');
    clients.push(again);
  });

  it('ends the chat on every relay when one console types END', async () => {
    relays[1]!.type('END');
    const ended = await Promise.all(
      clients
        .slice(0, 2)
        .concat(clients.slice(3))
        .map((c) => c.closed),
    );
    for (const closed of ended) assert.equal(closed.code, 1000);
    await relays[0]!.waitForLine('ended the chat on another relay');
  });
});
