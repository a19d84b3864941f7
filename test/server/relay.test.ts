/**
 * server/relay.ts: names and fan-out. The relay is driven here through its SessionHost and console calls with
 * members that record what they are handed, so each rule is seen alone; "names through the relay" runs the same
 * rules end to end through a real server and real tabs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Close } from '../../shared/errors.ts';
import { EncodedBody } from '../../shared/record.ts';
import { openHistory } from '../../server/history.ts';
import { Relay, type RelayEvents, type RelayOptions } from '../../server/relay.ts';
import { FakeMember } from '../helpers/fake-member.ts';
import { expectDropped } from '../helpers/checks.ts';
import { helloFrame, RawSocket } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** Every event, as text, in order. */
function recorder(): { events: string[]; listener: RelayEvents } {
  const events: string[] = [];
  return {
    events,
    listener: {
      line: (from, text) => events.push(`line ${from}: ${text}`),
      joined: (member) => events.push(`joined ${member.name}`),
      left: (name, code, reason, tab) => events.push(`left ${name} ${code} ${reason}${tab ? '' : ' (never joined)'}`),
    },
  };
}

/** A relay over a fresh memory log, as the server makes one by default. */
async function newRelay(name: string, options: Partial<RelayOptions> = {}): Promise<Relay> {
  return new Relay(name, { history: await openHistory(), ...options });
}

let numbers = 0;
function connect(relay: Relay): FakeMember {
  const member = new FakeMember(++numbers);
  relay.add(member);
  return member;
}

function join(relay: Relay, requested: string): FakeMember {
  const member = connect(relay);
  member.name = relay.claimName(member, requested) as string;
  relay.joined(member);
  return member;
}

