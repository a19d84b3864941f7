import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../server/command-line.ts';
import { DEFAULTS, HELP, parseOptions, type ServerOptions } from '../../server/options.ts';

/** Options from `argv` with an empty environment, asserting that they are options and not 'help'. */
function parse(argv: string[], env: NodeJS.ProcessEnv = {}): ServerOptions {
  const options = parseOptions(argv, env);
  assert.notEqual(options, 'help');
  return options as ServerOptions;
}

describe('parseOptions', () => {
  it('gives the defaults for no arguments', () => {
    assert.deepEqual(parse([]), DEFAULTS);
  });

  it("returns 'help' for --help and -h, whatever else is given", () => {
    assert.equal(parseOptions(['--help'], {}), 'help');
    assert.equal(parseOptions(['-h'], {}), 'help');
    assert.equal(parseOptions(['--port', '1', '--help'], {}), 'help');
  });

  it('lists every flag in the help text', () => {
    for (const flag of [
      '--port',
      '--host',
      '--plain',
      '--name',
      '--identity',
      '--allow-origin',
      '--max-connections',
      '--max-payload',
      '--handshake-timeout',
      '--rate',
      '--burst',
      '--heartbeat',
      '--max-buffered',
      '--max-line',
      '--no-build',
      '--no-color',
      '--help',
      '--max-per-address',
      '--max-pending-per-address',
      '--handshake-rate',
      '--handshake-burst',
      '--presence-interval',
    ]) {
      assert.ok(HELP.includes(flag), flag);
    }
  });

  const numeric: Array<[string, keyof ServerOptions, number, number]> = [
    ['--port', 'port', 0, 65535],
    ['--max-connections', 'maxConnections', 1, 1_000_000],
    ['--max-payload', 'maxPayload', 1024, 16 * 1024 * 1024],
    ['--handshake-timeout', 'handshakeTimeoutMs', 100, 600_000],
    ['--rate', 'rate', 1, 1_000_000],
    ['--burst', 'burst', 1, 1_000_000],
    ['--heartbeat', 'heartbeatMs', 100, 3_600_000],
    ['--max-buffered', 'maxBuffered', 1024, 1024 * 1024 * 1024],
    ['--max-line', 'maxLine', 1, 4096],
    ['--max-per-address', 'maxPerAddress', 1, 1_000_000],
    ['--max-pending-per-address', 'maxPendingPerAddress', 1, 1_000_000],
    ['--handshake-rate', 'handshakeRate', 1, 1_000_000],
    ['--handshake-burst', 'handshakeBurst', 1, 1_000_000],
    ['--presence-interval', 'presenceIntervalMs', 0, 60_000],
  ];
  for (const [flag, key, min, max] of numeric) {
    it(`takes ${flag} from ${min} to ${max}, and refuses anything else`, () => {
      assert.equal(parse([flag, String(min)])[key], min);
      assert.equal(parse([flag, String(max)])[key], max);
      assert.equal(parse([`${flag}=${min + 1}`])[key], min + 1);
      for (const bad of [String(min - 1), String(max + 1), 'abc', '1.5', '1e3', '0x10', ' 5', '']) {
        assert.throws(() => parseOptions([flag, bad], {}), UsageError, `${flag} ${JSON.stringify(bad)}`);
      }
      assert.throws(() => parseOptions([flag], {}), UsageError, `${flag} without a value`);
    });
  }

  it('states the per-address limits with their defaults in --help, and what a reverse proxy needs', () => {
    assert.match(HELP, new RegExp(`--max-per-address N .*\\n.*\\(default ${DEFAULTS.maxPerAddress}\\)`));
    assert.match(HELP, new RegExp(`in their handshake \\(default ${DEFAULTS.maxPendingPerAddress}\\)`));
    assert.match(HELP, new RegExp(`--handshake-rate N .*HTTP 429\\n.*\\(default ${DEFAULTS.handshakeRate}\\)`));
    assert.match(HELP, new RegExp(`--handshake-burst N .*\\(default ${DEFAULTS.handshakeBurst}\\)`));
    assert.match(HELP, /reverse proxy[\s\S]*X-Forwarded-For is not trusted/);
  });

  it('takes the port from $PORT, and --port over it', () => {
    assert.equal(parse([], { PORT: '9000' }).port, 9000);
    assert.equal(parse(['--port', '9001'], { PORT: '9000' }).port, 9001);
    assert.throws(() => parseOptions([], { PORT: 'http' }), UsageError);
  });

  it('takes --host, --name and --identity as given', () => {
    const options = parse(['--host', '0.0.0.0', '--name', 'teacher', '--identity', '/tmp/id.jwk']);
    assert.equal(options.host, '0.0.0.0');
    assert.equal(options.name, 'teacher');
    assert.equal(options.identity, '/tmp/id.jwk');
  });

  it('takes the identity from $WIRECHAT_IDENTITY, and --identity over it', () => {
    assert.equal(parse([], { WIRECHAT_IDENTITY: '/a.jwk' }).identity, '/a.jwk');
    assert.equal(parse(['--identity', '/b.jwk'], { WIRECHAT_IDENTITY: '/a.jwk' }).identity, '/b.jwk');
  });

  it('sets the switches --plain, --no-build and --no-color', () => {
    const options = parse(['--plain', '--no-build', '--no-color']);
    assert.equal(options.plain, true);
    assert.equal(options.build, false);
    assert.equal(options.color, false);
  });

  it('turns colour off when $NO_COLOR is set, even to an empty string', () => {
    assert.equal(parse([], { NO_COLOR: '' }).color, false);
    assert.equal(parse([], { NO_COLOR: '1' }).color, false);
  });

  it('takes --allow-origin more than once, each an exact origin', () => {
    const options = parse(['--allow-origin', 'https://a.example', '--allow-origin', 'http://localhost:5173']);
    assert.deepEqual(options.allowOrigins, ['https://a.example', 'http://localhost:5173']);
    for (const bad of [
      'a.example',
      'https://a.example/',
      'https://a.example/chat',
      'https://A.example',
      'https://a.example:443',
      '*',
    ]) {
      assert.throws(() => parseOptions(['--allow-origin', bad], {}), UsageError, bad);
    }
  });

  it('refuses unknown flags, positional arguments and values given to switches', () => {
    for (const argv of [['--prot', '80'], ['serve'], ['--plain=yes'], ['-p', '80'], ['--max-payload']]) {
      assert.throws(() => parseOptions(argv, {}), UsageError, argv.join(' '));
    }
  });

  it('takes --tls, and --tls-cert with --tls-key (which imply it), and --tls-keylog with TLS only', () => {
    assert.equal(parse([]).tls, false);
    assert.equal(parse(['--tls']).tls, true);
    const given = parse(['--tls-cert', 'c.pem', '--tls-key', 'k.pem']);
    assert.deepEqual([given.tls, given.tlsCert, given.tlsKey, given.tlsKeylog], [true, 'c.pem', 'k.pem', undefined]);
    assert.equal(parse(['--tls', '--tls-keylog', '/tmp/keys.log']).tlsKeylog, '/tmp/keys.log');
    for (const flag of ['--tls', '--tls-cert', '--tls-key', '--tls-keylog']) assert.ok(HELP.includes(flag), flag);
  });

  it('refuses --tls-cert without --tls-key (and the reverse), --tls-keylog without TLS, and empty file names', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--tls-cert', 'c.pem'], /--tls-cert and --tls-key go together/],
      [['--tls', '--tls-key', 'k.pem'], /--tls-cert and --tls-key go together/],
      [['--tls-keylog', 'keys.log'], /--tls-keylog needs --tls/],
      [['--tls', '--tls-keylog', ''], /--tls-keylog takes a file name/],
      [['--tls-cert', '', '--tls-key', 'k.pem'], /--tls-cert takes a file name/],
      [['--tls=yes'], /--tls/],
    ];
    for (const [argv, message] of cases) assert.throws(() => parseOptions(argv, {}), message, argv.join(' '));
  });

  it('refuses a console --name that no page would accept as a name', () => {
    for (const bad of ['', '   ', 'x'.repeat(25), 'te\x1b[31macher', 'console\u200b', 'c\u043ensole', '\u3164']) {
      assert.throws(() => parseOptions(['--name', bad], {}), UsageError, JSON.stringify(bad));
    }
  });

  it('keeps a console --name in the normal form names have, and lets the operator take a reserved word', () => {
    const name = (value: string) => (parseOptions(['--name', value], {}) as ServerOptions).name;
    assert.equal(name(' Frau\u00a0M\u00fcller '), 'Frau M\u00fcller');
    assert.equal(name('server'), 'server');
  });
});
