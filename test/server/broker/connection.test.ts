/**
 * The connection to a real redis-server: each way a start can fail is one clear BrokerError, never a hang and
 * never the password; TLS through rediss://; and a Redis lost and back while running is said once each way.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RedisConnection } from '../../../server/broker/connection.ts';
import { BrokerError, type BrokerErrorCode } from '../../../server/broker/errors.ts';
import { makeCertificate, makeKey } from '../../../server/tls.ts';
import { freePort } from '../../helpers/process.ts';
import { startRedis, type RedisServer } from '../../helpers/redis.ts';
import { inTempDir } from '../../helpers/temp.ts';

const PASSWORD = 'correct-horse-battery';

async function refused(
  url: string,
  code: BrokerErrorCode,
  says: RegExp,
  options: Parameters<typeof RedisConnection.open>[1] = {},
): Promise<BrokerError> {
  let caught: unknown;
  await assert.rejects(RedisConnection.open(url, options), (error: unknown) => {
    caught = error;
    assert.ok(error instanceof BrokerError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.message, says);
    return true;
  });
  return caught as BrokerError;
}

describe('Redis connection: at the start', () => {
  let redis: RedisServer;
  let locked: RedisServer;
  before(async () => {
    [redis, locked] = await Promise.all([startRedis(), startRedis({ password: PASSWORD })]);
  });
  after(async () => {
    await Promise.all([redis?.stop(), locked?.stop()]);
  });

  it('connects, and says where and what Redis keeps (persistence off here)', async () => {
    const connection = await RedisConnection.open(redis.url);
    try {
      assert.match(connection.server.version, /^\d+\.\d+/);
      assert.equal(connection.server.appendonly, 'no');
      assert.equal(connection.describe(), `Redis ${connection.server.version} at ${redis.url} (appendonly no)`);
    } finally {
      await connection.close();
    }
  });

  it('refuses at once, in words, a Redis that is not there (and never prints the password)', async () => {
    const port = await freePort();
    const error = await refused(
      `redis://:${PASSWORD}@127.0.0.1:${port}`,
      'UNREACHABLE',
      new RegExp(
        `cannot reach Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}: connection refused; is redis-server running there\\?`,
      ),
    );
    assert.doesNotMatch(error.message, new RegExp(PASSWORD));
  });

  it('refuses a wrong password, or none, with AUTH_FAILED and no password in the message', async () => {
    const port = locked.port;
    const wrong = await refused(
      `redis://:not-the-password-1@127.0.0.1:${port}`,
      'AUTH_FAILED',
      /refused the user name or password \(WRONGPASS/,
    );
    assert.doesNotMatch(wrong.message, /not-the-password-1/);
    await refused(`redis://127.0.0.1:${port}`, 'AUTH_FAILED', /refused the connection without a password \(NOAUTH/);
    const connection = await RedisConnection.open(locked.url);
    assert.match(connection.describe(), /at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ /);
    await connection.close();
  });

  it('refuses a database number Redis does not have', async () => {
    await refused(`${redis.url}/99`, 'REFUSED', /has no database 99/);
  });

  it('refuses a bad URL before any connection', async () => {
    await refused('redis://127.0.0.1:6379/x', 'BAD_URL', /not a database number/);
  });
});

describe('Redis connection: TLS (rediss://)', () => {
  it('connects over TLS to a certificate it is told to trust, and refuses one it is not, or a plain port', async () => {
    await inTempDir('redis-tls', async (dir) => {
      const keyPem = makeKey();
      const certPem = await makeCertificate(['127.0.0.1'], keyPem);
      const [certFile, keyFile] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
      await writeFile(certFile, certPem);
      await writeFile(keyFile, keyPem, { mode: 0o600 });
      const tls = await startRedis({ tls: { certFile, keyFile, caFile: certFile } });
      const plain = await startRedis();
      try {
        const connection = await RedisConnection.open(tls.url, { ca: certPem });
        assert.match(tls.url, /^rediss:/);
        assert.equal(await connection.client.sendCommand(['PING']), 'PONG');
        await connection.close();
        await refused(
          tls.url,
          'TLS_FAILED',
          /TLS handshake with Redis at rediss:\/\/127\.0\.0\.1:\d+ failed: self-signed certificate; .*NODE_EXTRA_CA_CERTS/,
        );
        await refused(
          tls.url.replace('rediss:', 'redis:'),
          'REFUSED',
          /closed the connection before answering.*; if that port speaks TLS, write rediss:\/\//,
        );
        await refused(
          plain.url.replace('redis:', 'rediss:'),
          'UNREACHABLE',
          /no answer in 1 s; if that port is not a TLS port, write redis:\/\//,
          { ca: certPem, connectTimeoutMs: 1_000 },
        );
      } finally {
        await Promise.all([tls.stop(), plain.stop()]);
      }
    });
  });
});

describe('Redis connection: lost and back while running', () => {
  it('says down once when Redis is killed, and up once it is back, with how long it was away', async () => {
    const redis = await startRedis();
    const connection = await RedisConnection.open(redis.url, { maxReconnectDelayMs: 100 });
    try {
      const downs: BrokerError[] = [];
      connection.on('down', (error: BrokerError) => downs.push(error));
      const down = once(connection, 'down', { signal: AbortSignal.timeout(10_000) }) as Promise<[BrokerError]>;
      await redis.kill();
      const [error] = await down;
      assert.equal(error.code, 'DOWN');
      assert.match(error.message, /^lost Redis at redis:\/\/127\.0\.0\.1:\d+ \(.+\); reconnecting$/);
      assert.equal(connection.up, false);
      await assert.rejects(
        connection.client.sendCommand(['PING']),
        /offline|closed/i,
        'a command meanwhile fails at once: no hidden queue',
      );
      const up = once(connection, 'up', { signal: AbortSignal.timeout(10_000) }) as Promise<[{ awayMs: number }]>;
      await redis.restart();
      const [{ awayMs }] = await up;
      assert.ok(awayMs > 0);
      assert.equal(downs.length, 1, 'down is said once, not at every reconnection attempt');
      assert.equal(await connection.client.sendCommand(['PING']), 'PONG');
    } finally {
      await connection.close();
      await redis.stop();
    }
  });
});

describe('Redis connection: closed while Redis goes away', () => {
  // @redis/client's graceful close() waits for the replies in flight and for nothing else: Redis gone meanwhile
  // (stopped, or killed) left it pending for good, and a relay's shutdown with it.
  for (const how of ['killed (SIGKILL)', 'stopped (SIGTERM)'] as const) {
    it(`settles close() with a reply in flight when Redis is ${how} meanwhile`, { timeout: 20_000 }, async () => {
      const redis = await startRedis();
      const connection = await RedisConnection.open(redis.url);
      try {
        const link = await connection.open('test');
        // A reply that is not coming: what close() waits for.
        const blocked = link.client.sendCommand(['BLPOP', 'nothing', '0']).catch(() => undefined);
        // Until Redis has it (that connection is blocked: ask on the other).
        while (!/name=wirechat-test .*cmd=blpop/.test(String(await connection.client.sendCommand(['CLIENT', 'LIST']))));
        const closing = connection.close();
        await (how === 'killed (SIGKILL)' ? redis.kill() : redis.stop());
        await closing;
        await blocked;
      } finally {
        await connection.close();
        await redis.stop();
      }
    });
  }
});
