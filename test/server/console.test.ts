/**
 * The operator's console, driven through streams as stdin and stdout are, against a real relay with real tabs
 * (ScriptedClient over loopback). test/e2e/console-tty.test.ts checks the interactive prompt in a real terminal.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { Console, complete } from '../../server/console.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import type { ScriptedClient } from '../../tools/client.ts';

describe('the console', () => {
  let server: TestServer;
  let input: PassThrough;
  let output: PassThrough;
  let printed: string;
  let ended: string[];
  let interrupted: number;
  let tabs: ScriptedClient[] = [];

  before(async () => {
    server = await startTestServer();
  });
  after(() => server.stop());
  beforeEach(async () => {
    for (const tab of tabs) tab.close();
    tabs = [];
    for (let i = 0; i < 100 && server.relay.names().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(server.relay.names(), [], 'the previous test\'s tabs have left');
    input = new PassThrough();
    output = new PassThrough();
    printed = '';
    ended = [];
    interrupted = 0;
    output.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    new Console({
      input,
      output,
      relay: server.relay,
      plain: false,
      color: false,
      onEnd: (word) => ended.push(word),
      onInterrupt: () => interrupted++,
    });
  });

  const type = (line: string) => input.write(line + '\n');
  const settle = () => new Promise((resolve) => setTimeout(resolve, 30));
  async function tab(name: string): Promise<ScriptedClient> {
    const client = await server.connect({ name });
    tabs.push(client);
    return client;
  }

  it('sends a typed line to every tab and echoes it with the time', async () => {
    const [a, b] = [await tab('amy'), await tab('bo')];
    type('hello tabs');
    for (const t of [a, b]) await t.waitFor((body) => body.kind === 'line' && body.text === 'hello tabs' && body.from === 'console');
    assert.match(printed, /^\[\d\d:\d\d:\d\d\] you: hello tabs$/m);
  });

  it('says when a line reached nobody', async () => {
    type('anyone?');
    await settle();
    assert.match(printed, /nobody else is here yet/);
  });

  it('/who lists names, time connected, mode and session codes', async () => {
    const a = await tab('amy');
    type('/who');
    await settle();
    assert.match(printed, /1 in the chat:/);
    assert.match(printed, new RegExp(`amy\\s+\\d+s\\s+secure\\s+${a.session.identity!.sessionCode}`));
  });

  it('/msg reaches only its target, and names a missing one', async () => {
    const [a, b] = [await tab('amy'), await tab('bo')];
    type('/msg AMY just for you');
    type('for everyone');
    await a.waitFor((body) => body.kind === 'line' && body.text === 'just for you' && body.direct);
    await b.waitFor((body) => body.kind === 'line' && body.text === 'for everyone');
    assert.equal(b.bodies.some((body) => body.kind === 'line' && body.text === 'just for you'), false);
    assert.match(printed, /you -> amy: just for you/);
    type('/msg nobody hi');
    type('/msg amy');
    await settle();
    assert.match(printed, /nobody is called nobody \(try \/who\)/);
    assert.match(printed, /usage: \/msg NAME text/);
  });

  it('/kick ends that tab with a reason and leaves the others', async () => {
    const [a, b] = [await tab('amy'), await tab('bo')];
    type('/kick bo');
    const end = await b.waitFor((body) => body.kind === 'end');
    assert.match(end.kind === 'end' ? end.reason : '', /removed you from the chat/);
    assert.equal((await b.closed).code, 1008);
    await a.waitForPresence('left', 'bo');
  });

  it('/help lists the commands; an unknown command says so', async () => {
    type('/help');
    type('/frobnicate');
    await settle();
    for (const command of ['/who', '/msg NAME text', '/kick NAME', 'EXIT or END']) assert.ok(printed.includes(command), command);
    assert.match(printed, /unknown command \/frobnicate/);
  });

  it('refuses a line that breaks the rules instead of sending it', async () => {
    const a = await tab('amy');
    type('x'.repeat(5000));
    await settle();
    assert.match(printed, /not sent: a line has at most 4096 bytes/);
    assert.equal(a.bodies.some((body) => body.kind === 'line'), false);
  });

  it('takes EXIT or END as the whole line, any case, spaces around; not inside a line', async () => {
    type('we are at the END of the lesson');
    await settle();
    assert.deepEqual(ended, []);
    type('   eNd  ');
    await settle();
    assert.deepEqual(ended, ['END']);
  });

  it('completes names after /msg and /kick, and commands after /', () => {
    assert.deepEqual(complete('/msg am', ['amelia', 'bo', 'Amos']), [['/msg amelia ', '/msg Amos '], '/msg am']);
    assert.deepEqual(complete('/kick ', ['bo']), [['/kick bo '], '/kick ']);
    assert.deepEqual(complete('/k', []), [['/kick '], '/k']);
    assert.deepEqual(complete('hello', ['bo']), [[], 'hello']);
  });
});
