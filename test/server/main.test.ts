/**
 * The server's command line as a person meets it: --help, a mistyped flag, a port already taken.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, startServerProcess } from '../helpers/process.ts';

function server(args: string[]) {
  return spawnSync('npx', ['tsx', 'server/main.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
    input: '',
  });
}

describe('npm run server, from the command line', () => {
  it('answers --help with every option and exits 0', () => {
    const result = server(['--help']);
    assert.equal(result.status, 0);
    for (const flag of ['--port', '--host', '--plain', '--identity', '--allow-origin', '--max-connections', '--rate']) {
      assert.match(result.stdout, new RegExp(flag));
    }
  });

  it('names a mistyped flag and exits 2', () => {
    const result = server(['--prot', '8080']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /--prot/);
    assert.match(result.stderr, /--help/);
  });

  it('refuses a console --name that pages would refuse, and exits 2', () => {
    const result = server(['--name', 'te\x1b[31macher']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /--name: a name cannot contain a control character \(U\+001B\)/);
  });

  it('says how to fix a port that is already in use, and exits 1', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const result = server([
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        '--no-build',
        '--identity',
        '/tmp/wirechat-main-test/id.jwk',
      ]);
      assert.equal(result.status, 1);
      assert.match(result.stderr, new RegExp(`port ${port} is already in use`));
      assert.match(result.stderr, /--port 8081/);
    } finally {
      blocker.close();
    }
  });
});

describe('npm run server -- --tls', () => {
  it('prints the https address, the certificate fingerprint and how to compare it, and the key log warning; reuses it next time', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wirechat-main-tls-'));
    const keylog = join(dir, 'keys.log');
    const first = await startServerProcess(['--tls', '--tls-keylog', keylog], { identityDir: dir });
    try {
      assert.match(first.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
      const cert = new X509Certificate(await readFile(join(dir, 'tls-cert.pem'), 'utf8'));
      await first.waitForLine(`  tls         SHA-256 ${cert.fingerprint256}`);
      await first.waitForLine(`              a new self-signed certificate, saved in ${join(dir, 'tls-cert.pem')}`);
      await first.waitForLine(/compare this SHA-256 fingerprint with the$/);
      await first.waitForLine(/one in its certificate viewer/);
      await first.waitForLine(`  key log      TLS SESSION SECRETS ARE WRITTEN TO ${keylog} `);
      await first.waitForLine(/whoever holds that file can decrypt every captured TLS record/);
      assert.equal(
        first.lines.some((l) => l.includes('warning')),
        false,
        'no warning on loopback',
      );
    } finally {
      await first.stop();
    }
    const again = await startServerProcess(['--tls'], { identityDir: dir });
    try {
      const cert = new X509Certificate(await readFile(join(dir, 'tls-cert.pem'), 'utf8'));
      await again.waitForLine(`  tls         SHA-256 ${cert.fingerprint256}`);
      await again.waitForLine(`              certificate ${join(dir, 'tls-cert.pem')}`);
      assert.equal(
        again.lines.some((l) => l.includes('key log')),
        false,
      );
    } finally {
      await again.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says what is wrong with a given certificate, and exits 1', () => {
    const result = server([
      '--tls-cert',
      '/nonexistent/cert.pem',
      '--tls-key',
      '/nonexistent/key.pem',
      '--host',
      '127.0.0.1',
      '--no-build',
      '--identity',
      '/tmp/wirechat-main-test/id.jwk',
    ]);
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      'wirechat: --tls: cannot read the certificate (--tls-cert) /nonexistent/cert.pem: no such file\n',
    );
  });
});
