/**
 * server/presence.ts and its use by the relay: joins and leaves announced in batches. What is counted is bodies
 * handed to tabs (each is one sealed record), never time: the clock is a fake one that the test moves.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from '../../shared/bytes.ts';
import { createFernet } from '../../shared/fernet.ts';
import { createMac } from '../../shared/mac.ts';
import {
  LIMITS,
  parseServerBody,
  parseServerFrame,
  type ServerBody,
  type ServerPresence,
} from '../../shared/protocol.ts';
import { EncodedBody, RecordChannel } from '../../shared/record.ts';
import { Presence, type PresenceClock } from '../../server/presence.ts';
import { openHistory } from '../../server/history.ts';
import { Relay } from '../../server/relay.ts';
import type { ServerSession } from '../../server/session.ts';

/** A clock the test moves by hand; timers run when it passes their time. */
class FakeClock implements PresenceClock {
  time = 0;
  #timers: Array<{ at: number; run: () => void; live: boolean }> = [];

  now(): number {
    return this.time;
  }

  later(run: () => void, ms: number): () => void {
    const timer = { at: this.time + ms, run, live: true };
    this.#timers.push(timer);
    return () => {
      timer.live = false;
    };
  }

  advance(ms: number): void {
    this.time += ms;
    for (const timer of this.#timers.filter((t) => t.live && t.at <= this.time)) {
      timer.live = false;
      timer.run();
    }
    this.#timers = this.#timers.filter((t) => t.live);
  }

  get pending(): number {
    return this.#timers.filter((t) => t.live).length;
  }
}

/** A tab as the relay sees it: a name, and every body it was sent (each would be one sealed record). */
class Tab {
  readonly received: ServerBody[] = [];
  readonly failed = false;
  /** What the others are told of this tab's leaving (ServerSession.departure). */
  departure = '';
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
  get label(): string {
    return this.name;
  }
  send(body: ServerBody | EncodedBody<ServerBody>): Promise<void> {
    const plain = body instanceof EncodedBody ? body.body : body;
    // Its own resume seat, one per join of its own, is not what these tests count.
    if (plain.kind === 'seat') return Promise.resolve();
    this.received.push(plain);
    return Promise.resolve();
  }
  /** As ServerSession.end: the authenticated end of the chat (the close that follows is not modelled). */
  end(code: string, reason: string): void {
    this.received.push({ kind: 'end', code, reason });
  }
  get presence(): ServerPresence[] {
    return this.received.filter((b): b is ServerPresence => b.kind === 'presence');
  }
}

const quiet = { line() {}, joined() {}, left() {} };

async function relayWithClock(intervalMs = 250): Promise<{ relay: Relay; clock: FakeClock }> {
  const clock = new FakeClock();
  const relay = new Relay('console', { history: await openHistory(), presenceIntervalMs: intervalMs, clock });
  relay.listen(quiet);
  return { relay, clock };
}

/** Joins a tab to the relay as a session whose welcome has just gone out. */
function join(relay: Relay, name: string): Tab {
  const tab = new Tab(name);
  const session = tab as unknown as ServerSession;
  relay.add(session);
  void relay.claimName(session, name);
  relay.joined(session);
  return tab;
}

function leave(relay: Relay, tab: Tab, reason = 'left'): void {
  tab.departure = reason;
  relay.left(tab as unknown as ServerSession, 1000, reason);
}

const sent = (tabs: Tab[]) => tabs.reduce((n, t) => n + t.received.length, 0);
const named = (body: ServerPresence) => body.changes.map((c) => (c.change === 'joined' ? `+${c.name}` : `-${c.name}`));

