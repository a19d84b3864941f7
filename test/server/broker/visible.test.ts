/**
 * Everything Redis sees of a chat, read back after a scripted exchange between two relays: every key (SCAN) and
 * every value in it (streams with XRANGE, hashes, strings), every message published (a subscriber on every
 * channel), and every command the relays sent (MONITOR). None of it holds the chat's text, its names, the
 * participants' ids, the reasons given, or the relays' labels. What is visible is what docs/cluster.md says: the
 * chat's name, the relays' random ids, and counts, sizes and times.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoneSeen, dump, everyKey, inspector, startRedis, type RedisServer } from '../../helpers/redis.ts';
import { newChat, startRelay, until } from './relays.ts';

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

/** What must never be seen in Redis: texts, names, ids, reasons, labels. Distinct words, so a find is not chance. */
const SECRETS = {
  names: ['Zebediah', 'Philippa'],
  ids: ['participant-zebediah-7f3a', 'participant-philippa-19cc'],
  texts: [
    'the eagle lands at midnight',
    'bring the blue umbrella',
    'psst this one is only for you',
    'the console says quietly',
  ],
  reasons: ['gone to lunch early', 'too noisy in the back row', 'class is over for today'],
  labels: ['relay-on-laptop-seven', 'relay-on-desktop-eight'],
};

describe('what Redis sees of a chat', () => {
  it('holds and carries no chat text, no names, no participant ids, no reasons and no relay labels', async () => {
    const raw = await inspector(redis);
    const monitor = raw.duplicate();
    const listener = raw.duplicate();
    await Promise.all([monitor.connect(), listener.connect()]);
    const commands: string[] = [];
    const published: Array<{ channel: string; message: string }> = [];
    await monitor.monitor((line: string) => commands.push(line));
    await listener.pSubscribe('*', (message: string, channel: string) => published.push({ channel, message }));
    const chat = newChat();
    const [z, p] = [
      await startRelay(redis.url, chat, SECRETS.labels[0]!),
      await startRelay(redis.url, chat, SECRETS.labels[1]!),
    ];
    try {
      // The exchange: two joins, lines both ways, a console line, a direct line, /who, /kick, a leave, the end.
      for (const relay of [z, p]) {
        relay.broker.handle('who', () => ({ participants: relay.broker.presence.participants }));
        relay.broker.handle('kick', () => ({ kicked: true }));
      }
      assert.deepEqual(await z.broker.join(SECRETS.ids[0]!, SECRETS.names[0]!), { ok: true });
      assert.deepEqual(await p.broker.join(SECRETS.ids[1]!, SECRETS.names[1]!), { ok: true });
      await z.broker.append({ kind: 'join', from: SECRETS.names[0]!, text: '' });
      await z.broker.append({
        kind: 'line',
        from: SECRETS.names[0]!,
        text: SECRETS.texts[0]!,
        origin: { identity: SECRETS.ids[0]!, lineId: 1 },
      });
      await p.broker.append({
        kind: 'line',
        from: SECRETS.names[1]!,
        text: SECRETS.texts[1]!,
        origin: { identity: SECRETS.ids[1]!, lineId: 1 },
      });
      await p.broker.append({
        kind: 'direct',
        from: 'console',
        text: SECRETS.texts[2]!,
        to: SECRETS.ids[0]!,
        origin: { identity: 'console', lineId: 1 },
      });
      await z.broker.append({
        kind: 'console',
        from: 'console',
        text: SECRETS.texts[3]!,
        origin: { identity: 'console', lineId: 2 },
      });
      const who = await z.broker.request('who', {});
      assert.deepEqual(
        who.answers.flatMap((a) => a.answer.participants.map((x) => x.name)).sort(),
        [...SECRETS.names].sort(),
      );
      assert.equal((await p.broker.find(SECRETS.names[0]!))?.id, SECRETS.ids[0]);
      await p.broker.request(
        'kick',
        { id: SECRETS.ids[0]!, by: 'console', reason: SECRETS.reasons[1]! },
        { to: [z.broker.relay.id] },
      );
      await z.broker.leave(SECRETS.ids[0]!, SECRETS.reasons[0]!);
      await z.broker.append({ kind: 'leave', from: SECRETS.names[0]!, text: SECRETS.reasons[0]! });
      await z.broker.publish({ type: 'end', by: 'console', reason: SECRETS.reasons[2]! });
      await until(
        [z.broker, p.broker],
        ['entry', 'event'],
        () =>
          z.received.length === 6 &&
          p.received.length === 6 &&
          p.events.some((e) => e.name === 'event' && (e.args[0] as { type: string }).type === 'end'),
        'the whole exchange',
      );
      // The relays read it all back in the clear: the test's secrets did go through Redis.
      assert.deepEqual(
        p.received.map((e) => e.text),
        ['', SECRETS.texts[0], SECRETS.texts[1], SECRETS.texts[2], SECRETS.texts[3], SECRETS.reasons[0]],
      );

      const keys = await everyKey(raw);
      const stored = await Promise.all(keys.map((key) => dump(raw, key)));
      const seen = [...stored, ...published.map((m) => `${m.channel} ${m.message}`), ...commands].join('\n');
      assertNoneSeen(seen, SECRETS);

      // What is visible, as docs/cluster.md says: the chat's name and relay ids in key and channel names; counts.
      const prefix = `wirechat:{${chat.chat}}:`;
      assert.ok(
        keys.every((key) => key.startsWith(prefix)),
        keys.join(' '),
      );
      const shapes = [
        ...new Set(
          keys.map((key) =>
            key
              .slice(prefix.length)
              .replace(z.broker.relay.id, 'RELAY')
              .replace(p.broker.relay.id, 'RELAY')
              .replace(/^name:.*/, 'name:H'),
          ),
        ),
      ].sort();
      assert.deepEqual(shapes, ['epoch', 'last', 'log', 'name:H', 'relay:RELAY', 'relays', 'tabs:RELAY', 'tags']);
      const channels = [
        ...new Set(
          published.map((m) =>
            m.channel.slice(prefix.length).replace(z.broker.relay.id, 'RELAY').replace(p.broker.relay.id, 'RELAY'),
          ),
        ),
      ].sort();
      assert.deepEqual(channels, ['events', 'to:RELAY']);
      assert.ok(
        published.every((m) => /^gAAAAA[A-Za-z0-9_-]+={0,2}$/.test(m.message)),
        'every message published is a Fernet token',
      );
      assert.ok(commands.length > 20, `MONITOR saw the commands (${commands.length})`);
    } finally {
      await Promise.all([z.close(), p.close()]);
      monitor.destroy();
      listener.destroy();
      raw.destroy();
    }
  });
});
