/**
 * Two and three "relays" (brokers, each with its own connections) on one real redis-server, in one test process:
 * lines in one chat-wide order, names unique across relays, requests with answers and timeouts, events, and a
 * relay process killed with SIGKILL shown gone once its heartbeat expires.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createNodeFernet } from '../../../server/node-fernet.ts';
import { generateFernetKey } from '../../../shared/fernet.ts';
import type { LogEntry } from '../../../server/log/log.ts';
import type { ChatEvent, Participant } from '../../../server/broker/messages.ts';
import type { Reaped } from '../../../server/broker/presence.ts';
import { inspector, startRedis, type RedisServer } from '../../helpers/redis.ts';
import { FAST, newChat, next, startRelay, until, type TestRelay } from './relays.ts';

const CHILD = fileURLToPath(new URL('./relay-child.ts', import.meta.url));

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

async function withRelays(names: string[], run: (relays: TestRelay[]) => Promise<void>): Promise<void> {
  const chat = newChat();
  const relays: TestRelay[] = [];
  try {
    for (const name of names) relays.push(await startRelay(redis.url, chat, name));
    await run(relays);
  } finally {
    await Promise.all(relays.map((r) => r.close()));
  }
}

const line = (text: string, identity: string, lineId: number) => ({
  kind: 'line' as const,
  from: identity,
  text,
  origin: { identity, lineId },
});
const summary = (entries: LogEntry[]) => entries.map((e) => `${e.n}:${e.text}`);

describe('broker: lines', () => {
  it('gives every relay every line once, in one chat-wide order, when two relays append at once', async () => {
    await withRelays(['a', 'b'], async ([a, b]) => {
      const count = 150;
      // Interleaved in time: each relay appends its lines in bursts while the other does the same.
      const sent = await Promise.all(
        [a!, b!].map(async (relay) => {
          const results = [];
          for (let i = 0; i < count; i += 10) {
            results.push(
              ...(await Promise.all(
                Array.from({ length: 10 }, (_, j) =>
                  relay.broker.append(line(`${relay.name}-${i + j}`, `tab-${relay.name}`, i + j)),
                ),
              )),
            );
          }
          return results;
        }),
      );
      await until(
        [a!.broker, b!.broker],
        'entry',
        () => a!.received.length === 2 * count && b!.received.length === 2 * count,
        'both relays to receive every line',
      );
      assert.deepEqual(summary(a!.received), summary(b!.received), 'the same lines in the same order on both relays');
      assert.deepEqual(
        a!.received.map((e) => e.n),
        Array.from({ length: 2 * count }, (_, i) => i + 1),
        'numbers 1..300, no gap, no repeat',
      );
      for (const [r, relay] of [a!, b!].entries()) {
        const own = a!.received.filter((e) => e.origin?.identity === `tab-${relay.name}`);
        assert.deepEqual(
          own.map((e) => e.text),
          Array.from({ length: count }, (_, i) => `${relay.name}-${i}`),
          `relay ${relay.name}'s lines in the order it appended them`,
        );
        assert.deepEqual(
          own.map((e) => e.n),
          sent[r]!.map((s) => s.n),
          'each append was answered with the number its line has',
        );
      }
      assert.deepEqual(
        summary(await a!.log.readAfter(0, 1_000)),
        summary(a!.received),
        'what the feeds delivered is what the log holds',
      );
    });
  });

  it('starts a feed where it is told: a relay that comes later gets only what follows, or what it missed', async () => {
    await withRelays(['a'], async ([a]) => {
      await a!.broker.append(line('one', 'tab-a', 1));
      const position = a!.broker.delivered;
      await until(a!.broker, 'entry', () => a!.received.length === 1, 'the first line');
      const late = await startRelay(redis.url, { chat: a!.store.keys.chat, key: a!.key }, 'late');
      const behind = await startRelay(redis.url, { chat: a!.store.keys.chat, key: a!.key }, 'behind', { feed: false });
      try {
        await behind.broker.startFeed({ epoch: position.epoch, n: 0 });
        await a!.broker.append(line('two', 'tab-a', 2));
        await until(
          [late.broker, behind.broker],
          'entry',
          () => late.received.length === 1 && behind.received.length === 2,
          'the lines',
        );
        assert.deepEqual(summary(late.received), ['2:two']);
        assert.deepEqual(summary(behind.received), ['1:one', '2:two']);
        assert.deepEqual(late.broker.delivered, { epoch: position.epoch, n: 2 });
      } finally {
        await late.close();
        await behind.close();
      }
    });
  });

  it("gives an entry without an origin (a join) one of the relay's own, so that a retry of it is recognized", async () => {
    await withRelays(['a'], async ([a]) => {
      const joined = await a!.broker.append({ kind: 'join', from: 'fay', text: '' });
      await until(a!.broker, 'entry', () => a!.received.length === 1, 'the join');
      assert.deepEqual(a!.received[0]!.origin, { identity: `relay:${a!.broker.relay.id}`, lineId: 1 });
      assert.equal(joined.duplicate, false);
      assert.equal(
        (await a!.log.append({ kind: 'join', from: 'fay', text: '', origin: a!.received[0]!.origin! })).duplicate,
        true,
      );
    });
  });
  it('tells a relay that starts behind what retention kept how many lines it can never get (a gap)', async () => {
    const chat = newChat();
    const a = await startRelay(redis.url, chat, 'a', { retention: { maxLines: 3, maxAgeMs: 3_600_000 } });
    try {
      for (let i = 1; i <= 8; i++) await a.broker.append(line(`l${i}`, 'tab-a', i));
      const behind = await startRelay(redis.url, chat, 'behind', {
        feed: false,
        retention: { maxLines: 3, maxAgeMs: 3_600_000 },
      });
      try {
        const gap = next<[{ after: number; gone: number }]>(behind.broker, 'gap');
        await behind.broker.startFeed({ epoch: a.broker.delivered.epoch, n: 2 });
        assert.deepEqual((await gap)[0], { after: 2, gone: 3 });
        await until(behind.broker, 'entry', () => behind.received.length === 3, 'the lines still held');
        assert.deepEqual(summary(behind.received), ['6:l6', '7:l7', '8:l8']);
      } finally {
        await behind.close();
      }
    } finally {
      await a.close();
    }
  });
});

/**
 * Relays a and b, a with hal; a taken for dead (as if it had stalled past its heartbeat's life: the key is gone,
 * b's sweep reaps it). a beats only when it must (its start, a join that finds it gone): what happens when is then
 * in the test's hands. `back` resolves when b hears that a participant of a's came back.
 */