describe('the relay', () => {
  it("fans a line out to every other tab, serialized once, and answers delivered: the receipt is the sender's session's", async () => {
    const relay = await newRelay('console');
    const { events, listener } = recorder();
    relay.listen(listener);
    const [amy, bo, cy] = [join(relay, 'amy'), join(relay, 'bo'), join(relay, 'cy')];
    relay.presence.flush();
    for (const tab of [amy, bo, cy]) tab.received.length = 0;
    // Answered once the log has it, with its chat-wide number; the others had it from the hub by then.
    assert.deepEqual(await relay.line(amy, 7, 'hello'), { status: 'delivered', reason: '', n: 1 });
    assert.deepEqual(amy.received, [], 'no receipt and no echo from the relay');
    assert.equal(bo.received.length, 1);
    assert.ok(bo.received[0] instanceof EncodedBody, 'one body encoded once for every recipient');
    assert.equal(bo.received[0], cy.received[0], 'the same encoded body, not one per tab');
    assert.deepEqual(
      { ...bo.bodies[0], at: 0 },
      { kind: 'line', from: 'amy', text: 'hello', at: 0, direct: false, n: 1, late: false },
    );
    assert.deepEqual(
      await relay.line(amy, 7, 'hello'),
      { status: 'delivered', reason: '', n: 1 },
      'the same line again: its first number',
    );
    assert.equal(bo.received.length, 1, 'and nobody gets it twice');
    assert.deepEqual(events.slice(-1), ['line amy: hello']);
  });

  it('over the memory log, stores a line, fans it out and answers in the call that hands it over, in that order', async () => {
    const history = await openHistory();
    const relay = new Relay('console', { history });
    const [amy, bo] = [join(relay, 'amy'), join(relay, 'bo')];
    relay.presence.flush();
    bo.received.length = 0;
    // What the log held when bo's session was handed the line: it is stored before anyone is shown it.
    const heldWhenShown: number[] = [];
    const position = history.hub.log.position.bind(history.hub.log);
    const send = bo.send.bind(bo);
    let positionAsked: Promise<void> | undefined;
    bo.send = (body) => {
      positionAsked = position().then((p) => void heldWhenShown.push(p.last));
      send(body);
    };
    const outcome = relay.line(amy, 1, 'at once');
    assert.ok(!(outcome instanceof Promise), 'answered in the call, no promise and no batch to wait for');
    assert.deepEqual(outcome, { status: 'delivered', reason: '', n: 1 });
    assert.equal(bo.received.length, 1, 'fanned out before the answer');
    await positionAsked;
    assert.deepEqual(heldWhenShown, [1], 'line 1 was in the log when bo was handed it');
    assert.deepEqual(
      (await history.hub.log.readAfter(0)).map((e) => e.text),
      ['at once'],
      'and it is there for a resume to replay',
    );
    // Sent again (a tab that resumed before its receipt): its first number, shown to nobody again, still in the call.
    assert.deepEqual(relay.line(amy, 1, 'at once'), { status: 'delivered', reason: '', n: 1 });
    assert.equal(bo.received.length, 1);
    relay.presence.stop();
    await history.hub.close();
  });

  it('answers a line the log could not take failed, in the call over the memory log, and shows it to nobody', async () => {
    const history = await openHistory();
    const alerts: string[] = [];
    const relay = new Relay('console', { history, alert: (text) => alerts.push(text) });
    const [amy, bo] = [join(relay, 'amy'), join(relay, 'bo')];
    relay.presence.flush();
    bo.received.length = 0;
    await history.hub.log.close();
    assert.deepEqual(relay.line(amy, 1, 'lost'), {
      status: 'failed',
      reason: 'not sent: the server could not store it',
      n: 0,
    });
    assert.deepEqual(bo.received, []);
    assert.match(alerts.join('\n'), /chat log: the chat log is closed/);
    relay.presence.stop();
  });

  it("names: unique by skeleton, the console's own reserved, freed when their holder leaves", async () => {
    const relay = await newRelay('teacher');
    const first = join(relay, 'copse');
    assert.equal(join(relay, '\u0441\u043e\u0440\u0455\u0435').name, '\u0441\u043e\u0440\u0455\u0435-2');
    assert.throws(
      () => relay.claimName(connect(relay), 'TEACHER'),
      (e: unknown) => (e as { code?: string }).code === 'NAME_REFUSED',
    );
    relay.left(first, Close.NORMAL, 'left');
    assert.equal(join(relay, 'COPSE').name, 'COPSE');
    assert.deepEqual(
      relay.matches('copse').map((m) => m.name),
      ['COPSE'],
    );
  });

  it('tells its listeners of a leave, code before reason; a connection that never joined only when it was dropped', async () => {
    const relay = await newRelay('console');
    const { events, listener } = recorder();
    relay.listen(listener);
    const amy = join(relay, 'amy');
    relay.left(amy, Close.NORMAL, 'left');
    const quiet = connect(relay);
    relay.left(quiet, 1006, 'disconnected (before the handshake finished)');
    const dropped = connect(relay);
    dropped.failed = true;
    relay.left(dropped, Close.PROTOCOL_ERROR, 'dropped: PROTO_BAD_JSON: the frame is not JSON');
    assert.deepEqual(events, [
      'joined amy',
      'left amy 1000 left',
      `left connection #${dropped.number} 1002 dropped: PROTO_BAD_JSON: the frame is not JSON (never joined)`,
    ]);
    assert.equal(relay.size, 0);
  });

  it('every listener hears every event; with none, nothing is lost but the telling', async () => {
    const relay = await newRelay('console');
    const amy = join(relay, 'amy');
    const [one, two] = [recorder(), recorder()];
    relay.listen(one.listener);
    relay.listen(two.listener);
    const bo = join(relay, 'bo');
    await relay.line(bo, 0, 'hi');
    assert.deepEqual(one.events, ['joined bo', 'line bo: hi']);
    assert.deepEqual(two.events, one.events);
    assert.ok(amy.bodies.some((b) => b.kind === 'line' && b.text === 'hi'));
  });

  it('gives every connection, joined or still in its handshake, one heartbeat a beat', async () => {
    const relay = await newRelay('console');
    const joined = join(relay, 'amy');
    const handshaking = connect(relay);
    relay.heartbeat();
    relay.heartbeat();
    assert.deepEqual([joined.beats, handshaking.beats], [2, 2]);
    relay.left(handshaking, 1006, 'vanished (no answer to heartbeats)');
    relay.heartbeat();
    assert.deepEqual([joined.beats, handshaking.beats], [3, 2]);
  });

  it('ends the chat for everyone: an end for joined tabs (SERVER_STOPPING for 1001), a close for the rest', async () => {
    for (const [code, end] of [
      [Close.NORMAL, 'CHAT_ENDED'],
      [Close.GOING_AWAY, 'SERVER_STOPPING'],
    ] as const) {
      const relay = await newRelay('console');
      const amy = join(relay, 'amy');
      const early = connect(relay);
      relay.endAll(code, 'over');
      assert.deepEqual(amy.endedWith, { code: end, reason: 'over' });
      assert.deepEqual(early.closed, { code, reason: 'over' });
      assert.equal(early.endedWith, undefined);
    }
  });

  it('sends a direct line to one tab, and kicks one tab with KICKED', async () => {
    const relay = await newRelay('teacher');
    const [amy, bo] = [join(relay, 'amy'), join(relay, 'bo')];
    relay.presence.flush();
    for (const tab of [amy, bo]) tab.received.length = 0;
    assert.equal(relay.direct('amy', 'psst'), true);
    // Sent once the log has it.
    for (let turn = 0; turn < 100 && amy.received.length === 0; turn++)
      await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      { ...amy.bodies[0], at: 0 },
      { kind: 'line', from: 'teacher', text: 'psst', at: 0, direct: true, n: 1, late: false },
    );
    assert.deepEqual(bo.received, []);
    assert.equal(relay.direct('nobody', 'x'), false);
    assert.equal(relay.kick('bo'), true);
    assert.deepEqual(bo.endedWith, { code: 'KICKED', reason: 'teacher removed you from the chat' });
    assert.equal(relay.kick('nobody'), false);
  });
});

