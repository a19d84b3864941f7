/**
 * `--workers N`: one command, N relay processes sharing one port (node:cluster), one chat through Redis. Tabs
 * that connect to the one port land on different workers and chat as one room; the console (the primary) sees
 * every line once and lists every worker in /who; a worker killed is started again; END ends it all. What a
 * worker alone knows (its alerts, a failed start) reaches the primary's console, labelled; a worker that keeps
 * failing to start is given up, and with none left the server exits 1; a start where every worker fails says why.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerBody } from '../../../shared/protocol.ts';
import { ScriptedClient } from '../../../tools/client.ts';
import { ROOT, startServerProcess, teardown, type ServerProcess } from '../../helpers/process.ts';
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
  after(() =>
    teardown(
      () => clients.forEach((client) => client.close()),
      () => server?.stop(),
      () => redis?.stop(),
      () => dir && rm(dir, { recursive: true, force: true }),
    ),
  );

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
    // The console names the new worker once it serves.
    await server.waitForLine(new RegExp(`\\* relay worker \\d+ serves in place of ${pid}$`), 30_000);
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

describe("--workers: a worker's own trouble, on the primary's console", () => {
  let redis: RedisServer;
  let dir: string;
  let server: ServerProcess | undefined;

  before(async () => {
    redis = await startRedis();
    dir = await mkdtemp(join(tmpdir(), 'wirechat-workers-trouble-'));
  });
  after(() =>
    teardown(
      () => server?.stop(),
      () => redis?.stop(),
      () => dir && rm(dir, { recursive: true, force: true }),
    ),
  );

  it('shows what a worker says, labelled; gives up a worker that keeps failing, and exits 1 with none left', async () => {
    server = await startServerProcess(['--redis', redis.url, '--workers', '1', '--presence-interval', '0'], {
      identityDir: dir,
    });
    const banner = await server.waitForLine(/^\s+workers\s+1 relay processes share port/);
    const pid = Number(/pids (\d+)/.exec(banner)![1]);

    // Redis lost: the worker's own alert (its connection, its tabs) reaches the primary's console over IPC.
    await redis.kill();
    await server.waitForLine(
      new RegExp(`! relay worker ${pid}: .*; this relay keeps serving its own tabs, lines wait for Redis$`),
    );

    // /who cannot reach the workers without Redis: the console says so, not "nobody".
    server.type('/who');
    await server.waitForLine("the workers' tabs can be listed once Redis is back (this console serves no tab itself)");

    // Killed while Redis is away: each new worker cannot reach Redis, says so on stderr, and stops at once.
    process.kill(pid, 'SIGKILL');
    // Within 10 s of its start this stop counts as a failed start too (try 1 of 3); later it is a crash, not a loop.
    const killed = await server.waitForLine(`relay worker ${pid} stopped (SIGKILL); its tabs reconnect to the others`);
    const young = killed.includes('(try 1 of 3: it stopped within 10 s of its start)');
    const refused = await server.waitForLine(
      /! relay worker (\d+): wirechat: --redis: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: connection refused; is redis-server running there\?/,
      30_000,
    );
    const first = Number(/relay worker (\d+)/.exec(refused)![1]);
    await server.waitForLine(
      `relay worker ${first} stopped (exit 1) before it listened; starting a new one in ${young ? 2 : 1} s (try ${young ? 2 : 1} of 3: it stopped within 10 s of its start)`,
      30_000,
    );
    // Tried three times more, then given up; with no worker left the server ends, exit 1, rather than loop.
    await server.waitForLine(
      /stopped \(exit 1\); it stopped within 10 s of its start 4 times in a row: not starting it again \(0 of 1 workers serve\)$/,
      60_000,
    );
    await server.waitForLine(
      'no relay worker is left: each stopped within 10 s of its start 4 times in a row (what they said is above)',
    );
    const exit = await server.exited;
    assert.equal(exit.code, 1);
    const tries = server.lines.filter((l) => /: wirechat: --redis: cannot reach Redis/.test(l));
    assert.equal(tries.length, young ? 3 : 4, tries.join('\n'));
    server = undefined;
  });

  it('says why and exits 1 when every worker fails at start (here: the port is taken)', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      await redis.restart();
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'server/main.ts',
          '--no-build',
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--identity',
          join(dir, 'identity.jwk'),
          '--redis',
          redis.url,
          '--workers',
          '2',
        ],
        { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      clearTimeout(timer);
      assert.equal(code, 1, stdout + stderr);
      assert.match(
        stderr,
        new RegExp(
          `^wirechat: relay worker \\d+ stopped \\(exit 1\\) before it listened: port ${port} is already in use \\(another wirechat\\?\\)`,
          'm',
        ),
      );
      assert.match(stdout, new RegExp(`! relay worker \\d+: wirechat: port ${port} is already in use`));
      assert.doesNotMatch(stdout + stderr, /\n\s+at /, 'no stack trace');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
