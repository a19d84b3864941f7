/**
 * Line numbers and resume through a real server on loopback (the relay, the sessions, the memory log), with
 * scripted tabs that do what the page does across drops (tools/resuming-client.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ResumingClient } from '../../tools/resuming-client.ts';
import { startTestServer, testKeyPair, type TestServer } from '../helpers/server.ts';

async function tab(server: TestServer, name: string): Promise<ResumingClient> {
  return ResumingClient.join({ url: server.wsUrl, name, keyPair: testKeyPair() });
}

/** A connection that presents `secret` (and a position) as if it were the tab coming back. */
async function presenting(server: TestServer, name: string, secret: string, epoch: string, last: number) {
  const { ScriptedClient } = await import('../../tools/client.ts');
  return ScriptedClient.connect({
    url: server.wsUrl,
    name,
    keyPair: testKeyPair(),
    resume: () => ({ secret, epoch, last }),
  });
}

async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('line numbers', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.stop());

  test('every line gets the next chat-wide number, in its receipt and on every other tab', async () => {
    const ann = await tab(server, 'ann');
    const ben = await tab(server, 'ben');
    const first = ann.send('one');
    ben.send('two');
    await ann.settled();
    await ben.settled();
    const numberOf = (client: ResumingClient, id: number) => client.own.get(id)!.n!;
    const one = numberOf(ann, first);
    await ben.reached(one);
    await ann.reached(numberOf(ben, 0));
    assert.equal(ben.lines.get(one)?.text, 'one', "ben sees ann's line under the number ann's receipt has");
    assert.equal(ann.lines.get(numberOf(ben, 0))?.text, 'two');
    assert.notEqual(one, numberOf(ben, 0));
    assert.equal(ann.duplicates + ben.duplicates, 0);
    ann.close();
    ben.close();
  });
});

