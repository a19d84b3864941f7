/**
 * Everything Redis holds and carries of a chat between real relays (`npm run server -- --redis`), read back
 * after the chat: every key and what is in it, every message published (a subscriber on every channel) and
 * every command the relays sent (MONITOR). None of it holds the chat's text, the tabs' or consoles' names, a
 * direct line, a leave's reason, a resume secret (a seat) or the participant identity inside one, though a tab
 * resumed on the other relay in the middle of it. docs/cluster.md says what is visible instead.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerBody } from '../../../shared/protocol.ts';
import { ScriptedClient } from '../../../tools/client.ts';
import { startServerProcess, stopAll, teardown, type ServerProcess } from '../../helpers/process.ts';
import { assertNoneSeen, dump, everyKey, inspector, startRedis, type RedisServer } from '../../helpers/redis.ts';
import { testKeyPair } from '../../helpers/server.ts';

const SECRETS = {
  names: ['Zebediah', 'Philippa', 'Quintessa', 'Bartholomew'],
  texts: [
    'the eagle lands at midnight',
    'bring the blue umbrella',
    'psst this one is only for you',
    'the console says quietly',
  ],
};

describe('what Redis sees of a chat between relays', () => {
  let redis: RedisServer;
  let dir: string;
  const relays: ServerProcess[] = [];

  before(async () => {
    redis = await startRedis();
    dir = await mkdtemp(join(tmpdir(), 'wirechat-cluster-visible-'));
  });
  after(() =>
    teardown(
      () => stopAll(relays),
      () => redis?.stop(),
      () => dir && rm(dir, { recursive: true, force: true }),
    ),
  );

  it('holds and carries none of its text, none of its names, no seat and no participant identity', async () => {
    const secrets: Record<string, readonly string[]> = { ...SECRETS };
    const raw = await inspector(redis);
    const monitor = raw.duplicate();
    const listener = raw.duplicate();
    await Promise.all([monitor.connect(), listener.connect()]);
    const commands: string[] = [];
    const published: string[] = [];
    await monitor.monitor((line: string) => commands.push(line));
    await listener.pSubscribe('*', (message: string, channel: string) => published.push(`${channel} ${message}`));
    try {
      for (const consoleName of SECRETS.names.slice(2)) {
        relays.push(
          await startServerProcess(['--redis', redis.url, '--name', consoleName, '--presence-interval', '0'], {
            identityDir: dir,
          }),
        );
      }
      const [a, b] = relays as [ServerProcess, ServerProcess];
      const za = await ScriptedClient.connect({
        url: `ws://127.0.0.1:${a.port}/ws`,
        name: SECRETS.names[0]!,
        keyPair: testKeyPair(),
      });
      let pb = await ScriptedClient.connect({
        url: `ws://127.0.0.1:${b.port}/ws`,
        name: SECRETS.names[1]!,
        keyPair: testKeyPair(),
      });
      await za.waitForPresence('joined', SECRETS.names[1]!, 10_000);
      await za.send(SECRETS.texts[0]!);
      await pb.send(SECRETS.texts[1]!);
      b.type(`/msg ${SECRETS.names[0]} ${SECRETS.texts[2]}`);
      a.type(SECRETS.texts[3]!);
      const got = (client: ScriptedClient, text: string) =>
        client.waitFor((body: ServerBody) => body.kind === 'line' && body.text === text, 10_000);
      await Promise.all([
        got(za, SECRETS.texts[1]!),
        got(za, SECRETS.texts[2]!),
        got(pb, SECRETS.texts[0]!),
        got(pb, SECRETS.texts[3]!),
      ]);
      // Philippa drops and resumes on the other relay with the seat relay b gave her.
      const seatOf = (client: ScriptedClient) => {
        const seat = client.bodies.findLast((body) => body.kind === 'seat');
        assert.ok(seat?.kind === 'seat' && seat.secret !== '');
        return seat;
      };
      const first = seatOf(pb);
      const last = Math.max(...pb.bodies.map((body) => (body.kind === 'line' ? body.n : 0)));
      pb.close();
      await b.waitForLine(`${SECRETS.names[1]} disconnected`);
      pb = await ScriptedClient.connect({
        url: `ws://127.0.0.1:${a.port}/ws`,
        name: SECRETS.names[1]!,
        keyPair: testKeyPair(),
        resume: () => ({ secret: first.secret, epoch: first.epoch, last }),
      });
      const resumed = pb.bodies.find((body) => body.kind === 'resumed');
      assert.ok(resumed?.kind === 'resumed' && resumed.recovered, 'resumed on the other relay');
      const second = seatOf(pb);
      // A seat is base64url(JSON [version, participant, serial, epoch, after, name, nonce]) "." base64url(MAC).
      const seats = [first.secret, second.secret];
      const inside = seats.flatMap((secret) => {
        const [payload, mac] = secret.split('.') as [string, string];
        const fields = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown[];
        return [payload, mac, fields[1] as string, fields[6] as string];
      });
      secrets.seats = [...seats, ...inside];
      b.type('/who');
      await b.waitForLine('2 in the chat, on 2 relays:');
      b.type(`/kick ${SECRETS.names[0]}`);
      await za.closed;
      await pb.waitForPresence('left', SECRETS.names[0]!, 10_000);
      a.type('END');
      await pb.closed;
      await Promise.all(relays.map((r) => r.exited));

      const keys = await everyKey(raw);
      const stored = await Promise.all(keys.map((key) => dump(raw, key)));
      assert.ok(
        stored.some((s) => s.includes(' stream ')),
        'the chat log is there',
      );
      const seen = [...stored, ...published, ...commands].join('\n');
      assertNoneSeen(seen, secrets);
      assert.ok(published.length >= 4, `the subscriber heard the relays (${published.length} messages)`);
      assert.ok(
        published.every((m) => /^\S+ gAAAAA[A-Za-z0-9_-]+={0,2}$/.test(m)),
        'every message published is a Fernet token',
      );
      // The log holds the chat's entries (2 joins, 2 lines, the direct line, the console line, the kick's leave,
      // and the other tab's leave at the end), each a sealed token.
      const log = keys.find((k) => k.endsWith(':log'))!;
      const entries = (await raw.sendCommand(['XRANGE', log, '-', '+'])) as unknown[];
      assert.ok(entries.length >= 7, `the log has the chat's entries (${entries.length})`);
    } finally {
      monitor.destroy();
      listener.destroy();
      raw.destroy();
    }
  });
});
