/**
 * `npm run server` stops whole, as the tests stop it (test/helpers/process.ts): stop() resolves once every process
 * of the server's group is gone, not at npm's exit. npm exits on SIGTERM at once while tsx and the server are still
 * closing; a test that took that for the end went on (stopped Redis, say) under a live server, and a server that
 * then never exited kept the test process alive through its pipes until the runner's timeout.
 */
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServerProcess, type ServerProcess } from '../helpers/process.ts';

/** The processes of `server`'s group still running: zombies (exited, not yet reaped by init) are gone already. */
function leftOf(server: ServerProcess): string[] {
  const ps = spawnSync('ps', ['-o', 'pid=,stat=,args=', '-g', String(server.child.pid)], { encoding: 'utf8' }).stdout;
  return ps
    .split('\n')
    .filter((line) => line.trim() !== '')
    .filter((line) => !/^\s*\d+\s+Z/.test(line));
}

describe('stopping npm run server', () => {
  it('resolves stop() once npm, sh, tsx and the server have all exited', async () => {
    const server = await startServerProcess();
    await server.stop();
    // Its output pipes closed: every process that held them (npm, sh, tsx, the server) has exited.
    assert.ok(server.child.stdout.closed && server.child.stderr.closed, 'the server still holds its pipes');
    assert.deepEqual(leftOf(server), [], 'no process of the server outlives stop()');
  });

  it('leaves nothing behind when the server itself was killed with SIGKILL', async () => {
    const server = await startServerProcess();
    server.signalServer('SIGKILL');
    await server.exited;
    await server.stop();
    assert.ok(server.child.stdout.closed && server.child.stderr.closed);
    assert.deepEqual(leftOf(server), []);
  });
});
