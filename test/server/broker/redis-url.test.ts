import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BrokerError } from '../../../server/broker/errors.ts';
import { parseRedisUrl, redactUrl, scrubPassword } from '../../../server/broker/redis-url.ts';

function refused(text: string, says: RegExp): void {
  assert.throws(
    () => parseRedisUrl(text),
    (error: unknown) => {
      assert.ok(error instanceof BrokerError, String(error));
      assert.equal(error.code, 'BAD_URL');
      assert.match(error.message, says);
      return true;
    },
    text,
  );
}

describe('--redis URL', () => {
  it('reads host, port, database, user and password, with the defaults', () => {
    const { redacted: _r, ...plain } = parseRedisUrl('redis://localhost');
    assert.deepEqual(plain, { tls: false, host: 'localhost', port: 6379, database: 0 });
    assert.deepEqual(parseRedisUrl('redis://10.0.0.5:6380/3'), {
      tls: false,
      host: '10.0.0.5',
      port: 6380,
      database: 3,
      redacted: 'redis://10.0.0.5:6380/3',
    });
    assert.deepEqual(parseRedisUrl('rediss://:p%40ss%2Fw0rd@cache.example:6390/'), {
      tls: true,
      host: 'cache.example',
      port: 6390,
      database: 0,
      password: 'p@ss/w0rd',
      redacted: 'rediss://:***@cache.example:6390/',
    });
    assert.deepEqual(parseRedisUrl('redis://alice:secret@[::1]:7000/1'), {
      tls: false,
      host: '::1',
      port: 7000,
      database: 1,
      username: 'alice',
      password: 'secret',
      redacted: 'redis://alice:***@[::1]:7000/1',
    });
  });

  it('refuses what it would have to guess at, saying what is wrong and never the password', () => {
    refused('', /no URL given/);
    refused('localhost:6379', /the scheme is localhost, not redis or rediss/);
    refused('http://127.0.0.1:6379', /the scheme is http/);
    refused('redis://127.0.0.1:0', /the port 0 is not 1 to 65535/);
    refused('redis://127.0.0.1:6379/db', /the path \/db is not a database number/);
    refused('redis://127.0.0.1:6379/1/2', /not a database number/);
    refused('redis://127.0.0.1?db=2', /no \?query or #fragment/);
    refused('redis://:hunter22@', /^--redis redis:\/\/:\*\*\*@: (not a URL|no host)/);
    refused('redis://:bad%zzpass@host', /password is not valid percent-encoding/);
    refused('redis://host\n:6379', /no spaces or control characters/);
    for (const text of ['redis://:hunter22@', 'redis://:bad%zzpass@host', 'http://:hunter22@host', ':hunter22@host']) {
      try {
        parseRedisUrl(text);
        assert.fail(text);
      } catch (error) {
        assert.doesNotMatch((error as Error).message, /hunter22|bad%zzpass/, text);
      }
    }
  });

  it('redacts a password, or a lone userinfo, from any text shaped like a URL', () => {
    assert.equal(redactUrl('redis://:secret@host:1/2'), 'redis://:***@host:1/2');
    assert.equal(redactUrl('redis://user:secret@host'), 'redis://user:***@host');
    assert.equal(redactUrl('redis://secret@host'), 'redis://***@host', 'a password written without its colon');
    assert.equal(redactUrl('redis://:pa/ss@host'), 'redis://:***@host', 'a password with an unencoded slash');
    assert.equal(redactUrl(':secret@host:6379'), ':***@host:6379', 'no scheme at all');
    assert.equal(redactUrl('redis://host:6379'), 'redis://host:6379');
  });

  it('never lets a password through, whatever it holds (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 8, maxLength: 40 }),
        fc.constantFrom('redis', 'rediss', 'http', ''),
        fc.boolean(),
        (password, scheme, encode) => {
          fc.pre(!password.includes('@') || encode);
          const given = encode ? encodeURIComponent(password) : password;
          const text = `${scheme ? `${scheme}://` : ''}:${given}@127.0.0.1:6379/0`;
          const shown: string[] = [redactUrl(text)];
          const secrets = [given];
          try {
            const target = parseRedisUrl(text);
            secrets.push(target.password!);
            // What a library might say: the password as Redis got it (decoded).
            shown.push(target.redacted, scrubPassword(`AUTH failed for ${target.password}`, target));
          } catch (error) {
            shown.push((error as Error).message);
          }
          for (const message of shown) {
            for (const secret of secrets)
              assert.ok(!message.includes(secret), `${JSON.stringify(message)} shows ${JSON.stringify(secret)}`);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
