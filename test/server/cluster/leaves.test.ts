/**
 * Leaves across relays (docs/cluster.md "Joins and leaves in the log"): relays of one chat in this process
 * (ClusterRelay over a broker on one real Redis), driven through their calls with fake sessions, so that a race
 * between relays is put in one order on purpose: a relay whose feed is held back (it reads the log late, as a
 * stopped relay does), a resume held between spending its seat and moving its name, a relay taken for dead by
 * deleting its heartbeat. What every relay tells its tabs is read from a tab of its own.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Broker } from '../../../server/broker/broker.ts';
import { BrokerHub } from '../../../server/broker/hub.ts';
import type { PresenceTiming } from '../../../server/broker/presence.ts';
import { ClusterRelay } from '../../../server/cluster-relay.ts';
import type { LogEntry, NewEntry } from '../../../server/log/log.ts';
import { SeatKeeper } from '../../../server/resume.ts';
import { FakeMember } from '../../helpers/fake-member.ts';
import { inspector, startRedis, type InspectorClient, type RedisServer } from '../../helpers/redis.ts';
import { FAST, newChat, startRelay, until } from '../broker/relays.ts';

/** A heartbeat that does not come within a test: no beat finds anything moved or lost behind the test's back. */
const SLOW: PresenceTiming = { heartbeatMs: 60_000, ttlMs: 120_000 };

interface Node {
  label: string;
  relay: ClusterRelay;
  hub: BrokerHub;
  broker: Broker;
  /** What the relay told its console of other relays' tabs. */
  notices: string[];
  /** Emits `leave` with the promise of each leave entry this relay appends for one of its tabs. */
  leaves: EventEmitter;
  /** A tab of this relay that only listens: what it is told of joins and leaves. */
  tab: FakeMember;
  /** Holds back the entries its feed brings (it reads the log late); `release` delivers them, in order. */
  hold(): () => void;
}

let redis: RedisServer;
let raw: InspectorClient;
let numbers = 0;
const nodes: Node[] = [];

before(async () => {
  redis = await startRedis();
  raw = await inspector(redis);
});
after(async () => {
  await Promise.all(nodes.map((node) => node.hub.close(200)));
  await raw?.quit();
  await redis?.stop();
});

async function startNode(chat: { chat: string; key: Uint8Array }, label: string, timing = SLOW): Promise<Node> {
  const { broker, log, connection } = await startRelay(redis.url, chat, label, { timing });
  const hub = new BrokerHub(broker, log, connection);
  const notices: string[] = [];
  const relay = new ClusterRelay(
    'console',
    { hub, seats: new SeatKeeper(chat.key.slice()), description: 'Redis' },
    { notice: (text) => notices.push(text), alert: (text) => notices.push(`! ${text}`) },
    0,
  );
  const leaves = new EventEmitter();
  const append = hub.append.bind(hub);
  hub.append = (entry: NewEntry) => {
    const appended = append(entry);
    if (entry.kind === 'leave' && entry.origin?.identity.startsWith('leave:')) leaves.emit('leave', appended);
    return appended;
  };
  const emit = hub.emit.bind(hub) as (event: string, ...args: unknown[]) => boolean;
  let held: LogEntry[] | null = null;
  (hub as { emit: typeof emit }).emit = (event, ...args) => {
    if (event !== 'entry' || held === null) return emit(event, ...args);
    held.push(args[0] as LogEntry);
    return true;
  };
  const node: Node = {
    label,
    relay,
    hub,
    broker,
    notices,
    leaves,
    tab: await join({ relay } as Node, `${label}-tab`),
    hold() {
      held = [];
      return () => {
        const entries = held ?? [];
        held = null;
        for (const entry of entries) emit('entry', entry);
      };
    },
  };
  nodes.push(node);
  return node;
}

function connect(node: Pick<Node, 'relay'>): FakeMember {
  const member = new FakeMember(++numbers);
  node.relay.add(member);
  return member;
}

async function join(node: Pick<Node, 'relay'>, name: string): Promise<FakeMember> {
  const member = connect(node);
  member.name = await node.relay.claimName(member, name);
  node.relay.joined(member);
  return member;
}

/** `member`'s tab comes back on `node` with the newest seat it was given. */
async function resume(node: Node, member: FakeMember): Promise<FakeMember> {
  const seat = member.bodies.findLast((b) => b.kind === 'seat');
  assert.ok(seat?.kind === 'seat');
  const back = connect(node);
  await node.relay.resume(
    back,
    { kind: 'resume', secret: seat.secret, epoch: seat.epoch, last: seat.last },
    member.name,
  );
  const answer = back.bodies.find((b) => b.kind === 'resumed');
  assert.ok(answer?.kind === 'resumed' && answer.recovered, 'resumed its place');
  return back;
}

/** Its relay hears `member`'s connection drop (1006), as it does a dead link. */
function drop(node: Node, member: FakeMember): void {
  member.departure = 'disconnected (1006 connection lost without a close frame)';
  node.relay.left(member, 1006, 'connection lost without a close frame');
}

/** The tab said EXIT. */
function exit(node: Node, member: FakeMember): void {
  member.saidBye = true;
  member.departure = 'left';
  node.relay.left(member, 1000, 'left');
}

/** The next leave entry `node` appends for one of its tabs, settled. */
function nextLeave(node: Node): Promise<unknown> {
  return new Promise((resolve) =>
    node.leaves.once('leave', (appended: Promise<unknown>) => resolve(appended.catch(() => {}))),
  );
}