describe('resume', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ heartbeatMs: 60_000 });
  });
  after(() => server.stop());

  test('a cut tab gets its name back and every line it missed, once, in order, marked late', async () => {
    const ann = await tab(server, 'ann');
    const ben = await tab(server, 'ben');
    ann.send('before the cut');
    await ann.settled();
    ann.cut();
    await server.waitForEvent((e) => e.kind === 'left' && e.name === 'ann');
    const said = ['ben 1', 'ben 2', 'ben 3'].map((text) => ben.send(text));
    await ben.settled();
    const typedWhileAway = ann.send('typed while away');
    const answer = await ann.resume();
    assert.deepEqual(
      { ...answer, replayed: answer.replayed },
      { kind: 'resumed', name: 'ann', recovered: true, reason: '', gone: 0, replayed: 3 },
    );
    await ann.settled();
    const late = [...ann.lines.entries()].filter(([, l]) => l.late);
    assert.deepEqual(
      late.map(([n, l]) => [n, l.text]),
      said.map((id) => [ben.own.get(id)!.n, ben.own.get(id)!.text]),
    );
    await ben.reached(ann.own.get(typedWhileAway)!.n!);
    assert.equal([...ben.lines.values()].filter((l) => l.text === 'typed while away').length, 1);
    assert.equal(ann.duplicates + ben.duplicates, 0, 'no line shown twice');
    ann.close();
    ben.close();
  });

  test('a line sent again after a resume is delivered once, under its first number', async () => {
    const ann = await tab(server, 'ann2');
    const ben = await tab(server, 'ben2');
    const id = ann.send('said once');
    await ann.settled();
    const n = ann.own.get(id)!.n!;
    await ben.reached(n);
    ann.cut();
    await ann.resume();
    // As if its receipt had been lost: the same line, under the same id, again.
    const receipt = ann.client!.waitFor((b) => b.kind === 'receipt' && b.id === id);
    await ann.client!.send('said once', id);
    assert.deepEqual(await receipt, { kind: 'receipt', id, status: 'delivered', reason: '', n });
    const marker = ann.send('after the resend');
    await ann.settled();
    await ben.reached(ann.own.get(marker)!.n!);
    assert.equal([...ben.lines.values()].filter((l) => l.text === 'said once').length, 1, 'ben got it once');
    assert.equal(ben.duplicates, 0);
    ann.close();
    ben.close();
  });

  test('a secret works once: presented again it resumes nobody, and says so', async () => {
    const ann = await tab(server, 'ann3');
    const used = ann.secret!;
    const epoch = ann.epoch!;
    ann.cut();
    assert.equal((await ann.resume()).recovered, true);
    const thief = await presenting(server, 'thief', used, epoch, ann.last);
    const answer = await thief.waitFor((b) => b.kind === 'resumed');
    assert.deepEqual(answer, {
      kind: 'resumed',
      name: 'thief',
      recovered: false,
      reason: 'unknown',
      gone: 0,
      replayed: 0,
    });
    assert.ok(!thief.bodies.some((b) => b.kind === 'line'), 'and no history');
    assert.ok(
      thief.bodies.some((b) => b.kind === 'seat'),
      'a new participant gets a seat of its own',
    );
    thief.close();
    ann.close();
  });

  test('EXIT and a kick revoke the secret the tab holds', async () => {
    const ann = await tab(server, 'ann4');
    const secret = ann.secret!;
    await ann.client!.bye('EXIT');
    await until(() => server.events.some((e) => e.kind === 'left' && e.name === 'ann4'), 'ann4 left');
    const back = await presenting(server, 'ann4', secret, ann.epoch!, ann.last);
    assert.equal(((await back.waitFor((b) => b.kind === 'resumed')) as { reason: string }).reason, 'unknown');
    back.close();

    const ben = await tab(server, 'ben4');
    const kept = ben.secret!;
    assert.equal(server.relay.kick('ben4'), true);
    await until(() => server.events.some((e) => e.kind === 'left' && e.name === 'ben4'), 'ben4 kicked');
    const again = await presenting(server, 'ben4', kept, ben.epoch!, ben.last);
    assert.equal(((await again.waitFor((b) => b.kind === 'resumed')) as { reason: string }).reason, 'unknown');
    again.close();
  });

  test('a made-up secret resumes nobody, and the tab is told how many lines it missed', async () => {
    const ben = await tab(server, 'ben5');
    const ann = await tab(server, 'ann5');
    const epoch = ann.epoch!;
    const last = ann.last;
    ann.cut();
    ben.send('x');
    ben.send('y');
    await ben.settled();
    const forged = await presenting(server, 'ann5', `${ann.secret!.split('.')[0]}.AAAAAAAAAAAAAAAAAAAAAA`, epoch, last);
    const answer = await forged.waitFor((b) => b.kind === 'resumed');
    assert.deepEqual(answer, {
      kind: 'resumed',
      name: 'ann5',
      recovered: false,
      reason: 'unknown',
      gone: 2,
      replayed: 0,
    });
    assert.ok(!forged.bodies.some((b) => b.kind === 'line' && b.late), 'no history for a secret that is not one');
    forged.close();
    ben.close();
  });

  test('a real secret claiming a line far beyond the log gets its place, told ahead, and the next lines once', async () => {
    const ben = await tab(server, 'ben6');
    const ann = await tab(server, 'ann6');
    const epoch = ann.epoch!;
    ann.cut();
    const back = await presenting(server, 'ann6', ann.secret!, epoch, Number.MAX_SAFE_INTEGER);
    const answer = await back.waitFor((b) => b.kind === 'resumed');
    assert.deepEqual(answer, { kind: 'resumed', name: 'ann6', recovered: true, reason: 'ahead', gone: 0, replayed: 0 });
    ben.send('after the claim');
    const got = await back.waitFor((b) => b.kind === 'line' && b.text === 'after the claim');
    assert.equal(got.kind === 'line' && got.late, false);
    back.close();
    ben.close();
  });
});

describe('resume beyond retention, and in plain mode', () => {
  test('a tab away longer than the log keeps is told how many lines it missed', async () => {
    const server = await startTestServer({ historyLines: 3 });
    try {
      const ann = await tab(server, 'ann');
      const ben = await tab(server, 'ben');
      ann.cut();
      for (let i = 0; i < 6; i++) ben.send(`line ${i}`);
      await ben.settled();
      const answer = await ann.resume();
      assert.equal(answer.recovered, false);
      assert.equal(answer.reason, 'trimmed');
      assert.equal(answer.gone, 6);
      ben.close();
      ann.close();
    } finally {
      await server.stop();
    }
  });

  test('plain mode gives no secret and resumes nobody, and says why', async () => {
    const server = await startTestServer({ plain: true });
    try {
      const ann = await ResumingClient.join({
        url: server.wsUrl,
        name: 'ann',
        keyPair: testKeyPair(),
        acceptPlain: true,
      });
      const ben = await ResumingClient.join({
        url: server.wsUrl,
        name: 'ben',
        keyPair: testKeyPair(),
        acceptPlain: true,
      });
      assert.equal(ann.secret, undefined, 'no secret crosses the wire in the clear');
      assert.ok(
        ann.client!.bodies.some((b) => b.kind === 'seat' && b.secret === ''),
        'the seat says where the tab is, no more',
      );
      ann.cut();
      ben.send('while ann was away');
      await ben.settled();
      const answer = await ann.resume();
      assert.deepEqual(answer, {
        kind: 'resumed',
        name: 'ann',
        recovered: false,
        reason: 'plain',
        gone: 1,
        replayed: 0,
      });
      ben.close();
      ann.close();
    } finally {
      await server.stop();
    }
  });
});
