/**
 * The server's command line as a person meets it: --help, a mistyped flag, a port already taken.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { ROOT } from '../helpers/process.ts';

function server(args: string[]) {
  return spawnSync('npx', ['tsx', 'server/main.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000, input: '' });
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
      const result = server(['--port', String(port), '--host', '127.0.0.1', '--no-build', '--identity', '/tmp/wirechat-main-test/id.jwk']);
      assert.equal(result.status, 1);
      assert.match(result.stderr, new RegExp(`port ${port} is already in use`));
      assert.match(result.stderr, /--port 8081/);
    } finally {
      blocker.close();
    }
  });
});
