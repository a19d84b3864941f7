/**
 * Text that came from the wire, made safe to show. One home for two rules that the page, the server's console
 * and the tools all apply:
 *
 * - CONTROL: what a chat line, a name or a bye word may not contain at all (the protocol refuses it);
 * - printable(): how any wire text that is shown anyway (a close reason, a field named in an error, a frame in
 *   the capture) is made harmless: every invisible or reordering character escaped, and the length capped;
 * - shownLine(): how a chat line is shown, on the console and the page alike: the same, less what writing needs.
 *
 * Nothing here imports anything: shared/protocol.ts, the page and the console all call it.
 */

/**
 * Refused in lines, names and words: C0 and C1 controls (ANSI escapes would rewrite the console's screen), the
 * line and paragraph separators, and every bidirectional formatting character (Unicode's Bidi_Control: the marks
 * U+061C, U+200E, U+200F, the embeddings and overrides U+202A..U+202E and the isolates U+2066..U+2069), which
 * reorder what is shown around them ("Trojan Source", CVE-2021-42574).
 */
export const CONTROL = /[\p{Cc}\p{Zl}\p{Zp}\p{Bidi_Control}]/u;

/**
 * Shown only escaped: everything CONTROL refuses, every other format character (general category Cf: zero-width
 * spaces and joiners, the soft hyphen, the word joiner, U+FEFF, the tag characters), every default-ignorable code
 * point (drawn as nothing: Hangul fillers, variation selectors, U+115F, U+3164) and unpaired surrogates. What is
 * left draws as itself, so the reader sees every character that is there and no character can move another.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Default_Ignorable_Code_Point}]/gu;

function escape(c: string): string {
  const code = c.codePointAt(0)!;
  return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * Text from the wire made safe to quote in an error message, a close reason, a status line or a console notice:
 * invisible and reordering characters escaped as `\uXXXX` (an unknown field named "\x1b[2J" must not clear the
 * console, a close reason with U+202E must not reverse the page's sentence) and at most `max` code points
 * (a 60 KiB field name must not flood the screen).
 */
export function printable(text: string, max = 64): string {
  const chars = [...text];
  const cut = chars.length > max ? chars.slice(0, max).join('') + '...' : text;
  return cut.replace(UNSAFE, escape);
}

/**
 * Invisible characters that real writing needs, left as they are in a chat line: the zero-width non-joiner and
 * joiner (Persian and Indic text; emoji sequences such as 👨‍👩‍👧) and the text and emoji presentation selectors (❤️).
 */
const WRITING = new Set(['\u200c', '\u200d', '\ufe0e', '\ufe0f']);

/** A combining mark with four before it on one character: UTS #39's limit (names refuse a fifth, shared/names.ts). */
const TOWER = /(?<=[\p{Mn}\p{Me}]{4})[\p{Mn}\p{Me}]/gu;

/**
 * A chat line as the console and the page show it. The protocol refuses controls and bidi characters in lines
 * (CONTROL); the rest of what printable() escapes is let through the wire (a line is the sender's own text) but
 * shown escaped, so that nothing in a line is there unseen: zero-width spaces, the soft hyphen, U+FEFF, fillers
 * that draw as nothing, and the tag characters U+E0020..U+E007F, which can carry a whole hidden sentence ("ASCII
 * smuggling"; a subdivision flag such as England's is shown as 🏴 and its escaped tags, the price of that). Marks
 * past the fourth on one character are escaped too: a tower of them draws over the lines above and below.
 * Not cut: a line's length is the protocol's (--max-line).
 */
export function shownLine(text: string): string {
  return text.replace(UNSAFE, (c) => (WRITING.has(c) ? c : escape(c))).replace(TOWER, escape);
}