async function withHalTakenForDead(
  run: (a: TestRelay, b: TestRelay, reaped: Reaped, back: Promise<ChatEvent>) => Promise<void>,
): Promise<void> {
  const chat = newChat();
  const a = await startRelay(redis.url, chat, 'a', { timing: { heartbeatMs: 60_000, ttlMs: 120_000 } });
  const b = await startRelay(redis.url, chat, 'b');
  const raw = await inspector(redis);
  try {
    assert.deepEqual(await a.broker.join('p-hal', 'hal'), { ok: true });
    const reaped = next<[Reaped]>(b.broker, 'reaped');
    const back = new Promise<ChatEvent>((resolve) =>
      b.broker.on('event', (e) => e.type === 'presence' && e.reason === 'back' && resolve(e)),
    );
    await raw.sendCommand(['DEL', a.broker.keys.relay(a.broker.relay.id)]);
    await run(a, b, (await reaped)[0], back);
  } finally {
    raw.destroy();
    await Promise.all([a.close(), b.close()]);
  }
}

describe('broker: names and presence', () => {
  it('holds a name chat-wide: another relay cannot take it, nor a confusable one, until it is let go', async () => {
    await withRelays(['a', 'b'], async ([a, b]) => {
      assert.deepEqual(await a!.broker.join('p-alice', 'alice'), { ok: true });
      for (const name of ['alice', 'ALICE', 'аlice' /* Cyrillic а */, 'aIice' /* capital i */]) {
        const refused = await b!.broker.join('p-other', name);
        assert.equal(refused.ok, false, name);
        assert.deepEqual(
          refused,
          { ok: false, reason: 'taken', holder: { id: 'p-alice', name: 'alice', relay: a!.broker.relay.id } },
          name,
        );
      }
      assert.deepEqual(await b!.broker.find('Alice'), { id: 'p-alice', name: 'alice', relay: a!.broker.relay.id });
      await a!.broker.leave('p-alice', 'closed the tab');
      assert.equal(await b!.broker.find('alice'), null);
      assert.deepEqual(await b!.broker.join('p-other', 'alice'), { ok: true });
    });
  });

  it('gives a name to exactly one of two relays claiming it at the same moment', async () => {
    await withRelays(['a', 'b'], async ([a, b]) => {
      for (let i = 0; i < 20; i++) {
        const results = await Promise.all([
          a!.broker.join(`pa-${i}`, `name${i}`),
          b!.broker.join(`pb-${i}`, `name${i}`),
        ]);
        assert.equal(results.filter((r) => r.ok).length, 1, `name${i}: ${JSON.stringify(results)}`);
      }
    });
  });

  it('lets a participant that moves to another relay (a resume) take its name along; the old relay is told it moved', async () => {
    await withRelays(['a', 'b'], async ([a, b]) => {
      assert.deepEqual(await a!.broker.join('p-carol', 'carol'), { ok: true });
      const moved = next<[Participant[]]>(a!.broker, 'moved');
      assert.deepEqual(await b!.broker.join('p-carol', 'carol'), { ok: true }, 'the same participant, not another one');
      assert.deepEqual((await moved)[0], [{ id: 'p-carol', name: 'carol', relay: a!.broker.relay.id }]);
      // 'lost' of the same beat comes first: none, so the relay does not tell the chat carol lost her name.
      assert.deepEqual(
        a!.events.filter((e) => e.name === 'lost'),
        [],
      );
      const roster = await a!.broker.roster();
      assert.deepEqual(roster.map((r) => [r.relay.label, r.participants.map((p) => p.name)]).sort(), [
        ['a', []],
        ['b', ['carol']],
      ]);
    });
  });

  it('tells the other relays who joins and leaves, and not itself', async () => {
    await withRelays(['a', 'b'], async ([a, b]) => {
      const seen: ChatEvent[] = [];
      b!.broker.on('event', (event) => seen.push(event));
      await a!.broker.join('p-dan', 'dan');
      await a!.broker.leave('p-dan', 'typed EXIT');
      await until(b!.broker, 'event', () => seen.length === 2, 'two presence events');
      const dan = { id: 'p-dan', name: 'dan', relay: a!.broker.relay.id };
      assert.deepEqual(seen, [
        { type: 'presence', change: 'join', participant: dan, reason: '' },
        { type: 'presence', change: 'leave', participant: dan, reason: 'typed EXIT' },
      ]);
      assert.equal(a!.events.filter((e) => e.name === 'event').length, 0, 'a relay does not hear its own events');
    });
  });

  it('writes a relay back when it finds it was taken for dead (its heartbeat expired): the others see its participants come back', async () => {
    await withHalTakenForDead(async (a, b, reaped, back) => {
      assert.deepEqual(reaped.participants, [{ id: 'p-hal', name: 'hal', relay: a.broker.relay.id }]);
      assert.equal(await b.broker.find('hal'), null, 'hal is gone for the others');
      // a's next claim finds its heartbeat gone: it beats, writes hal back, and the claim goes through.
      assert.deepEqual(await a.broker.join('p-ivy', 'ivy'), { ok: true });
      assert.deepEqual(await back, {
        type: 'presence',
        change: 'join',
        participant: { id: 'p-hal', name: 'hal', relay: a.broker.relay.id },
        reason: 'back',
      });
      assert.deepEqual(
        a.events.filter((e) => e.name === 'rejoined').map((e) => e.args[0]),
        [[{ id: 'p-hal', name: 'hal', relay: a.broker.relay.id }]],
      );
      assert.deepEqual(await b.broker.find('hal'), { id: 'p-hal', name: 'hal', relay: a.broker.relay.id });
      // b told every relay that a was lost, then (after it) this: when a hears this, it has heard that.
      const marker = next<[ChatEvent]>(a.broker, 'event');
      await b.broker.publish({ type: 'end', by: 'test', reason: 'marker' });
      assert.deepEqual(
        (await marker)[0],
        { type: 'end', by: 'test', reason: 'marker' },
        'a ignored the news of its own death',
      );
    });
  });

  it('does not take back, when it writes itself back, a participant that resumed on another relay meanwhile: it moved', async () => {
    await withHalTakenForDead(async (a, b) => {
      // hal's tab, cut off with a, resumed on b.
      assert.deepEqual(await b.broker.join('p-hal', 'hal'), { ok: true });
      const moved = next<[Participant[]]>(a.broker, 'moved');
      // a's next claim finds its heartbeat gone: it writes back what it still has, which is not hal any more.
      assert.deepEqual(await a.broker.join('p-ivy', 'ivy'), { ok: true });
      assert.deepEqual((await moved)[0], [{ id: 'p-hal', name: 'hal', relay: a.broker.relay.id }]);
      assert.deepEqual(
        a.events.filter((e) => e.name === 'lost'),
        [],
      );
      assert.deepEqual(await b.broker.find('hal'), { id: 'p-hal', name: 'hal', relay: b.broker.relay.id });
      assert.deepEqual(await a.broker.find('hal'), { id: 'p-hal', name: 'hal', relay: b.broker.relay.id });
    });
  });

  it('does not let go of, nor announce the leave of, a participant that resumed on another relay: it moved', async () => {
    await withRelays(['a', 'b', 'c'], async ([a, b, c]) => {
      const seen: ChatEvent[] = [];
      c!.broker.on('event', (event) => seen.push(event));
      assert.deepEqual(await a!.broker.join('p-max', 'max'), { ok: true });
      // max's tab resumed on b before a heard its connection drop; then a hears it.
      assert.deepEqual(await b!.broker.join('p-max', 'max'), { ok: true });
      assert.equal(await a!.broker.leave('p-max', 'disconnected'), false);
      assert.deepEqual(await c!.broker.find('max'), { id: 'p-max', name: 'max', relay: b!.broker.relay.id });
      // One it never listed is not taken for moved.
      assert.equal(await a!.broker.leave('p-nobody', 'never here'), true);
      // Events from one relay arrive in order: when c hears a's marker, it has heard anything a said before it.
      await a!.broker.join('p-marker', 'marker');
      await until(
        c!.broker,
        'event',
        () => seen.some((e) => e.type === 'presence' && e.participant.id === 'p-marker'),
        'marker',
      );
      assert.deepEqual(
        seen.filter((e) => e.type === 'presence' && e.change === 'leave'),
        [],
        'nobody was told max left',
      );
      // A participant that did not move is let go as before.
      assert.equal(await b!.broker.leave('p-max', 'left'), true);
      assert.equal(await c!.broker.find('max'), null);
    });
  });

  it('finds moved, too, a participant whose leave comes while its beat asks Redis whether it moved', async () => {
    await withHalTakenForDead(async (a, b) => {
      // hal's tab, cut off with a, resumed on b.
      assert.deepEqual(await b.broker.join('p-hal', 'hal'), { ok: true });
      const moved = next<[Participant[]]>(a.broker, 'moved');
      // a's beat has found hal gone from its tabs and asks (MOVED) whether hal moved; a hears hal's old
      // connection drop just then. The script MOVED runs is the one whose first argument is this relay's id.
      const client = a.connection.client;
      const send = client.sendCommand.bind(client);
      let leaving: Promise<boolean> | undefined;
      client.sendCommand = ((args: string[], ...rest: unknown[]) => {
        const sent = (send as (...all: unknown[]) => Promise<unknown>)(args, ...rest);
        if (leaving === undefined && args[0] === 'EVALSHA' && args[3 + Number(args[2])] === a.broker.relay.id)
          leaving = a.broker.leave('p-hal', 'disconnected');
        return sent;
      }) as typeof client.sendCommand;
      // a's next claim finds its heartbeat gone: it beats, and finds hal moved.
      assert.deepEqual(await a.broker.join('p-ivy', 'ivy'), { ok: true });
      await moved;
      assert.ok(leaving !== undefined, 'the leave came while MOVED was asked');
      assert.equal(await leaving, false, 'hal moved: no leave to write');
      assert.deepEqual(await b.broker.find('hal'), { id: 'p-hal', name: 'hal', relay: b.broker.relay.id });
    });
  });

  it('writes no leave for a participant that moved, when Redis failed the letting go of its name (retried later)', async () => {
    await withRelays(['a', 'b'], async ([a, b]) => {
      assert.deepEqual(await a!.broker.join('p-max', 'max'), { ok: true });
      // max's tab resumed on b while a was cut off from Redis (a partition); a hears its connection drop, and
      // its LEAVE fails as Redis is away (here: that one command, as a reset socket fails it).
      assert.deepEqual(await b!.broker.join('p-max', 'max'), { ok: true });
      const client = a!.connection.client;
      const send = client.sendCommand.bind(client);
      const tabs = a!.broker.keys.tabs(a!.broker.relay.id);
      let failed = false;
      client.sendCommand = ((args: string[], ...rest: unknown[]) => {
        if (!failed && args[0] === 'EVALSHA' && args[2] === '1' && args[3] === tabs) {
          failed = true;
          return Promise.reject(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
        }
        return (send as (...all: unknown[]) => Promise<unknown>)(args, ...rest);
      }) as typeof client.sendCommand;
      assert.equal(await a!.broker.leave('p-max', 'disconnected'), false, 'it moved: no leave to append');
      assert.ok(failed);
    });
  });

  it('lets go of no claim, and answers no leave, of a participant that joined again here before the retry', async () => {
    const chat = newChat();
    // a beats only when told (Redis back): no beat of its own retries the leave behind the test's back.
    const a = await startRelay(redis.url, chat, 'a', { timing: { heartbeatMs: 60_000, ttlMs: 120_000 } });
    const b = await startRelay(redis.url, chat, 'b');
    try {
      assert.deepEqual(await a.broker.join('p-ned', 'ned'), { ok: true });
      // ned's connection drops while Redis is away: its LEAVE fails, to be tried again once Redis is back.
      const client = a.connection.client;
      const send = client.sendCommand.bind(client);
      const tabs = a.broker.keys.tabs(a.broker.relay.id);
      let failed: (() => void) | undefined;
      const failedOnce = new Promise<void>((resolve) => (failed = resolve));
      client.sendCommand = ((args: string[], ...rest: unknown[]) => {
        if (failed && args[0] === 'EVALSHA' && args[2] === '1' && args[3] === tabs) {
          failed();
          failed = undefined;
          return Promise.reject(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
        }
        return (send as (...all: unknown[]) => Promise<unknown>)(args, ...rest);
      }) as typeof client.sendCommand;
      const leaving = a.broker.leave('p-ned', 'disconnected');
      await failedOnce;
      // Its rejection reaches the broker (the leave waits for Redis) within this turn's microtasks.
      await new Promise((resolve) => setImmediate(resolve));
      // Redis is back, and ned's tab resumes here before the retry.
      assert.deepEqual(await a.broker.join('p-ned', 'ned'), { ok: true });
      a.connection.emit('up', { awayMs: 0 });
      assert.equal(await leaving, false, 'ned came back: no leave to write');
      await a.broker.presence.beat();
      assert.deepEqual(await b.broker.find('ned'), { id: 'p-ned', name: 'ned', relay: a.broker.relay.id });
      assert.deepEqual(await b.broker.join('p-other', 'ned'), {
        ok: false,
        reason: 'taken',
        holder: { id: 'p-ned', name: 'ned', relay: a.broker.relay.id },
      });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('tells the others, when a relay stops, that its participants are gone, and frees their names', async () => {
    const chat = newChat();
    const [a, b] = [await startRelay(redis.url, chat, 'a'), await startRelay(redis.url, chat, 'b')];
    try {
      await a.broker.join('p-kim', 'kim');
      const lost = new Promise<ChatEvent>((resolve) =>
        b.broker.on('event', (e) => e.type === 'relay-lost' && resolve(e)),
      );
      await a.close();
      assert.deepEqual(await lost, {
        type: 'relay-lost',
        relay: a.broker.relay,
        participants: [{ id: 'p-kim', name: 'kim', relay: a.broker.relay.id }],
      });
      assert.equal(await b.broker.find('kim'), null);
      assert.deepEqual(
        (await b.broker.roster()).map((r) => r.relay.label),
        ['b'],
      );
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('shows a relay killed with SIGKILL gone once its heartbeat expires: reaped once, its names free again', async () => {
    await withRelays(['a', 'b'], async ([a, b]) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          CHILD,
          redis.url,
          a!.store.keys.chat,
          Buffer.from(a!.key).toString('base64url'),
          String(FAST.heartbeatMs),
          String(FAST.ttlMs),
          'erin',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
      const exited = new Promise((resolve) => child.once('exit', resolve));
      try {
        await until(
          child.stdout,
          'data',
          () => /^ready (\S+)$/m.test(out),
          `the child relay to be ready (${err})`,
          30_000,
        );
        const childId = /^ready (\S+)$/m.exec(out)![1]!;
        assert.equal((await a!.broker.find('erin'))?.relay, childId);
        const killedAt = Date.now();
        child.kill('SIGKILL');
        await exited;
        const reaped: Reaped[] = [];
        const lostEvents: ChatEvent[] = [];
        for (const relay of [a!, b!]) {
          relay.broker.on('reaped', (r) => reaped.push(r));
          relay.broker.on('event', (e) => e.type === 'relay-lost' && lostEvents.push(e));
        }
        await until(
          [a!.broker, b!.broker],
          ['reaped', 'event'],
          () => reaped.length === 1 && lostEvents.length === 1,
          'the dead relay to be reaped and announced',
        );
        const elapsed = Date.now() - killedAt;
        assert.deepEqual(reaped[0], {
          relay: { id: childId, label: 'child' },
          participants: [{ id: 'p-erin', name: 'erin', relay: childId }],
        });
        assert.deepEqual(lostEvents[0], { type: 'relay-lost', ...reaped[0] }, 'the other relay is told');
        // The bound: the heartbeat's life, plus one sweep, plus scheduling slack on a loaded machine.
        assert.ok(elapsed < FAST.ttlMs + 5_000, `gone after ${elapsed} ms`);
        assert.deepEqual(await b!.broker.join('p-new', 'erin'), { ok: true }, "the dead relay's name is free");
        assert.deepEqual((await a!.broker.roster()).map((r) => r.relay.label).sort(), ['a', 'b']);
      } finally {
        child.kill('SIGKILL');
        await exited;
      }
    });
  });
});

describe('broker: requests across relays', () => {
  it('asks every relay (/who) and gathers one answer from each, its own first', async () => {
    await withRelays(['a', 'b', 'c'], async (relays) => {
      for (const relay of relays) {
        relay.broker.handle('who', () => ({ participants: relay.broker.presence.participants }));
        await relay.broker.join(`p-${relay.name}`, `user-${relay.name}`);
      }
      const result = await relays[0]!.broker.request('who', {});
      assert.deepEqual(result.missing, []);
      assert.deepEqual(result.failed, []);
      assert.equal(result.answers[0]!.relay, relays[0]!.broker.relay.id);
      assert.deepEqual(result.answers.flatMap((a) => a.answer.participants.map((p) => p.name)).sort(), [
        'user-a',
        'user-b',
        'user-c',
      ]);
    });
  });

  it('sends a request to one relay (/kick) and gets its answer', async () => {
    await withRelays(['a', 'b'], async ([a, b]) => {
      const kicked: unknown[] = [];
      b!.broker.handle('kick', (body, from) => {
        kicked.push({ body, from });
        return { kicked: body.id === 'p-x' };
      });
      const result = await a!.broker.request(
        'kick',
        { id: 'p-x', by: 'console', reason: 'spam' },
        { to: [b!.broker.relay.id] },
      );
      assert.deepEqual(result, {
        answers: [{ relay: b!.broker.relay.id, answer: { kicked: true } }],
        failed: [],
        missing: [],
      });
      assert.deepEqual(kicked, [{ body: { id: 'p-x', by: 'console', reason: 'spam' }, from: a!.broker.relay.id }]);
    });
  });

  it('ends a request at its timeout with what it has, naming the relays that did not answer', async () => {
    await withRelays(['a', 'b', 'c'], async ([a, b, c]) => {
      b!.broker.handle('ping', () => ({}));
      let release = () => {};
      c!.broker.handle('ping', () => new Promise((resolve) => (release = () => resolve({}))));
      const started = Date.now();
      const result = await a!.broker.request(
        'ping',
        {},
        { to: [b!.broker.relay.id, c!.broker.relay.id], timeoutMs: 300 },
      );
      assert.ok(Date.now() - started >= 290, 'it waited for its time');
      assert.deepEqual(result, {
        answers: [{ relay: b!.broker.relay.id, answer: {} }],
        failed: [],
        missing: [c!.broker.relay.id],
      });
      release();
    });
  });

  it('reports a relay that cannot answer that kind of request as failed, not missing', async () => {
    await withRelays(['a', 'b'], async ([a, b]) => {
      const result = await a!.broker.request('who', {}, { to: [b!.broker.relay.id], timeoutMs: 5_000 });
      assert.deepEqual(result.failed, [{ relay: b!.broker.relay.id, error: 'this relay answers no who requests' }]);
      assert.deepEqual(result.missing, []);
    });
  });
});

describe('broker: events', () => {
  it('tells every other relay that the chat ends', async () => {
    await withRelays(['a', 'b', 'c'], async ([a, b, c]) => {
      const ends = Promise.all([b!, c!].map((r) => next<[ChatEvent, { from: string }]>(r.broker, 'event')));
      await a!.broker.publish({ type: 'end', by: 'console', reason: 'the console typed END' });
      for (const [event, meta] of await ends) {
        assert.deepEqual(event, { type: 'end', by: 'console', reason: 'the console typed END' });
        assert.equal(meta.from, a!.broker.relay.id);
      }
    });
  });

  it('refuses and reports a message that does not open under the chat key, and drops one published twice', async () => {
    await withRelays(['a', 'b'], async ([a, b]) => {
      const raw = await inspector(redis);
      try {
        const errors = next<[Error]>(b!.broker, 'error');
        const stranger = await createNodeFernet(generateFernetKey());
        await raw.sendCommand([
          'PUBLISH',
          b!.broker.keys.events,
          await stranger.encrypt(new TextEncoder().encode('{"v":1}')),
        ]);
        const [error] = await errors;
        assert.equal((error as { code?: string }).code, 'FOREIGN');
        assert.match(error.message, /same chat key/);
        // A message captured on its way and published again: the broker drops the copy.
        const seen: ChatEvent[] = [];
        b!.broker.on('event', (e) => seen.push(e));
        const copies: string[] = [];
        const capture = raw.duplicate();
        await capture.connect();
        await capture.subscribe(b!.broker.keys.events, (message: string) => copies.push(message));
        await a!.broker.publish({ type: 'end', by: 'x', reason: 'first' });
        await until(b!.broker, 'event', () => seen.length === 1 && copies.length === 1, 'the first delivery');
        await raw.sendCommand(['PUBLISH', b!.broker.keys.events, copies[0]!]);
        await a!.broker.publish({ type: 'end', by: 'x', reason: 'second' });
        await until(b!.broker, 'event', () => seen.length === 2, 'the second event');
        assert.deepEqual(
          seen.map((e) => (e as { reason: string }).reason),
          ['first', 'second'],
          'the replayed copy was dropped',
        );
        capture.destroy();
      } finally {
        raw.destroy();
      }
    });
  });
});
