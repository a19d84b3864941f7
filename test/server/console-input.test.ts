/**
 * The console's input path (server/console.ts): nothing the operator types or pastes can throw out of readline's
 * 'line' event, where a throw would end the server and every tab's chat. Driven through streams as stdin and
 * stdout are, against a real relay (test/server/console.test.ts covers what each command does).
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { Console } from '../../server/console.ts';
import { until } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

describe('the console, given anything at all to read', () => {
  let server: TestServer;
  let input: PassThrough;
  let printed: string;

  before(async () => {
    server = await startTestServer();
  });
  after(() => server.stop());
  beforeEach(() => {
    input = new PassThrough();
    const output = new PassThrough();
    printed = '';
    output.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    new Console({
      input,
      output,
      relay: server.relay,
      plain: false,
      color: false,
      onEnd: () => undefined,
      onInterrupt: () => undefined,
    });
  });

  /** Types `/help` and waits (bounded) for the list: the console is still reading and answering. */
  async function stillAnswers(): Promise<void> {
    const mark = printed.length;
    input.write('/help\n');
    await until(() => printed.slice(mark).includes('/who'), 'the console to answer /help', 5000);
  }

  it('reads control characters, escapes, lone surrogates and huge lines without throwing (300 runs)', async () => {
    const line = fc.oneof(
      fc.string({ maxLength: 64, unit: 'binary' }),
      fc.string({
        maxLength: 64,
        unit: fc.constantFrom(
          '\x00',
          '\x1b',
          '[',
          '2',
          'J',
          '\x07',
          '\x7f',
          '\u202e',
          '\ud800',
          '\udfff',
          '/',
          ' ',
          '\t',
          'a',
        ),
      }),
      fc.string({ maxLength: 32, unit: 'binary' }).map((s) => `/${s}`),
      fc.constantFrom(
        '/msg',
        '/msg \x1b',
        '/kick \u0000',
        '/who \x1b[2J',
        '/\x1b[2J',
        'x'.repeat(1_000_000),
        `/${'k'.repeat(100_000)}`,
      ),
    );
    await fc.assert(
      fc.asyncProperty(line, async (text) => {
        // Without the end words: they end the chat, which is their job and not this test's.
        if (/^\s*(exit|end)\s*$/i.test(text.replace(/[\r\n]/g, ''))) return;
        input.write(text + '\n');
        await stillAnswers();
      }),
      { numRuns: 300, endOnFailure: true },
    );
    // What reached the terminal is printable: an escape typed in a command is echoed escaped, never raw.
    assert.ok(!/\x1b\[2J/.test(printed), 'a raw escape sequence reached the terminal');
  });

  it('echoes an unknown command with its control characters escaped', async () => {
    input.write('/\x1b[2Jclear\n');
    await until(() => printed.includes('unknown command'), 'the unknown-command alert', 5000);
    assert.match(printed, /unknown command \/\\u001b\[2Jclear/);
  });

  it('reports a line whose handling throws, and keeps reading', async () => {
    const say = server.relay.say;
    server.relay.say = () => {
      throw new Error('a relay bug \x1b[31m');
    };
    try {
      input.write('hello\n');
      await until(() => printed.includes('internal error handling that line'), 'the internal-error alert', 5000);
      assert.match(printed, /internal error handling that line: a relay bug \\u001b\[31m/);
    } finally {
      server.relay.say = say;
    }
    await stillAnswers();
  });
});
