/**
 * server/terminal.ts: the colours are on only where wanted, and a line printed above a prompt clears the prompt's
 * row first and draws the prompt again after it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import { paint, printAbovePrompt, wantColour } from '../../server/terminal.ts';

describe('the terminal', () => {
  it('colours unless --no-color, NO_COLOR (even empty) or, where asked, a stream that is not a terminal', () => {
    assert.equal(wantColour(undefined, {}), true);
    assert.equal(wantColour(false, {}, true), true);
    assert.equal(wantColour(true, {}), false);
    assert.equal(wantColour(undefined, { NO_COLOR: '' }), false);
    assert.equal(wantColour(undefined, {}, false), false);
  });

  it('paints with SGR and resets, or leaves the text as it is', () => {
    assert.equal(paint(true, 'red', 'x'), '\x1b[31mx\x1b[0m');
    assert.equal(paint(true, 'alarm', 'PLAIN'), '\x1b[41m\x1b[97m\x1b[1mPLAIN\x1b[0m');
    assert.equal(paint(false, 'alarm', 'PLAIN'), 'PLAIN');
  });

  it('prints above the prompt: the row cleared, the line, then the prompt with what was typed', () => {
    const output = new PassThrough();
    let written = '';
    output.on('data', (chunk: Buffer) => (written += chunk.toString()));
    const rl = createInterface({ input: new PassThrough(), output, terminal: true });
    rl.setPrompt('> ');
    rl.write('half typed');
    written = '';
    printAbovePrompt(output, rl, 'alice: hi');
    assert.ok(written.startsWith('\r\x1b[Kalice: hi\n'), JSON.stringify(written));
    assert.match(written.slice('\r\x1b[Kalice: hi\n'.length), /> half typed/);
    rl.close();
  });
});