// Moved from test/server/chat.test.ts: names are the relay's, and these run them through a real server.
describe('names through the relay', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ name: 'teacher' });
  });
  after(() => server.stop());

  const refused = async (name: string) => {
    const socket = await RawSocket.open(server);
    socket.sendJson(await helloFrame({ name }));
    const { closed } = await expectDropped(server, socket, { code: Close.NAME_REFUSED, error: 'NAME_REFUSED' });
    return closed.reason;
  };

  it('refuses a hello asking for console + U+200B (or any invisible or look-alike name) with NAME_REFUSED, 4100', async () => {
    assert.match(
      await refused('console\u200b'),
      /^NAME_REFUSED: a name cannot contain an invisible character \(U\+200B\)$/,
    );
    assert.match(await refused('c\u043ensole'), /cannot mix scripts/);
    assert.match(await refused('\u3164'), /invisible/);
  });

  it("refuses reserved names, the console's own --name and their look-alikes, in any letter case", async () => {
    assert.match(await refused('teacher'), /"teacher" is reserved/);
    assert.match(await refused('TEACHER'), /"teacher" is reserved/);
    assert.match(await refused('system'), /"system" is reserved/);
    assert.match(await refused('\u0455\u0435\u0433\u0475\u0435\u0433'), /looks like the reserved name "server"/);
  });

  it('keeps names unique by skeleton: a look-alike of a name in use gets a suffix, freed when its holder leaves', async () => {
    const latin = await server.connect({ name: 'copse' });
    const cyrillic = await server.connect({ name: '\u0441\u043e\u0440\u0455\u0435' });
    assert.equal(cyrillic.session.identity?.name, '\u0441\u043e\u0440\u0455\u0435-2');
    await latin.waitForPresence('joined', '\u0441\u043e\u0440\u0455\u0435-2');
    const spaced = await server.connect({ name: 'alice\u00a0 smith' });
    assert.equal(spaced.session.identity?.name, 'alice smith', 'normalized: NFKC, one space');
    await latin.bye();
    await server.waitForEvent((e) => e.kind === 'left' && e.name === 'copse');
    const again = await server.connect({ name: 'COPSE' });
    assert.equal(again.session.identity?.name, 'COPSE');
    for (const tab of [cyrillic, spaced, again]) await tab.bye();
  });
});
