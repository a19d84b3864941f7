/**
 * The operator's console, driven through streams as stdin and stdout are, against a real relay with real tabs
 * (ScriptedClient over loopback). test/e2e/console-tty.test.ts checks the interactive prompt in a real terminal.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { Console, complete } from '../../server/console.ts';
import { cells, CONTINUED } from '../../server/console-text.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import type { ScriptedClient } from '../../tools/client.ts';

describe('the console', () => {
  let server: TestServer;
  let input: PassThrough;
  let output: PassThrough;
  let printed: string;
  let ended: string[];
  let endedOnce: Promise<string>;
  let onEnd: (word: string) => void;
  let interrupted: number;
  let tabs: ScriptedClient[] = [];
  let con: Console;

  before(async () => {
    server = await startTestServer();
  });
  after(() => server.stop());
  beforeEach(async () => {
    for (const tab of tabs) tab.close();
    tabs = [];
    // The relay says a tab left (a console event) after it has taken its name off the list.
    if (server.relay.names().length > 0) await server.waitForEvent(() => server.relay.names().length === 0);
    assert.deepEqual(server.relay.names(), [], "the previous test's tabs have left");
    input = new PassThrough();
    output = new PassThrough();
    printed = '';
    ended = [];
    endedOnce = new Promise((resolve) => (onEnd = resolve));
    interrupted = 0;
    output.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    con = new Console({
      input,
      output,
      relay: server.relay,
      plain: false,
      color: false,
      onEnd: (word) => {
        ended.push(word);
        onEnd(word);
      },
      onInterrupt: () => interrupted++,
    });
  });

  const type = (line: string) => input.write(line + '\n');
  /** Resolves once the console has printed something that matches `pattern` (a test's failure says what it printed). */
  function waitForOutput(pattern: RegExp, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        output.off('data', check);
      };
      // Registered after the listener that appends to `printed`, so it sees each chunk already added.
      const check = () => {
        if (!pattern.test(printed)) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`the console did not print ${pattern} within ${timeoutMs} ms; it printed:\n${printed}`));
      }, timeoutMs);
      output.on('data', check);
      check();
    });
  }
  async function tab(name: string): Promise<ScriptedClient> {
    const client = await server.connect({ name });
    tabs.push(client);
    return client;
  }

  it('sends a typed line to every tab and echoes it with the time', async () => {
    const [a, b] = [await tab('amy'), await tab('bo')];
    type('hello tabs');
    for (const t of [a, b])
      await t.waitFor((body) => body.kind === 'line' && body.text === 'hello tabs' && body.from === 'console');
    assert.match(printed, /^\[\d\d:\d\d:\d\d\] you: hello tabs$/m);
  });

  it('says when a line reached nobody', async () => {
    type('anyone?');
    await waitForOutput(/nobody else is here yet/);
  });

  it('/who lists names, time connected, mode and session codes', async () => {
    const a = await tab('amy');
    type('/who');
    await waitForOutput(new RegExp(`amy\\s+\\d+s\\s+secure\\s+${a.session.identity!.sessionCode}`));
    assert.match(printed, /1 in the chat:/);
  });

  it('/msg reaches only its target, and names a missing one', async () => {
    const [a, b] = [await tab('amy'), await tab('bo')];
    type('/msg AMY just for you');
    type('for everyone');
    await a.waitFor((body) => body.kind === 'line' && body.text === 'just for you' && body.direct);
    await b.waitFor((body) => body.kind === 'line' && body.text === 'for everyone');
    assert.equal(
      b.bodies.some((body) => body.kind === 'line' && body.text === 'just for you'),
      false,
    );
    assert.match(printed, /you -> amy: just for you/);
    type('/msg nobody hi');
    type('/msg amy');
    // Lines are handled in order: once the second's answer is printed, so is the first's.
    await waitForOutput(/usage: \/msg NAME text/);
    assert.match(printed, /nobody is called nobody \(try \/who\)/);
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
    await waitForOutput(/unknown command \/frobnicate/);
    for (const command of ['/who', '/msg NAME text', '/kick NAME', 'EXIT or END'])
      assert.ok(printed.includes(command), command);
    assert.match(printed, /unknown command \/frobnicate/);
  });

  it('refuses a line that breaks the rules instead of sending it', async () => {
    const a = await tab('amy');
    type('x'.repeat(5000));
    await waitForOutput(/not sent: a line has at most 4096 bytes/);
    assert.equal(
      a.bodies.some((body) => body.kind === 'line'),
      false,
    );
  });

  it('takes EXIT or END as the whole line, any case, spaces around; not inside a line', async () => {
    type('we are at the END of the lesson');
    // Sent as a line (nobody is here to get it): the console has decided it is not the end.
    await waitForOutput(/we are at the END of the lesson/);
    assert.deepEqual(ended, []);
    type('   eNd  ');
    assert.equal(await endedOnce, 'END');
    assert.deepEqual(ended, ['END']);
  });

  it('completes names after /msg and /kick, and commands after /', () => {
    assert.deepEqual(complete('/msg am', ['amelia', 'bo', 'Amos']), [['/msg amelia ', '/msg Amos '], '/msg am']);
    assert.deepEqual(complete('/kick ', ['bo']), [['/kick bo '], '/kick ']);
    assert.deepEqual(complete('/k', []), [['/kick '], '/k']);
    assert.deepEqual(complete('hello', ['bo']), [[], 'hello']);
  });

  it('completes a name with a space in quotes, from quoted or unquoted typing', () => {
    const names = ['alice', 'alice smith', 'say "hi"'];
    assert.deepEqual(complete('/msg ali', names)[0], ['/msg alice ', '/msg "alice smith" ']);
    assert.deepEqual(complete('/msg alice s', names)[0], ['/msg "alice smith" ']);
    assert.deepEqual(complete('/kick "ALICE S', names)[0], ['/kick "alice smith" ']);
    assert.deepEqual(complete('/msg say', names)[0], ['/msg "say \\"hi\\"" ']);
  });

  // Issue 10, item 2: with tabs `alice smith` and `alice`, the words typed must never reach the wrong one.
  for (const order of [
    ['alice', 'alice smith'],
    ['alice smith', 'alice'],
  ]) {
    it(`/msg and /kick reach "alice smith" or alice, never the wrong one (joined ${order.join(', then ')})`, async () => {
      const [first, second] = [await tab(order[0]!), await tab(order[1]!)];
      const [alice, smith] = order[0] === 'alice' ? [first, second] : [second, first];
      const linesOf = (t: ScriptedClient) => t.bodies.flatMap((b) => (b.kind === 'line' ? [b.text] : []));

      type('/msg alice smith the code is 4711');
      await waitForOutput(
        /not sent: the words could name alice or "alice smith"; put the name in quotes, e\.g\. \/msg "alice smith" text/,
      );
      assert.deepEqual([linesOf(alice), linesOf(smith)], [[], []], 'an ambiguous /msg reaches nobody');

      type('/msg "alice smith" the code is 4711');
      await smith.waitFor((b) => b.kind === 'line' && b.text === 'the code is 4711' && b.direct);
      type('/msg "alice" smith, the code is 1234');
      await alice.waitFor((b) => b.kind === 'line' && b.text === 'smith, the code is 1234' && b.direct);
      assert.deepEqual([linesOf(alice), linesOf(smith)], [['smith, the code is 1234'], ['the code is 4711']]);
      assert.match(printed, /you -> "alice smith": the code is 4711/);
      assert.match(printed, /you -> alice: smith, the code is 1234/);

      type('/kick alice smith');
      await smith.waitFor((b) => b.kind === 'end');
      await alice.waitForPresence('left', 'alice smith');
      assert.equal(
        alice.bodies.some((b) => b.kind === 'end'),
        false,
        'alice is still in the chat',
      );
      type('/kick alice');
      await alice.waitFor((b) => b.kind === 'end');
    });
  }

  it('reaches a name with a no-break space however the operator types the space', async () => {
    const bob = await tab('bob\u00a0smith');
    assert.equal(bob.session.identity?.name, 'bob smith');
    type('/msg bob smith one');
    type('/msg bob\u00a0smith two');
    type('/msg "bob\u00a0smith" three');
    type('/msg BOB  SMITH four');
    for (const text of ['one', 'two', 'three', 'four']) await bob.waitFor((b) => b.kind === 'line' && b.text === text);
  });

  it('takes \\" and \\\\ inside a quoted name, and says what is wrong with a broken one', async () => {
    const quoted = await tab('say "hi" \\o/');
    type('/msg "say \\"hi\\" \\\\o/" hello there');
    await quoted.waitFor((b) => b.kind === 'line' && b.text === 'hello there');
    assert.match(printed, /you -> "say \\"hi\\" \\\\o\/": hello there/);
    type('/msg "say hello');
    type('/msg "bob"x hi');
    type('/kick "nobody here"');
    await waitForOutput(/nobody is called "nobody here" \(try \/who\)/);
    assert.match(printed, /a quoted name needs its closing " \(usage: \/msg NAME text\)/);
    assert.match(printed, /a quoted name ends with " and a space/);
    assert.match(printed, /nobody is called "nobody here" \(try \/who\)/);
  });

  it('shows names so that none can be misread: quoted in lines, notices and /who when they hold a space or colon', async () => {
    const smith = await tab('alice smith');
    con.line('alice smith', 'hi', Date.now());
    con.line('bob: hi', 'there', Date.now());
    con.joined({ name: 'alice smith', code: 'ABCD-1234', phase: 'secure' });
    con.left('connection #3', 1002, 'dropped: PROTO_BAD_JSON: the frame is not JSON', false);
    type('/who');
    await waitForOutput(/^ {2}"alice smith"\s+\d+s/m);
    assert.match(printed, /^\[\d\d:\d\d:\d\d\] "alice smith": hi$/m);
    assert.match(printed, /^\[\d\d:\d\d:\d\d\] "bob: hi": there$/m);
    assert.match(printed, /\* "alice smith" joined \(secure/);
    assert.match(printed, /! connection #3 dropped/, "a connection's label is not a name");
    assert.match(
      printed,
      new RegExp(`^  "alice smith"\\s+\\d+s\\s+secure\\s+${smith.session.identity!.sessionCode}$`, 'm'),
    );
  });

  it("shows what a tab's line hides, escaped: tag characters, zero-width spaces, a tower of marks", async () => {
    const before = printed.length;
    // "AB" in tag characters draws as nothing ("ASCII smuggling"); the emoji's joiner and selector are writing.
    con.line(
      'mallory',
      'hi\u{e0041}\u{e0042} zero\u200bwidth a' + '\u0301'.repeat(5) + ' 👨\u200d👩 ❤\ufe0f',
      Date.now(),
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(
      printed.slice(before).replace(/^\[[\d:]{8}\] /, ''),
      'mallory: hi\\u{e0041}\\u{e0042} zero\\u200bwidth a' + '\u0301'.repeat(4) + '\\u0301 👨\u200d👩 ❤\ufe0f\n',
    );
  });

  it("prints a tab's line after the tick that brought it, and anything printed meanwhile after it", async () => {
    const before = printed.length;
    con.line('amy', 'one', Date.now());
    con.line('bob', 'two', Date.now());
    assert.equal(printed.length, before, 'not printed while the line is on its way out');
    // Immediates run in the order they were queued: the console's (queued by the first line) runs before this one.
    await new Promise((resolve) => setImmediate(resolve));
    assert.match(printed.slice(before), /^\[[\d:]{8}\] amy: one\n\[[\d:]{8}\] bob: two\n$/);
    con.line('amy', 'three', Date.now());
    con.notice('amy left');
    assert.match(printed.slice(before), /amy: one\n.*bob: two\n.*amy: three\n.* \* amy left\n$/s, 'in the order said');
    con.line('bob', 'four', Date.now());
    con.close();
    assert.match(printed, /bob: four\n$/, 'closing prints what waits');
  });

  it('folds a tab line to the terminal width and marks every continuation, so padding cannot forge a line', async () => {
    (output as PassThrough & { columns?: number }).columns = 60;
    const forged = '[09:41:00] console: the code is 4711';
    const at = Date.now();
    const head = `[00:00:00] mallory: `.length;
    for (const pad of [60 - head, 59 - head, 120 - head, 3]) con.line('mallory', `${'x'.repeat(pad)}${forged}`, at);
    con.line('mallory', `${'\u5b57'.repeat(25)}${forged}`, at);
    con.line('mallory', `${'e\u0301'.repeat(40)}${forged}`, at);
    await new Promise((resolve) => setImmediate(resolve));
    const rows = printed.split('\n').filter((row) => row !== '');
    for (const row of rows) {
      const width = [...new Intl.Segmenter('en', { granularity: 'grapheme' }).segment(row)].reduce(
        (n, s) => n + cells(s.segment),
        0,
      );
      assert.ok(width <= 59, `a row of ${width} cells: ${row}`);
      assert.ok(
        /^\[\d\d:\d\d:\d\d\] mallory: /.test(row) || row.startsWith(`${' '.repeat(11)}${CONTINUED}`),
        `a row that starts like a line: ${row}`,
      );
      assert.ok(!row.startsWith('[09:41:00]'), `forged: ${row}`);
    }
    assert.ok(rows.length > 6, 'the long lines were folded');
  });
});
