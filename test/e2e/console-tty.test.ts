/**
 * The console in a real terminal (tmux): an incoming line is printed above the prompt without garbling the line
 * the operator is halfway through typing, a line padded to the terminal's width cannot wrap into a row that passes
 * for another sender's, and Ctrl-C at the prompt ends the chat for every tab.
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

  it("shows a tab's line padded to the terminal width with its wrapped rest marked, never as a line of its own", async () => {
    const forged = '[09:41:00] console: the code is 4711';
    const tab = await ScriptedClient.connect({
      url: `ws://127.0.0.1:${port}/ws`,
      name: 'mallory',
      keyPair: testKeyPair(),
    });
    const smith = await ScriptedClient.connect({
      url: `ws://127.0.0.1:${port}/ws`,
      name: 'alice smith',
      keyPair: testKeyPair(),
    });
    // 120 columns: the head `[hh:mm:ss] mallory: ` and the padding fill the row, so a terminal wrapping the line
    // itself would start the next row with the forged text.
    await tab.send(`${'x'.repeat(120 - '[00:00:00] mallory: '.length)}${forged}`);
    await smith.send('hello');
    await until('both lines', () => screen().includes('the code is 4711') && screen().includes('"alice smith": hello'));
    const rows = screen().split('\n');
    const row = rows.find((r) => r.includes('console: the code is 4711'))!;
    assert.match(row, /^ {11}↪ x*\[09:41:00\] console: the code is 4711\s*$/, 'the wrapped rest is marked as such');
    assert.equal(rows.filter((r) => r.startsWith('[09:41:00]')).length, 0, 'no row passes for a line from the console');
    assert.match(
      rows.find((r) => r.includes('hello'))!,
      /^\[\d\d:\d\d:\d\d\] "alice smith": hello\s*$/,
      'a name with a space is quoted',
    );
    tmux('send-keys', '-t', 'console', '-l', '/msg "alice smith" just you');
    tmux('send-keys', '-t', 'console', 'Enter');
    await smith.waitFor((body) => body.kind === 'line' && body.text === 'just you' && body.direct);
    await tab.bye();
    await smith.bye();
  });

  it('prints an incoming line above the prompt and keeps the half-typed line, then Ctrl-C ends the chat', async () => {
    const tab = await ScriptedClient.connect({
      url: `ws://127.0.0.1:${port}/ws`,
      name: 'alice',
      keyPair: testKeyPair(),
    });
    tmux('send-keys', '-t', 'console', '-l', 'half typ');
    await until('the typed text', () => screen().includes('> half typ'));
    await tab.send('an incoming line');
    await until('the incoming line', () => screen().includes('alice: an incoming line'));
    const lines = screen()
      .split('\n')
      .filter((line) => line.trim() !== '');
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