let markers = 0;
/** Every entry appended so far has reached every node (and what it does with it is done): a marker went through. */
async function settled(...all: Node[]): Promise<void> {
  const { n } = await all[0]!.hub.append({
    kind: 'console',
    from: 'console',
    text: 'marker',
    origin: { identity: 'console:marker', lineId: ++markers },
  });
  await until(
    all.map((node) => node.broker),
    'entry',
    () => all.every((node) => node.hub.last >= n),
    'the marker on every relay',
  );
}

/** What `node`'s listening tab was told of `name`, in order: 'joined' and 'left'. */
function told(node: Node, name: string): string[] {
  return node.tab.bodies.flatMap((b) =>
    b.kind === 'presence' ? b.changes.filter((c) => c.name === name).map((c) => c.change) : [],
  );
}

describe('leaves across relays', () => {
  it('tells every relay of a second leave of a participant that resumed since its first', async () => {
    const chat = newChat();
    const [a, b, c] = [await startNode(chat, 'a'), await startNode(chat, 'b'), await startNode(chat, 'c')];
    const oli = await join(a, 'oli');
    let left = nextLeave(a);
    drop(a, oli);
    await left;
    await settled(a, b, c);
    const back = await resume(b, oli);
    left = nextLeave(b);
    exit(b, back);
    await left;
    await settled(a, b, c);
    for (const node of [a, c]) assert.deepEqual(told(node, 'oli'), ['joined', 'left', 'joined', 'left'], node.label);
    assert.ok(!c.relay.names().includes('oli'), 'c knows oli is gone');
  });

  it('announces no leave that lands after the seat entry of a resume on another relay (the drop heard mid-resume)', async () => {
    const chat = newChat();
    const [a, b, c] = [await startNode(chat, 'a'), await startNode(chat, 'b'), await startNode(chat, 'c')];
    const nia = await join(a, 'nia');
    await settled(a, b, c);
    // b's resume of nia stops once its seat is spent (the entry is in the log), before it moves the name.
    let reached!: () => void;
    const atJoin = new Promise<void>((resolve) => (reached = resolve));
    let go!: () => void;
    const gate = new Promise<void>((resolve) => (go = resolve));
    const brokerJoin = b.broker.join.bind(b.broker);
    b.broker.join = async (id, name) => {
      reached();
      await gate;
      return brokerJoin(id, name);
    };
    // a reads the log late: it hears nia's connection drop before the seat's entry.
    const release = a.hold();
    const resuming = resume(b, nia);
    await atJoin;
    const leave = nextLeave(a);
    drop(a, nia);
    await leave;
    go();
    await resuming;
    release();
    await settled(a, b, c);
    assert.deepEqual(told(c, 'nia'), ['joined', 'joined'], 'c: joined, came back; never left');
    assert.deepEqual(told(b, 'nia'), ['joined', 'joined'], 'b: joined (on a), joined here; never left');
    assert.ok(!c.notices.some((n) => n.startsWith('nia disconnected')), c.notices.join('\n'));
    assert.ok(c.relay.names().includes('nia'), 'c knows nia is here');
  });

  it('announces no second leave of a tab that moved and left, when its old relay hears the old drop late', async () => {
    const chat = newChat();
    const [a, b, c] = [await startNode(chat, 'a'), await startNode(chat, 'b'), await startNode(chat, 'c')];
    const pia = await join(a, 'pia');
    await settled(a, b, c);
    const release = a.hold();
    const back = await resume(b, pia);
    const left = nextLeave(b);
    exit(b, back);
    await left;
    await settled(b, c);
    // Someone new takes the name on c.
    const newcomer = await join(c, 'pia');
    assert.equal(newcomer.name, 'pia');
    await settled(b, c);
    const leave = nextLeave(a);
    drop(a, pia);
    await leave;
    release();
    await settled(a, b, c);
    // Joined on a, came back here (on b), left, and the new pia joined; nothing after.
    for (const node of [b, c]) assert.deepEqual(told(node, 'pia'), ['joined', 'joined', 'left', 'joined'], node.label);
    for (const node of [b, a]) assert.ok(node.relay.names().includes('pia'), `${node.label} knows the new pia`);
  });

  it('announces no second leave of a reaped relay\u2019s tab, when that relay hears its drop afterwards', async () => {
    const chat = newChat();
    const a = await startNode(chat, 'a');
    // b sweeps often: it is the one that reaps a.
    const [b, c] = [await startNode(chat, 'b', FAST), await startNode(chat, 'c')];
    const ray = await join(a, 'ray');
    await settled(a, b, c);
    // a is taken for dead (its heartbeat gone, as when it stops); b reaps it and writes ray's leave.
    await raw.del(a.broker.keys.relay(a.broker.relay.id));
    await until(c.broker, 'entry', () => c.notices.some((n) => n.startsWith('ray was lost')), 'the reap', 10_000);
    // a hears ray's connection drop before its own next beat.
    const leave = nextLeave(a);
    drop(a, ray);
    await leave;
    await settled(a, b, c);
    assert.deepEqual(told(c, 'ray'), ['joined', 'left'], 'c: once');
    assert.deepEqual(told(b, 'ray'), ['joined', 'left'], 'b: once');
    assert.deepEqual(
      c.notices.filter((n) => n.startsWith('ray ')),
      ['ray joined on another relay', `ray was lost with its relay (a) (on another relay)`],
    );
  });
});
