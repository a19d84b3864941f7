/**
 * What the console needs to print and read names and tab lines without being fooled: names shown so that none
 * can be misread (quoted when they hold a space), names read back from what the operator types (quoted, or the
 * words as typed), and lines folded to the terminal's width with every continuation row marked, so that a line
 * padded to the width cannot wrap into a row that looks like another sender's.
 */
/**
 * A name as the console shows it: bare when it cannot be misread, else in double quotes with `"` and `\` escaped.
 * Quoted when it holds white space (where would `alice smith: hi` end?), a colon (`bob: hi` as a name), a quote
 * or a backslash. The operator types a quoted name back the same way.
 */
export function shownName(name: string): string {
  return /^[^\s"\\:]+$/u.test(name) ? name : `"${name.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** A quoted name at the start of `text` (which starts with `"`), and what follows it. */
export function readQuoted(text: string): { name: string; rest: string } | { error: string } {
  let name = '';
  for (let i = 1; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) {
      name += text[++i];
    } else if (c === '"') {
      const rest = text.slice(i + 1);
      if (rest !== '' && !/^\s/u.test(rest)) return { error: 'a quoted name ends with " and a space' };
      return { name, rest: rest.trim() };
    } else {
      name += c;
    }
  }
  return { error: 'a quoted name needs its closing "' };
}

/** How the operator's words after /msg or /kick may split into a name and the rest: one reading per way. */
export interface Reading {
  name: string;
  rest: string;
}

/**
 * The readings of `args` (what follows the command). A quoted name is the one reading. Unquoted, with `textAfter`
 * (a /msg): one reading per number of words taken as the name, from one up to all but the last; without (a /kick):
 * all the words are the name. The caller keeps those that name a tab; more than one is an ambiguity.
 */
export function readings(args: string, textAfter: boolean): Reading[] | { error: string } {
  const text = args.trim();
  if (text.startsWith('"')) {
    const quoted = readQuoted(text);
    return 'error' in quoted ? quoted : [quoted];
  }
  const words = text.split(/\s+/u).filter((word) => word !== '');
  if (!textAfter) return words.length === 0 ? [] : [{ name: words.join(' '), rest: '' }];
  const out: Reading[] = [];
  for (let n = 1; n < words.length; n++)
    out.push({ name: words.slice(0, n).join(' '), rest: words.slice(n).join(' ') });
  return out;
}

/**
 * Tab completion after /msg and /kick: the names that start with what is typed (quoted or not, any letter case),
 * each as the console would show it, so a name with a space comes out quoted. Returns whole lines; readline
 * replaces the typed line with the one completion, or lists them.
 */
export function completeName(head: string, typed: string, names: readonly string[]): string[] {
  let partial = typed;
  if (partial.startsWith('"')) {
    const quoted = readQuoted(partial);
    partial = 'error' in quoted ? partial.slice(1).replace(/\\(.)/gu, '$1') : quoted.name;
  }
  const prefix = partial.normalize('NFKC').replace(/\s+/gu, ' ').toLowerCase();
  return names.filter((name) => name.toLowerCase().startsWith(prefix)).map((name) => `${head}${shownName(name)} `);
}

// ---- folding -------------------------------------------------------------------------------------------------

/** Marks a row that continues the one above: no line the console prints starts with white space and this. */
export const CONTINUED = '↪ ';

const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });

/**
 * Terminal cells a grapheme may take, never fewer than it does: printable ASCII is one cell a character; anything
 * else is counted as two cells a code point. East Asian "ambiguous" letters (Greek, Cyrillic) are two cells in
 * some terminals, and terminals disagree on emoji and combining marks; counting high only folds a little early,
 * while counting low would let the terminal wrap before the console does, which is the forgery this prevents.
 */
export function cells(grapheme: string): number {
  return /^[\x20-\x7e]*$/.test(grapheme) ? grapheme.length : 2 * [...grapheme].length;
}

/**
 * `line` cut into rows of at most `width` cells, each row after the first indented and marked with CONTINUED, so
 * that whatever a sender pads its line with, no row of it starts where a new line would. Breaks after a space when
 * one is near the end of a row. Without a width (output that is not a terminal) the line stays whole.
 */
export function fold(line: string, width: number | undefined): string[] {
  if (width === undefined || !Number.isFinite(width)) return [line];
  const indent = width >= 40 ? ' '.repeat(11) + CONTINUED : CONTINUED;
  const parts = [...graphemes.segment(line)].map((s) => s.segment);
  let total = 0;
  for (const part of parts) total += cells(part);
  if (total <= width) return [line];
  const rows: string[] = [];
  let row: string[] = [];
  let used = 0;
  let room = width;
  for (const part of parts) {
    const size = cells(part);
    while (used + size > room && row.length > 0) {
      // Break after the last space in the row if it is in the row's last third; else cut where the row is full.
      const space = row.lastIndexOf(' ');
      const carry = space >= (row.length * 2) / 3 ? row.splice(space + 1) : [];
      rows.push(row.join(''));
      row = carry;
      used = carry.reduce((sum, p) => sum + cells(p), 0);
      room = Math.max(width - cells(indent), 1);
    }
    row.push(part);
    used += size;
  }
  rows.push(row.join(''));
  return rows.map((r, i) => (i === 0 ? r : indent + r));
}
