/**
 * Resume across relays (docs/cluster.md "Resume across relays"): relay processes on one real Redis, scripted tabs
 * that do what the page does across drops (tools/resuming-client.ts). A seat given by one relay opens on another
 * relay of the same chat and brings back the tab's name and every line it missed, once; a seat works once
 * chat-wide; a seat of one chat opens no place in another chat of the same Redis, even under the same key; the
 * relay a tab left behind closes its stale connection quietly; a name lost while a relay was cut off closes the
 * tab to come back (1013), never as kicked; a SIGKILLed relay's tab resumes elsewhere before the reap; while Redis
 * is away a tab is told to come back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScriptedClient } from '../../../tools/client.ts';
import { runResumeLoad } from '../../../tools/load.ts';
import { ResumingClient } from '../../../tools/resuming-client.ts';
import { startCutProxy, type CutProxy } from '../../helpers/cut-proxy.ts';
import { startAll, startServerProcess, stopAll, teardown, type ServerProcess } from '../../helpers/process.ts';
import { startRedis, type RedisServer } from '../../helpers/redis.ts';
import { testKeyPair } from '../../helpers/server.ts';

function wsUrl(relay: { port: number }): string {
  return `ws://127.0.0.1:${relay.port}/ws`;
}

function tab(url: string, name: string): Promise<ResumingClient> {
  return ResumingClient.join({ url, name, keyPair: testKeyPair() });
}

/** A connection that presents `claim` as if it were a tab coming back. */
function presenting(url: string, name: string, claim: { secret: string; epoch: string; last: number }) {
  return ScriptedClient.connect({ url, name, keyPair: testKeyPair(), resume: () => claim });
}

/** Texts of the lines `client` was shown, in chat order. */
function texts(client: ResumingClient): string[] {
  return [...client.lines.entries()].sort(([a], [b]) => a - b).map(([, l]) => l.text);
}

