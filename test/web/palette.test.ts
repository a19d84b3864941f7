import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contrast, palette, TEXT_PAIRS, UI_PAIRS } from '../../web/palette.ts';

test('the contrast formula matches WCAG (black on white is 21:1, a colour on itself 1:1)', () => {
  assert.equal(contrast('#000000', '#ffffff'), 21);
  assert.equal(contrast('#777777', '#777777'), 1);
  assert.equal(contrast('#767676', '#ffffff').toFixed(2), '4.54'); // the classic AA grey
});

for (const [fg, bg] of TEXT_PAIRS) {
  test(`text ${fg} on ${bg} meets WCAG AA (4.5:1)`, () => {
    const ratio = contrast(palette[fg], palette[bg]);
    assert.ok(ratio >= 4.5, `${fg} ${palette[fg]} on ${bg} ${palette[bg]}: ${ratio.toFixed(2)}:1`);
  });
}

for (const [fg, bg] of UI_PAIRS) {
  test(`${fg} against ${bg} meets WCAG 1.4.11 (3:1)`, () => {
    const ratio = contrast(palette[fg], palette[bg]);
    assert.ok(ratio >= 3, `${fg} ${palette[fg]} against ${bg} ${palette[bg]}: ${ratio.toFixed(2)}:1`);
  });
}
