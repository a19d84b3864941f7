/**
 * The console in a real terminal (tmux): an incoming line is printed above the prompt without garbling the line
 * the operator is halfway through typing, and Ctrl-C at the prompt ends the chat for every tab.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScriptedClient } from '../../tools/client.ts';
import { freePort, ROOT } from '../helpers/process.ts';
import { testKeyPair } from '../helpers/server.ts';

const SOCKET = `wirechat-test-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', 'console');

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the screen:\n${screen()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the console in a real terminal', () => {
  let dir: string;
  let port: number;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wirechat-tty-'));
    port = await freePort();
    const command = `npm run --silent server -- --port ${port} --host 127.0.0.1 --no-build --no-color --identity ${join(dir, 'id.jwk')}`;
    tmux('new-session', '-d', '-s', 'console', '-x', '120', '-y', '30', '-c', ROOT, command);
    await until('the banner', () => screen().includes('EXIT or END ends the chat'));
  });
  after(async () => {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('prints an incoming line above the prompt and keeps the half-typed line, then Ctrl-C ends the chat', async () => {
    const tab = await ScriptedClient.connect({ url: `ws://127.0.0.1:${port}/ws`, name: 'alice', keyPair: testKeyPair() });
    tmux('send-keys', '-t', 'console', '-l', 'half typ');
    await until('the typed text', () => screen().includes('> half typ'));
    await tab.send('an incoming line');
    await until('the incoming line', () => screen().includes('alice: an incoming line'));
    const lines = screen().split('\n').filter((line) => line.trim() !== '');
    assert.match(lines.at(-2)!, /^\[\d\d:\d\d:\d\d\] alice: an incoming line$/, 'printed on its own line');
    assert.equal(lines.at(-1), '> half typ', 'the prompt comes back with the half-typed line intact');

    tmux('send-keys', '-t', 'console', '-l', 'ed line');
    tmux('send-keys', '-t', 'console', 'Enter');
    await tab.waitFor((body) => body.kind === 'line' && body.text === 'half typed line' && body.from === 'console');

    tmux('send-keys', '-t', 'console', 'C-c');
    const end = await tab.waitFor((body) => body.kind === 'end');
    assert.equal(end.kind === 'end' && end.reason, 'The server is shutting down (Ctrl-C)');
    assert.equal((await tab.closed).code, 1001);
  });
});