describe('resume across relays of one chat in Redis', () => {
  let redis: RedisServer;
  let dir: string;
  let proxy: CutProxy;
  const relays: ServerProcess[] = [];
  const clients: ResumingClient[] = [];
  const start = (...more: string[]) =>
    startServerProcess(
      [
        '--redis',
        redis.url,
        '--presence-interval',
        '0',
        // The load below opens its tabs at once from one address.
        ...['--max-pending-per-address', '100', '--handshake-rate', '10000', '--handshake-burst', '10000'],
        ...more,
      ],
      { identityDir: dir },
    );

  before(async () => {
    redis = await startRedis();
    dir = await mkdtemp(join(tmpdir(), 'wirechat-cluster-resume-'));
    relays.push(await start());
    relays.push(...(await startAll([() => start(), () => start('--chat', 'another')])));
    // Tabs reach relay A through a proxy that can cut them the way a dead link does (the relay does not notice).
    proxy = await startCutProxy({ host: '127.0.0.1', port: relays[0]!.port });
  });
  after(() =>
    teardown(
      () => clients.forEach((client) => client.close()),
      () => proxy?.close(),
      () => stopAll(relays),
      () => redis?.stop(),
      () => dir && rm(dir, { recursive: true, force: true }),
    ),
  );

  it('resumes on relay B with the seat relay A gave: same name, every missed line once, in order, resent once', async () => {
    const [a, b] = relays as [ServerProcess, ServerProcess];
    const ann = await tab(wsUrl(proxy), 'ann');
    const ben = await tab(wsUrl(b), 'ben');
    clients.push(ann, ben);
    ann.send('ann before the cut');
    await ann.settled();
    await ben.reached(ann.own.get(0)!.n!);
    // A dead link: relay A does not notice; its connection of ann stays open and silent.
    proxy.cut();
    const missed = ['ben 1', 'ben 2', 'ben 3'];
    for (const text of missed) ben.send(text);
    await ben.settled();
    a.type('console a while ann is away');
    await ben.client!.waitFor((x) => x.kind === 'line' && x.text === 'console a while ann is away', 10_000);
    const away = ann.send('typed by ann while away');
    const before = ann.secret;
    const answer = await ann.resume(wsUrl(b));
    assert.deepEqual(answer, { kind: 'resumed', name: 'ann', recovered: true, reason: '', gone: 0, replayed: 4 });
    await ann.settled();
    assert.equal(ann.resent, 1, 'the line without a receipt was sent again');
    await ben.reached(ann.own.get(away)!.n!);
    assert.deepEqual(texts(ann), [
      'ann before the cut',
      ...missed,
      'console a while ann is away',
      'typed by ann while away',
    ]);
    assert.equal(ann.duplicates + ben.duplicates, 0, 'nothing shown twice');
    assert.equal(texts(ben).filter((t) => t === 'typed by ann while away').length, 1, 'the resent line once');
    assert.notEqual(ann.secret, before, 'a new seat at every resume');

    // Relay A closes its stale connection of ann quietly (no kick), and ann stays in the chat on B.
    await a.waitForLine(/ann its place was resumed on a new connection/);
    assert.ok(!a.lines.some((l) => /ann (lost its name|was removed)/.test(l)));
    a.type('/who');
    await a.waitForLine('2 in the chat, on 2 relays:');
    await a.waitForLine(/\(this relay\): nobody$/);
    const stillOpen = await Promise.race([
      ann.client!.closed.then((c) => `closed ${c.code} ${c.reason}`),
      // Two heartbeats of relay A (1 s each): where a name lost to a resume would have closed ann's new session.
      new Promise<string>((resolve) => setTimeout(() => resolve('open'), 2_500)),
    ]);
    assert.equal(stillOpen, 'open');
    ben.send('ben after ann came back');
    await ben.settled();
    await ann.reached(ben.own.get(3)!.n!);
    assert.equal(texts(ann).at(-1), 'ben after ann came back');
  });

  it('passes npm run load --resume over two relays: tabs cut at random come back through either, every line once', async () => {
    const result = await runResumeLoad({ clients: 30, lines: 12, urls: relays.slice(0, 2).map(wsUrl), cut: 0.15 });
    assert.deepEqual(result.problems, []);
    assert.ok(result.cuts > 0, 'some sockets were cut');
    assert.equal(result.recovered, result.cuts, 'every cut tab resumed its place');
  });

  it('refuses a seat used once already, on any relay: the tab joins as a new participant and is told', async () => {
    const [a, b] = relays as [ServerProcess, ServerProcess];
    const cat = await tab(wsUrl(a), 'cat');
    clients.push(cat);
    const spent = { secret: cat.secret!, epoch: cat.epoch!, last: cat.last };
    cat.cut();
    assert.equal((await cat.resume(wsUrl(b))).recovered, true);
    const again = await presenting(wsUrl(a), 'mallory', spent);
    const answer = again.bodies.find((x) => x.kind === 'resumed');
    assert.deepEqual(answer && { ...answer, gone: 0 }, {
      kind: 'resumed',
      name: 'mallory',
      recovered: false,
      reason: 'unknown',
      gone: 0,
      replayed: 0,
    });
    again.close();
  });

  it('refuses a seat from another chat in the same Redis, even under the same chat key', async () => {
    const [a, , other] = relays as [ServerProcess, ServerProcess, ServerProcess];
    assert.equal(other.fingerprint, a.fingerprint, 'the same identity and chat key');
    const dan = await tab(wsUrl(a), 'dan');
    clients.push(dan);
    const claim = { secret: dan.secret!, epoch: dan.epoch!, last: dan.last };
    const elsewhere = await presenting(wsUrl(other), 'dan', claim);
    const answer = elsewhere.bodies.find((x) => x.kind === 'resumed');
    assert.ok(answer && answer.kind === 'resumed');
    assert.equal(answer.recovered, false);
    assert.equal(answer.reason, 'epoch');
    elsewhere.close();
    // Refused there, so still unspent here.
    dan.cut();
    assert.equal((await dan.resume(wsUrl(a))).recovered, true);
  });

  it('closes a tab whose name was taken while its relay was cut off with 1013, not as kicked; it resumes', async () => {
    const [a, b] = relays as [ServerProcess, ServerProcess];
    const ivy = await tab(wsUrl(a), 'ivy');
    clients.push(ivy);
    // Relay A stops (SIGSTOP): its heartbeat expires, B reaps it, and a newcomer on B takes the name.
    a.signalServer('SIGSTOP');
    await b.waitForLine(/ivy was lost with its relay/, 15_000);
    const other = await tab(wsUrl(b), 'ivy');
    clients.push(other);
    assert.equal(other.client!.session.identity!.name, 'ivy');
    other.send('the other ivy speaks');
    await other.settled();
    a.signalServer('SIGCONT');
    // A finds at its next beat that ivy's name is someone else's: the tab is closed to come back, not ended.
    const closed = await ivy.client!.closed;
    assert.equal(closed.code, 1013);
    assert.ok(!ivy.client!.bodies.some((body) => body.kind === 'end'), 'no end body: not kicked');
    ivy.cut();
    const answer = await ivy.resume(wsUrl(a));
    assert.equal(answer.recovered, true, 'its place, under the name it can have now');
    assert.equal(answer.name, 'ivy-2');
    assert.ok(texts(ivy).includes('the other ivy speaks'), 'and what it missed');
  });

  /**
   * Relay A stops (SIGSTOP) with `name`'s tab on it; the tab resumes on B, and B reaps A. When A runs again it must
   * not take the tab's name back from B (its session there would lose it at B's next beat, 1013), nor tell the
   * chat it left. `through`: how the tab reaches A, which decides what A hears first of its old connection.
   */
  async function movedWhileStopped(name: string, through: 'proxy' | 'direct'): Promise<ServerProcess> {
    const [a, b] = relays as [ServerProcess, ServerProcess];
    const moving = await tab(wsUrl(through === 'proxy' ? proxy : a), name);
    const stays = await tab(wsUrl(b), `${name}-friend`);
    // A tab of relay A that does not come back: its leave shows when B reaps the stopped relay.
    const left = await tab(wsUrl(a), `${name}-left`);
    clients.push(moving, stays, left);
    a.signalServer('SIGSTOP');
    if (through === 'proxy') proxy.cut();
    else moving.cut();
    const answer = await moving.resume(wsUrl(b));
    assert.equal(answer.recovered, true);
    assert.equal(answer.name, name);
    await b.waitForLine(new RegExp(`${name}-left was lost with its relay`), 15_000);
    assert.ok(!b.lines.some((l) => l.includes(`${name} was lost with its relay`)), 'it moved before the reap');
    a.signalServer('SIGCONT');
    await a.waitForLine(
      through === 'proxy'
        ? `${name} its place was resumed on a new connection`
        : `${name} disconnected (1006 connection lost without a close frame)`,
    );
    const stillOpen = await Promise.race([
      moving.client!.closed.then((c) => `closed ${c.code} ${c.reason}`),
      // Two heartbeats of each relay (1 s each): where a claim taken back would have closed the session on B.
      new Promise<string>((resolve) => setTimeout(() => resolve('open'), 2_500)),
    ]);
    assert.equal(stillOpen, 'open');
    assert.ok(!a.lines.some((l) => l.includes(`${name} lost its name`)));
    const after = moving.send(`${name} after A came back`);
    await moving.settled();
    await stays.reached(moving.own.get(after)!.n!);
    const told = stays.client!.bodies.some(
      (body) => body.kind === 'presence' && body.changes.some((c) => c.change === 'left' && c.name === name),
    );
    assert.equal(told, false, `nobody was told ${name} left`);
    assert.ok(
      !b.lines.some((l) => new RegExp(`\\* ${name} (left|disconnected)`).test(l)),
      `B shows no leave of ${name}`,
    );
    b.type('/who');
    await b.waitForLine(new RegExp(`\\(this relay\\): .*\\b${name}\\b`));
    return a;
  }

  it('closes quietly, once it runs again, the connection of a tab that moved to another relay while it was stopped', async () => {
    const a = await movedWhileStopped('kim', 'proxy');
    assert.ok(!a.lines.some((l) => /kim was removed/.test(l)));
  });

  it('writes no leave when it hears, once it runs again, that the connection of a tab that moved meanwhile dropped', async () => {
    await movedWhileStopped('nia', 'direct');
  });

  it('resumes the tab of a relay killed with SIGKILL on another relay at once, before the dead relay is reaped', async () => {
    const [a, b] = relays as [ServerProcess, ServerProcess];
    const gus = await tab(wsUrl(a), 'gus');
    const hal = await tab(wsUrl(b), 'hal');
    // A tab of relay A that does not come back: its leave shows when the dead relay is reaped.
    const jo = await tab(wsUrl(a), 'jo');
    clients.push(gus, hal, jo);
    gus.send('gus before the kill');
    await gus.settled();
    await hal.reached(gus.own.get(0)!.n!);
    a.signalServer('SIGKILL');
    await a.exited.catch(() => {});
    gus.cut();
    hal.send('hal while gus is away');
    await hal.settled();
    const typed = gus.send('gus typed while away');
    // Within the dead relay's heartbeat (5 s): its claim on the name is still in Redis, and moves with gus.
    const answer = await gus.resume(wsUrl(b));
    assert.deepEqual(answer, { kind: 'resumed', name: 'gus', recovered: true, reason: '', gone: 0, replayed: 1 });
    await gus.settled();
    await hal.reached(gus.own.get(typed)!.n!);
    assert.deepEqual(texts(gus), ['gus before the kill', 'hal while gus is away', 'gus typed while away']);
    assert.equal(gus.duplicates + hal.duplicates, 0);
    // The dead relay is reaped: its tab that did not come back (jo) is shown gone, gus is not.
    await b.waitForLine(/jo was lost with its relay/, 15_000);
    assert.ok(!b.lines.some((l) => /gus was lost with its relay/.test(l)), 'gus moved before the reap');
    b.type('/who');
    await b.waitForLine(/\(this relay\): .*\bgus\b/);
  });

  it('tells a tab that comes while Redis is away to try again later (1013 CHAT_UNAVAILABLE), then takes it', async () => {
    const b = relays[1]!;
    const eve = await tab(wsUrl(b), 'eve');
    clients.push(eve);
    await redis.kill();
    await b.waitForLine(/lost Redis/);
    const joining = ScriptedClient.connect({ url: wsUrl(b), name: 'fay', keyPair: testKeyPair() });
    await assert.rejects(joining, /closed 1013 "CHAT_UNAVAILABLE: .*try again shortly"/);
    eve.cut();
    await assert.rejects(eve.resume(wsUrl(b)), /closed 1013 "CHAT_UNAVAILABLE: .*try again shortly"/);
    await redis.restart();
    await b.waitForLine(/Redis is back/);
    // Its seat was not spent: it resumes once Redis is back. (Redis restarted empty: a new epoch, told so.)
    const answer = await eve.resume(wsUrl(b));
    assert.match(answer.name, /^eve/);
    const fay = await tab(wsUrl(b), 'fay');
    clients.push(fay);
    assert.equal(fay.client!.session.identity!.name, 'fay');
  });
});