describe('presence announcements', () => {
  it('cost one body per tab for a burst of joins, not one per join per tab (200 joins: 200, not 19,900)', async () => {
    const { relay, clock } = await relayWithClock();
    const tabs = Array.from({ length: 200 }, (_, i) => join(relay, `tab-${i}`));
    assert.ok(sent(tabs) <= 2, `the first joins go out at once: ${sent(tabs)} bodies`);
    clock.advance(250);
    const total = sent(tabs);
    assert.ok(total <= 200, `${total} bodies for 200 joins into a room of 200`);
    assert.equal(relay.presence.stats.sent, total);
    // Every tab heard of every tab that joined after it, named or counted.
    for (const [i, tab] of tabs.entries()) {
      const heard = tab.presence.reduce((n, b) => n + b.changes.length + b.moreJoined, 0);
      assert.equal(heard, 199 - i, `${tab.name} heard of ${heard} joins`);
    }
  });

  it('cost one body per tab for a burst of joins into a full room (100 tabs in, 100 more join: at most 200 bodies)', async () => {
    const { relay, clock } = await relayWithClock();
    const room = Array.from({ length: 100 }, (_, i) => join(relay, `in-${i}`));
    clock.advance(1000);
    const before = sent(room);
    const burst = Array.from({ length: 100 }, (_, i) => join(relay, `new-${i}`));
    clock.advance(250);
    const cost = sent([...room, ...burst]) - before;
    assert.ok(
      cost <= 200 + 1,
      `${cost} bodies (one announcement per join would be about 100 * 100 + 100 * 99 / 2 = 14,950)`,
    );
  });

  it('never tells a tab of its own join, and tells it only what happened after it', async () => {
    const { relay, clock } = await relayWithClock();
    const alice = join(relay, 'alice');
    const bob = join(relay, 'bob');
    assert.deepEqual(alice.presence.map(named), [['+bob']], 'the room was quiet: at once');
    const carol = join(relay, 'carol');
    leave(relay, alice);
    const dave = join(relay, 'dave');
    clock.advance(250);
    assert.deepEqual(bob.presence.map(named), [['+carol', '-alice', '+dave']]);
    assert.deepEqual(carol.presence.map(named), [['-alice', '+dave']]);
    assert.deepEqual(dave.presence, []);
    assert.equal(alice.presence.length, 1, 'a tab that left hears nothing more');
  });

  it('announces a tab that joined and left within one interval, both, in order', async () => {
    const { relay, clock } = await relayWithClock();
    const watcher = join(relay, 'watcher');
    join(relay, 'first');
    const brief = join(relay, 'brief');
    leave(relay, brief, 'disconnected (1006)');
    clock.advance(250);
    const last = watcher.presence.at(-1)!;
    assert.deepEqual(last.changes, [
      { change: 'joined', name: 'brief' },
      { change: 'left', name: 'brief', reason: 'disconnected (1006)' },
    ]);
  });

  it('sends a change at once when the room has been quiet for an interval, and at most one batch per interval', async () => {
    const { relay, clock } = await relayWithClock();
    const watcher = join(relay, 'watcher');
    join(relay, 'a');
    assert.equal(watcher.presence.length, 1);
    join(relay, 'b');
    join(relay, 'c');
    assert.equal(watcher.presence.length, 1, 'within the interval: held back');
    clock.advance(249);
    assert.equal(watcher.presence.length, 1);
    clock.advance(1);
    assert.deepEqual(watcher.presence.map(named), [['+a'], ['+b', '+c']]);
    clock.advance(250);
    join(relay, 'd');
    assert.equal(watcher.presence.length, 3, 'quiet for an interval: at once');
    assert.equal(clock.pending, 0);
  });

  it("sends pending changes before a line, so a line never arrives before its sender's join", async () => {
    const { relay } = await relayWithClock();
    const watcher = join(relay, 'watcher');
    join(relay, 'a');
    const b = join(relay, 'b');
    await relay.line(b as unknown as ServerSession, 0, 'hello from b');
    assert.deepEqual(
      watcher.received.map((body) =>
        body.kind === 'presence'
          ? named(body).join(' ')
          : body.kind === 'line'
            ? `${body.from}: ${body.text}`
            : body.kind,
      ),
      ['+a', '+b', 'b: hello from b'],
    );
    await relay.say('from the console');
    assert.equal(watcher.received.length, 4, 'nothing pending: no empty presence');
  });

  it(`names at most ${LIMITS.maxPresenceChanges} changes in one body and counts the rest`, async () => {
    const { relay, clock } = await relayWithClock();
    const watcher = join(relay, 'watcher');
    join(relay, 'first');
    const burst = Array.from({ length: 100 }, (_, i) => join(relay, `tab-${i}`));
    for (const tab of burst.slice(0, 30)) leave(relay, tab);
    clock.advance(250);
    const body = watcher.presence.at(-1)!;
    assert.equal(body.changes.length, LIMITS.maxPresenceChanges);
    assert.deepEqual(named(body).slice(0, 2), ['+tab-0', '+tab-1']);
    assert.equal(body.moreJoined, 80);
    assert.equal(body.moreLeft, 30);
    assert.deepEqual(parseServerBody(JSON.parse(JSON.stringify(body))), body, 'it parses as the page parses it');
  });

  it('keeps a body within one record for the longest names and reasons the protocol allows', async () => {
    const clock = new FakeClock();
    const watcher = new Tab('watcher');
    const presence = new Presence(() => [watcher], 250, clock);
    // 24 code points that JSON writes as 6 bytes each (lone surrogates), and reasons of 256 such characters.
    const name = (i: number) => `${i}${'\ud800'.repeat(20)}`;
    const reason = '\udfff'.repeat(256);
    for (let i = 0; i < 100; i++) presence.left(name(i), reason);
    clock.advance(250);
    const body = watcher.presence.at(-1)!;
    assert.ok(
      body.changes.length >= 1 && body.changes.length < LIMITS.maxPresenceChanges,
      `${body.changes.length} named`,
    );
    assert.equal(
      watcher.presence.reduce((n, b) => n + b.changes.length + b.moreLeft, 0),
      100,
      'every leave named or counted',
    );
    const keys = { fernet: await createFernet(randomBytes(32)), mac: await createMac(randomBytes(32)) };
    const frame = await new RecordChannel(keys, randomBytes(16), 's2c').seal(new EncodedBody(body));
    const parsed = parseServerFrame(JSON.stringify(frame));
    assert.ok(parsed.type === 'record' && parsed.token.length <= LIMITS.maxTokenChars, 'the token fits maxTokenChars');
  });

  it('drops what waits for its batch when the chat ends for everyone: nothing follows the end', async () => {
    const { relay, clock } = await relayWithClock();
    const watcher = join(relay, 'watcher');
    join(relay, 'a');
    join(relay, 'b');
    relay.endAll(1000, 'over');
    clock.advance(1000);
    assert.deepEqual(
      watcher.received.map((body) => body.kind),
      ['presence', 'end'],
    );
  });

  it('sends nothing after stop, and never an empty batch', async () => {
    const clock = new FakeClock();
    const watcher = new Tab('watcher');
    const presence = new Presence(() => [watcher], 250, clock);
    presence.flush();
    assert.equal(watcher.received.length, 0);
    presence.left('a', 'left');
    presence.left('b', 'left');
    presence.stop();
    clock.advance(1000);
    assert.deepEqual(
      watcher.received.map((b) => b.kind === 'presence' && named(b)),
      [['-a']],
    );
  });
});
