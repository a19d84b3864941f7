/**
 * `--redis`, `--chat`, `--workers` and `--identity` as a person meets them: the options checked before anything
 * starts, an unreachable Redis said at once (exit 1, no password shown), and a relay that joins a real Redis says
 * where its chat lives, what Redis keeps of it and which chat key it holds; two relays pointed at one identity
 * file show one fingerprint and share the chat key beside it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../../server/command-line.ts';
import { DEFAULTS, HELP, parseOptions, type ServerOptions } from '../../../server/options.ts';
import { chatKeyPath } from '../../../server/cluster.ts';
import { QUICK_EXIT_MS, RETRY_DELAYS_MS } from '../../../server/workers.ts';
import { freePort, ROOT, startServerProcess, stopAll, teardown, type ServerProcess } from '../../helpers/process.ts';
import { startRedis, type RedisServer } from '../../helpers/redis.ts';

function parse(argv: string[]): ServerOptions {
  const options = parseOptions(argv, {});
  assert.notEqual(options, 'help');
  return options as ServerOptions;
}

function server(args: string[]) {
  return spawnSync('npx', ['tsx', 'server/main.ts', '--no-build', '--host', '127.0.0.1', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    input: '',
  });
}

describe('--redis, --chat, --workers: the options', () => {
  it('leaves a relay alone by default: no Redis, the default chat, no workers', () => {
    const options = parse([]);
    assert.equal(options.redis, undefined);
    assert.equal(options.workers, undefined);
    assert.equal(options.chat, 'wirechat');
    assert.deepEqual(options, DEFAULTS);
  });

  it('takes a Redis URL with a password, a database, TLS, a chat name and workers', () => {
    const options = parse([
      '--redis',
      'rediss://user:p%40ss@redis.example:6380/3',
      '--chat',
      'lab-2.b_x',
      '--workers',
      '4',
    ]);
    assert.equal(options.redis, 'rediss://user:p%40ss@redis.example:6380/3');
    assert.equal(options.chat, 'lab-2.b_x');
    assert.equal(options.workers, 4);
  });

  it('refuses a URL that is not redis:// or rediss://, and never echoes its password', () => {
    for (const bad of [
      'http://x',
      'redis://',
      'redis://h:0',
      'redis://h:99999',
      'redis://h/x',
      'redis://h?db=1',
      'redis://:hunter22@h:70000',
      'x',
    ]) {
      assert.throws(
        () => parseOptions(['--redis', bad], {}),
        (error: Error) => {
          assert.ok(error instanceof UsageError, bad);
          assert.match(error.message, /--redis/);
          assert.doesNotMatch(error.message, /hunter22/);
          return true;
        },
      );
    }
  });

  it('refuses a chat name that cannot sit in a key, and --chat or --workers without --redis', () => {
    for (const bad of ['', 'a b', 'a:b', '{x}', 'x'.repeat(65), 'é']) {
      assert.throws(() => parseOptions(['--redis', 'redis://h', '--chat', bad], {}), /--chat: a chat name is 1 to 64/);
    }
    assert.throws(() => parseOptions(['--chat', 'x'], {}), /--chat names a chat in Redis: it needs --redis/);
    assert.throws(() => parseOptions(['--workers', '2'], {}), /--workers needs --redis/);
    assert.throws(
      () => parseOptions(['--redis', 'redis://127.0.0.1:6379', '--history', '/tmp/h.db'], {}),
      /--history keeps the log in a file of one server; with --redis the chat log is in Redis/,
    );
    for (const bad of ['0', '65', 'two', '1.5'])
      assert.throws(() => parseOptions(['--redis', 'redis://h', '--workers', bad], {}), /--workers/);
  });

  it('lists them in --help', () => {
    for (const flag of ['--redis URL', '--chat NAME', '--workers N', 'rediss://', 'chat.key'])
      assert.ok(HELP.includes(flag), flag);
    // The restart rule as server/workers.ts applies it.
    const help = HELP.replace(/\s+/g, ' ');
    assert.ok(help.includes(`stopping within ${QUICK_EXIT_MS / 1000} s of its start`), help);
    const delays = RETRY_DELAYS_MS.map((ms) => ms / 1000);
    assert.ok(help.includes(`retried after ${delays.slice(0, -1).join(', ')} and ${delays.at(-1)} s`), help);
  });

  it('keeps the chat key beside the identity key', () => {
    assert.equal(chatKeyPath('/srv/wirechat/identity.jwk'), '/srv/wirechat/chat.key');
    assert.equal(chatKeyPath(DEFAULTS.identity), join(DEFAULTS.identity, '..', 'chat.key'));
  });
});

describe('a relay started with --redis', () => {
  let redis: RedisServer;
  let dir: string;
  const relays: ServerProcess[] = [];
  before(async () => {
    redis = await startRedis({ args: ['--maxmemory-policy', 'allkeys-lru'] });
    dir = await mkdtemp(join(tmpdir(), 'wirechat-cluster-start-'));
  });
  after(() =>
    teardown(
      () => stopAll(relays),
      () => redis?.stop(),
      () => dir && rm(dir, { recursive: true, force: true }),
    ),
  );

  it('says at once that Redis is unreachable, without the password, and exits 1', async () => {
    const port = await freePort();
    const result = server([
      '--port',
      '0',
      '--identity',
      join(dir, 'identity.jwk'),
      '--redis',
      `redis://:sekrit-pass@127.0.0.1:${port}`,
    ]);
    assert.equal(result.status, 1, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(`--redis: cannot reach Redis at redis://:\\*\\*\\*@127.0.0.1:${port}: connection refused`),
    );
    assert.doesNotMatch(result.stderr + result.stdout, /sekrit-pass/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  });

  it('shows where the chat lives, what Redis keeps, the chat key, and warns of an eviction policy', async () => {
    const relay = await startServerProcess(['--redis', redis.url, '--chat', 'lab'], { identityDir: dir });
    relays.push(relay);
    const chat = await relay.waitForLine(
      /^\s+chat\s+"lab" in Redis \d+\.\d+\.\d+ at redis:\/\/127\.0\.0\.1:\d+ \(appendonly no\), relay /,
    );
    assert.ok(chat);
    await relay.waitForLine(
      `chat key ${join(dir, 'chat.key')} (new: copy it, with the identity key, to every relay of this chat)`,
    );
    await relay.waitForLine("warning     Redis's maxmemory-policy is allkeys-lru");
    // The chat key follows the identity key's rules: the owner's alone.
    assert.equal((await stat(join(dir, 'chat.key'))).mode & 0o077, 0);

    // A second relay pointed at the same identity file: the same fingerprint, the same chat key (not made anew).
    const before = await readFile(join(dir, 'chat.key'), 'utf8');
    const second = await startServerProcess(['--redis', redis.url, '--chat', 'lab'], { identityDir: dir });
    relays.push(second);
    assert.equal(second.fingerprint, relay.fingerprint);
    await second.waitForLine(`chat key ${join(dir, 'chat.key')}`);
    assert.ok(!second.lines.some((l) => l.includes('(new: copy it')), 'the second relay made no chat key of its own');
    assert.equal(await readFile(join(dir, 'chat.key'), 'utf8'), before);
  });
});
