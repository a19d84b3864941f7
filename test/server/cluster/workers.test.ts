/**
 * `--workers N`: one command, N relay processes sharing one port (node:cluster), one chat through Redis. Tabs
 * that connect to the one port land on different workers and chat as one room; the console (the primary) sees
 * every line once and lists every worker in /who; a worker killed is started again; END ends it all.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerBody } from '../../../shared/protocol.ts';
import { ScriptedClient } from '../../../tools/client.ts';
import { startServerProcess, type ServerProcess } from '../../helpers/process.ts';
import { startRedis, type RedisServer } from '../../helpers/redis.ts';
import { testKeyPair } from '../../helpers/server.ts';

describe('npm run server -- --redis URL --workers 2', () => {
  let redis: RedisServer;
  let dir: string;
  let server: ServerProcess;
  const clients: ScriptedClient[] = [];

  before(async () => {
    redis = await startRedis();
    dir = await mkdtemp(join(tmpdir(), 'wirechat-workers-'));
    server = await startServerProcess(['--redis', redis.url, '--workers', '2', '--presence-interval', '0'], {
      identityDir: dir,
    });
  });
  after(async () => {
    for (const client of clients) client.close();
    await server?.stop();
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the tabs from two processes on one port, as one chat', async () => {
    const banner = await server.waitForLine(/^\s+workers\s+2 relay processes share port \d+ \(pids \d+, \d+\)/);
    assert.match(banner, new RegExp(`port ${server.port} `));
    const url = `ws://127.0.0.1:${server.port}/ws`;
    for (const name of ['amy', 'bob', 'cyd', 'dee'])
      clients.push(await ScriptedClient.connect({ url, name, keyPair: testKeyPair() }));
    // The connections went to both workers (round robin): /who lists the tabs under two relays, and the console.
    server.type('/who');
    await server.waitForLine('4 in the chat, on 3 relays:');
    await server.waitForLine(/\(this relay\): nobody$/);
    const rows = async () => server.lines.filter((l) => /^\s+\S+#\d+: /.test(l) && !l.includes('(this relay)'));
    assert.equal((await rows()).length, 2);
    assert.ok(
      (await rows()).every((r) => !r.endsWith(': nobody')),
      `both workers serve tabs: ${(await rows()).join(' / ')}`,
    );

    for (const client of clients) await client.send(`hello from ${client.session.identity!.name}`);
    server.type('the console says hi');
    for (const client of clients) {
      for (const other of clients) {
        if (other === client) continue;
        const text = `hello from ${other.session.identity!.name}`;
        await client.waitFor((b: ServerBody) => b.kind === 'line' && b.text === text, 10_000);
      }
      await client.waitFor((b: ServerBody) => b.kind === 'line' && b.text === 'the console says hi', 10_000);
    }
    // The console has no tab of its own, but knows the workers' tabs: it does not say its line reached no one.
    assert.ok(!server.lines.some((l) => l.includes('nobody else is here yet')), server.lines.join('\n'));
    for (const name of ['amy', 'bob', 'cyd', 'dee']) {
      await server.waitForLine(`${name}: hello from ${name}`);
      assert.equal(
        server.lines.filter((l) => l.endsWith(`${name}: hello from ${name}`)).length,
        1,
        'the console prints each line once',
      );
    }
  });

  it('starts a worker again when one dies, and its tabs can come back through the same port at once', async () => {
    const banner = server.lines.find((l) => /workers\s+2 relay processes/.test(l))!;
    const pid = Number(/pids (\d+)/.exec(banner)![1]);
    process.kill(pid, 'SIGKILL');
    await server.waitForLine(
      `relay worker ${pid} stopped (SIGKILL); its tabs reconnect to the others; starting a new one`,
    );
    const back = await ScriptedClient.connect({
      url: `ws://127.0.0.1:${server.port}/ws`,
      name: 'eve',
      keyPair: testKeyPair(),
    });
    clients.push(back);
    await back.send('eve is here');
    await server.waitForLine('eve: eve is here');
  });

  it('ends the chat in every worker on END, and exits 0', async () => {
    server.type('END');
    const open = clients.filter((c) => c.ws.readyState === c.ws.OPEN);
    const closed = await Promise.all(open.map((c) => c.closed));
    assert.ok(closed.length >= 2);
    for (const c of closed) assert.equal(c.code, 1000);
    const exit = await server.exited;
    assert.equal(exit.code, 0);
  });
});
