/**
 * shared/text.ts: what lines, names and words may not contain (CONTROL), and how wire text is shown (printable).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CONTROL, printable, shownLine } from '../../shared/text.ts';

test('CONTROL refuses C0/C1 controls, the line and paragraph separators and every bidi control, marks included', () => {
  const refused = [
    '\u0000',
    '\t',
    '\n',
    '\u001b',
    '\u007f',
    '\u0085',
    '\u009f',
    '\u2028',
    '\u2029',
    '\u061c',
    '\u200e',
    '\u200f',
    '\u202a',
    '\u202b',
    '\u202c',
    '\u202d',
    '\u202e',
    '\u2066',
    '\u2067',
    '\u2068',
    '\u2069',
  ];
  for (const c of refused) assert.ok(CONTROL.test(`a${c}b`), `U+${c.codePointAt(0)!.toString(16)}`);
  // Chat text keeps what real writing needs: joiners in emoji and Persian, combining marks, right-to-left letters.
  for (const ok of ['👨\u200d👩\u200d👧', 'می\u200cخواهم', 'e\u0301', 'שלום', 'مرحبا', '❤\ufe0f'])
    assert.ok(!CONTROL.test(ok), ok);
});

test('printable escapes every control, format, bidi, separator and default-ignorable character', () => {
  const cases: [string, string][] = [
    ['\u001b[2J', '\\u001b[2J'],
    ['a\u202eb', 'a\\u202eb'],
    ['\u200e\u200f\u061c', '\\u200e\\u200f\\u061c'],
    ['\u2066x\u2069', '\\u2066x\\u2069'],
    ['zero\u200bwidth', 'zero\\u200bwidth'],
    ['soft\u00adhyphen', 'soft\\u00adhyphen'],
    ['\ufeffbom', '\\ufeffbom'],
    ['\u3164\u115f', '\\u3164\\u115f'],
    ['tag\u{e0041}', 'tag\\u{e0041}'],
    ['lone \ud800 surrogate', 'lone \\ud800 surrogate'],
    ['\u2028\u2029', '\\u2028\\u2029'],
    ['plain text, "quoted" & <b>', 'plain text, "quoted" & <b>'],
    ['שלום', 'שלום'],
  ];
  for (const [input, shown] of cases) assert.equal(printable(input), shown, JSON.stringify(input));
});

test('printable cuts at max code points, then escapes', () => {
  assert.equal(printable('x'.repeat(70)), `${'x'.repeat(64)}...`);
  assert.equal(printable('😀'.repeat(5), 3), '😀😀😀...');
  assert.equal(printable('\u202e'.repeat(3), 2), '\\u202e\\u202e...');
});

test('whatever comes in, printable leaves nothing that is invisible or reorders the text around it', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (text) => {
      assert.doesNotMatch(printable(text, 100), /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Default_Ignorable_Code_Point}]/u);
    }),
    { numRuns: 2000 },
  );
});

test('shownLine shows every hidden character of a line escaped, but the joiners and selectors writing needs', () => {
  const cases: [string, string][] = [
    // Tag characters hide a sentence in plain sight ("ASCII smuggling"): here "AB".
    ['tag\u{e0041}\u{e0042}chars', 'tag\\u{e0041}\\u{e0042}chars'],
    ['zero\u200bwidth', 'zero\\u200bwidth'],
    ['soft\u00adhyphen', 'soft\\u00adhyphen'],
    ['feff\ufeffx', 'feff\\ufeffx'],
    ['\u3164\u115f', '\\u3164\\u115f'],
    // What writing needs stays: emoji sequences, presentation selectors, Persian's non-joiner, a few marks.
    ['👨\u200d👩\u200d👧', '👨\u200d👩\u200d👧'],
    ['❤\ufe0f and ☺\ufe0e', '❤\ufe0f and ☺\ufe0e'],
    ['می\u200cخواهم', 'می\u200cخواهم'],
    ['e\u0301 and a\u0301\u0302\u0303\u0304', 'e\u0301 and a\u0301\u0302\u0303\u0304'],
    // A tower: the fifth mark on and every one after is escaped, then the next letter starts afresh.
    ['a' + '\u0301'.repeat(6) + 'b\u0301', 'a' + '\u0301'.repeat(4) + '\\u0301\\u0301b\u0301'],
    ['plain text, "quoted" & <b>', 'plain text, "quoted" & <b>'],
    ['שלום', 'שלום'],
  ];
  for (const [input, shown] of cases) assert.equal(shownLine(input), shown, JSON.stringify(input));
});

test('shownLine leaves nothing invisible but the four writing needs, and never more than 4 marks in a row', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (line) => {
      const shown = shownLine(line);
      for (const c of shown) {
        if (/[\p{Cf}\p{Default_Ignorable_Code_Point}\p{Cs}\p{Cc}]/u.test(c))
          assert.ok(['\u200c', '\u200d', '\ufe0e', '\ufe0f'].includes(c), `U+${c.codePointAt(0)!.toString(16)}`);
      }
      assert.ok(!/[\p{Mn}\p{Me}]{5}/u.test(shown));
      // What needs no escaping is shown as it is.
      if (!/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Default_Ignorable_Code_Point}\p{Mn}\p{Me}]/u.test(line))
        assert.equal(shown, line);
    }),
  );
});
