/**
 * Names: which names wirechat accepts, the form it keeps them in, and when two names are too alike to share a
 * chat. The one place that says so: the protocol's parsers, the relay, the server's `--name` and the page's name
 * field all ask here. docs/protocol.md ("Names") is the prose version, with the table test/shared/names.test.ts
 * checks; keep the three in step.
 *
 * Built on Unicode's advice for identifiers that people read and compare: UAX #31 (NFKC, default-ignorable code
 * points) and UTS #39 (restriction levels for mixed scripts, excessive combining marks, confusable skeletons).
 * Plain TypeScript and Unicode property escapes: it runs on the page too. The page uses only the rules; the
 * skeleton and its confusables table (about 100 KB) are for the server's NameBook, and the page's bundle leaves
 * them out because nothing there calls them.
 */
import confusablesData from 'unhomoglyph/data.json' with { type: 'json' };

/** The longest name, in code points, once normalized. */
export const MAX_NAME_CHARS = 24;

/**
 * Names nobody may take: the words the console and the page use for their own voice (the console echoes the
 * operator's lines as `you`; `console` is the operator's default name, and `server`, `system`, `operator`,
 * `admin` and `wirechat` read as the chat's authority). The server also reserves its operator's own `--name`.
 */
export const RESERVED_NAMES: readonly string[] = [
  'console',
  'server',
  'system',
  'operator',
  'admin',
  'wirechat',
  'you',
];

/**
 * The form a name is kept and sent in: NFKC (compatibility variants folded: fullwidth ｂｏｂ, 𝐛𝐨𝐛, ligatures, and
 * every no-break or typographic space becomes U+0020), runs of spaces made one, no space at either end. Nothing
 * else is removed: a character that would show as nothing is refused by nameProblem, never quietly dropped.
 */
export function normalizeName(raw: string): string {
  return raw.normalize('NFKC').replace(/ {2,}/g, ' ').replace(/^ | $/g, '');
}

/** U+XXXX, for messages. */
export function codePoint(char: string): string {
  return `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

// Characters that draw nothing although Unicode gives them a visible category: blank Braille, the Hangul fillers
// (also default-ignorable, listed for the reader), the musical null notehead, the object replacement character.
const BLANK = /[\u2800\u115f\u1160\u3164\uffa0\u{1d159}\ufffc]/u;

/**
 * Why one code point cannot be in a name, or undefined. Order matters only for the wording. `known`: the code point
 * must be assigned in this engine's Unicode (see receivedNameProblem for when it need not).
 */
function refusedChar(c: string, known = true): string | undefined {
  if (/\p{Cc}|\p{Zl}|\p{Zp}/u.test(c)) return 'a control character';
  if (/\p{Cs}/u.test(c)) return 'a lone surrogate';
  if (/\p{Co}/u.test(c)) return 'a private-use character';
  if (/\p{Cn}/u.test(c)) return known ? 'an unassigned code point' : undefined;
  if (/\p{Cf}|\p{Default_Ignorable_Code_Point}/u.test(c) || BLANK.test(c)) return 'an invisible character';
  if (/\p{Zs}/u.test(c) && c !== ' ') return 'a space other than U+0020';
  return undefined;
}

/**
 * U+0020 to U+007E: refusedChar refuses none of them (none is a control, format, unassigned, private-use or
 * invisible character, and the one space is U+0020), so the loops below skip its dozen property tests for them.
 */
function printableAscii(c: string): boolean {
  return c >= ' ' && c <= '~';
}

/**
 * Why `raw` (a name as asked for, before normalization) cannot be a name, or undefined when it can. The same
 * words on the page, in the server's refusal and for `--name`. Reserved names are another question
 * (reservedProblem, and the server's NameBook).
 */
export function nameProblem(raw: string): string | undefined {
  return problem(raw, true);
}

/**
 * Why a name the server sent (in a welcome, line, join or leave) cannot be shown, or undefined. The server has
 * applied nameProblem with its own Unicode data, which may be newer than this engine's: a letter of a script
 * added since is unassigned here. So what depends on knowing every character (unassigned code points, the script
 * rule, "at least one letter") is the server's to judge; everything that keeps a name from hiding or rewriting
 * text (controls, format and invisible characters, marks, length) is checked again. A page on an older browser
 * must not end its chat because someone else joined with a name it cannot read.
 */
export function receivedNameProblem(name: string): string | undefined {
  return problem(name, false);
}

function problem(raw: string, strict: boolean): string | undefined {
  // First the characters as typed, so that a refusal names the one the person typed (NFKC turns U+3164 into
  // U+1160); every space but U+0020 waits for NFKC, which makes the no-break and typographic ones U+0020.
  for (const c of raw) {
    if (printableAscii(c)) continue;
    const why = /\p{Zs}/u.test(c) ? undefined : refusedChar(c, strict);
    if (why !== undefined) return `a name cannot contain ${why} (${codePoint(c)})`;
  }
  const name = normalizeName(raw);
  if (name === '') return 'a name cannot be empty';
  const chars = [...name];
  if (chars.length > MAX_NAME_CHARS) return `a name has at most ${MAX_NAME_CHARS} characters`;
  for (const c of chars) {
    if (printableAscii(c)) continue;
    const why = refusedChar(c, strict);
    if (why !== undefined) return `a name cannot contain ${why} (${codePoint(c)})`;
  }
  // A mark at the start combines with whatever the console or the page prints before the name.
  if (/^\p{M}| \p{M}/u.test(name)) return 'a combining mark must follow a letter';
  // UTS #39 §5.4, on the decomposed form: no more than 4 nonspacing marks in a row, none repeated at once. A tower
  // of marks draws over the lines above and below.
  const nfd = name.normalize('NFD');
  if (/[\p{Mn}\p{Me}]{5}/u.test(nfd)) return 'a name cannot stack more than 4 combining marks on one letter';
  if (/([\p{Mn}\p{Me}])\1/u.test(nfd)) return 'a name cannot repeat a combining mark on one letter';
  if (!strict) return undefined;
  if (!/[\p{L}\p{N}\p{S}]/u.test(name)) return 'a name needs at least one letter, digit or symbol';
  return scriptProblem(chars);
}

/** Whether `name` (normalized) is one of RESERVED_NAMES, ignoring case: the page's early check. */
export function reservedProblem(name: string, more: readonly string[] = []): string | undefined {
  const lower = normalizeName(name).toLowerCase();
  for (const reserved of [...RESERVED_NAMES, ...more]) {
    if (normalizeName(reserved).toLowerCase() === lower) return `"${reserved}" is reserved`;
  }
  return undefined;
}

/** The page's early check of the name field: the rules, then the reserved words. The server decides. */
export function requestedNameProblem(raw: string): string | undefined {
  return nameProblem(raw) ?? reservedProblem(raw);
}

// ---- scripts: UTS #39 §5.2 "moderately restrictive" -------------------------------------------------------

/**
 * Every script of Unicode 15 (PropertyValueAliases.txt), plus those of 16 and 17, by their ISO 15924 codes; an
 * engine that does not know one skips it (see scriptTests). Common and Inherited are not here: they go with any.
 */
const SCRIPTS =
  'Adlm Aghb Ahom Arab Armi Armn Avst Bali Bamu Bass Batk Beng Bhks Bopo Brah Brai Bugi Buhd Cakm Cans Cari Cham ' +
  'Cher Chrs Copt Cpmn Cprt Cyrl Deva Diak Dogr Dsrt Dupl Egyp Elba Elym Ethi Geor Glag Gong Gonm Goth Gran Grek ' +
  'Gujr Guru Hang Hani Hano Hatr Hebr Hira Hluw Hmng Hmnp Hung Ital Java Kali Kana Kawi Khar Khmr Khoj Kits Knda ' +
  'Kthi Lana Laoo Latn Lepc Limb Lina Linb Lisu Lyci Lydi Mahj Maka Mand Mani Marc Medf Mend Merc Mero Mlym Modi ' +
  'Mong Mroo Mtei Mult Mymr Nagm Nand Narb Nbat Newa Nkoo Nshu Ogam Olck Orkh Orya Osge Osma Ougr Palm Pauc Perm ' +
  'Phag Phli Phlp Phnx Plrd Prti Rjng Rohg Runr Samr Sarb Saur Sgnw Shaw Shrd Sidd Sind Sinh Sogd Sogo Sora Soyo ' +
  'Sund Sylo Syrc Tagb Takr Tale Talu Taml Tang Tavt Telu Tfng Tglg Thaa Thai Tibt Tirh Tnsa Toto Ugar Vaii Vith ' +
  'Wara Wcho Xpeo Xsux Yezi Yiii Zanb Gara Gukh Krai Onao Sunu Todr Tutg Berf Chis Sidt Tayo Tols';

/**
 * UAX #31 Table 5, the scripts in common modern use, and the CJK sets UTS #39 adds: Hanb (Han with Bopomofo),
 * Jpan (Han with Hiragana and Katakana), Kore (Han with Hangul).
 */
const RECOMMENDED = new Set(
  (
    'Arab Armn Beng Bopo Cyrl Deva Ethi Geor Grek Gujr Guru Hang Hani Hebr Hira Kana Khmr Knda Laoo Latn Mlym Mymr ' +
    'Orya Sinh Taml Telu Thaa Thai Tibt Hanb Jpan Kore'
  ).split(' '),
);

/** UTS #39 §5.1: the augmented script sets, so that Japanese, Korean and Chinese with Bopomofo are single-script. */
const AUGMENT: Record<string, readonly string[]> = {
  Hani: ['Hanb', 'Jpan', 'Kore'],
  Hira: ['Jpan'],
  Kana: ['Jpan'],
  Hang: ['Kore'],
  Bopo: ['Hanb'],
};

/** Characters of no script in particular (digits, punctuation, symbols, and marks that take their letter's). */
const COMMON = /^[\p{scx=Zyyy}\p{scx=Zinh}]$/u;

let scriptTests: Array<[string, RegExp]> | undefined;

/** Built on first use, so that a page that never checks a name pays nothing. */
function scripts(): Array<[string, RegExp]> {
  if (scriptTests === undefined) {
    scriptTests = [];
    for (const code of SCRIPTS.split(' ')) {
      try {
        scriptTests.push([code, new RegExp(`\\p{scx=${code}}`, 'u')]);
      } catch {
        // An engine on an older Unicode than this list: its characters are unassigned there, and refused as such.
      }
    }
  }
  return scriptTests;
}

/** A character's augmented Script_Extensions; undefined for Common and Inherited ones, which go with any script. */
function scriptSet(c: string): Set<string> | undefined {
  const set = new Set<string>();
  for (const [code, test] of scripts()) {
    if (!test.test(c)) continue;
    set.add(code);
    for (const more of AUGMENT[code] ?? []) set.add(more);
  }
  return set.size === 0 ? undefined : set;
}

function intersect(sets: Array<Set<string>>): Set<string> {
  const [first, ...rest] = sets;
  return new Set([...(first ?? [])].filter((code) => rest.every((set) => set.has(code))));
}

let displayNames: Intl.DisplayNames | undefined | null;

/** "Cyrillic" for Cyrl, where the engine can say so. */
function scriptName(code: string): string {
  if (displayNames === undefined) {
    try {
      displayNames = new Intl.DisplayNames(['en'], { type: 'script' });
    } catch {
      displayNames = null;
    }
  }
  return displayNames?.of(code) ?? code;
}

/**
 * UTS #39 §5.2 "moderately restrictive": all letters of one script (the CJK sets count as one), or Latin with one
 * other script in common modern use except Cyrillic and Greek, the two whose letters pass for Latin ones.
 * `cоnsole` with a Cyrillic о is refused here; an all-Cyrillic `сопѕоlе` passes, and the skeleton keeps it from
 * sitting beside `console`.
 */
function scriptProblem(chars: string[]): string | undefined {
  if (chars.every((c) => c < '\u0080')) return undefined;
  const sets: Array<Set<string>> = [];
  for (const c of chars) {
    if (COMMON.test(c)) continue;
    const set = scriptSet(c);
    if (set === undefined) return `a name cannot contain ${codePoint(c)}, of a script this side does not know`;
    sets.push(set);
  }
  if (sets.length === 0 || intersect(sets).size > 0) return undefined;
  const others = sets.filter((set) => !set.has('Latn'));
  const other = intersect(others);
  if (
    others.length < sets.length &&
    [...other].some((code) => RECOMMENDED.has(code) && code !== 'Cyrl' && code !== 'Grek')
  ) {
    return undefined;
  }
  const seen = [...new Set(sets.map((set) => [...set][0]!))].map(scriptName);
  return `a name cannot mix scripts (${seen.join(' and ')}); Latin may go with one other script, but not with Cyrillic or Greek`;
}

// ---- uniqueness: UTS #39 §4 confusable skeletons ----------------------------------------------------------

const CONFUSABLES = confusablesData as Readonly<Record<string, string>>;
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/u;

/**
 * UTS #39 §4: skeleton(X) = NFD(prototypes of each character of NFD(X)), default-ignorables removed. Two strings
 * are confusable when their skeletons are equal. Not for display: `m` becomes `rn`, `0` becomes `O`. The
 * prototypes are confusables.txt's, as the unhomoglyph package ships them (Unicode 13 data).
 */
export function skeleton(text: string): string {
  let out = '';
  for (const c of text.normalize('NFD')) {
    if (IGNORABLE.test(c)) continue;
    out += Object.hasOwn(CONFUSABLES, c) ? CONFUSABLES[c] : c;
  }
  return out.normalize('NFD');
}

/** The skeleton of the lower case: confusable and caseless. */
function caseless(text: string): string {
  return skeleton(text.toLowerCase());
}

/**
 * The keys under which a name is held; two names clash when either key is the same. Both are caseless (names are
 * unique ignoring letter case, as they always were), and both are needed because confusables.txt maps capitals
 * and small letters apart: the caseless skeleton of the skeleton catches `AI` (capital i) against `Al`, and Lisu
 * `ꓚꓳꓠꓢꓳꓡꓰ` or Cyrillic `ЅҮЅТЕМ` (skeletons `CONSOLE`, `SYSTEM`) against `console` and `system`; the plain
 * caseless skeleton catches what only small letters are confused with. Both err towards calling two names alike
 * (`b0b` and `bob`, `AI` and `al`); the cost of that is a `-2`.
 */
export function nameKeys(name: string): [string, string] {
  const normal = normalizeName(name);
  return [`a:${caseless(skeleton(normal))}`, `b:${caseless(normal)}`];
}

export type Claim = { ok: true; name: string } | { ok: false; problem: string };

/** Cuts `text` to at most `max` code points and drops a space left at the end. */
function cut(text: string, max: number): string {
  return [...text].slice(0, max).join('').replace(/ $/, '');
}

/**
 * The names in use in one chat, held by whatever T the caller keeps (the relay: its sessions). Uniqueness is by
 * nameKeys; the reserved names (RESERVED_NAMES and any given, such as the console's `--name`) are refused by the
 * same keys, so `ѕуѕtеm` in Cyrillic letters is as reserved as `system`.
 */
export class NameBook<T> {
  readonly #reserved = new Map<string, string>();
  readonly #held = new Map<string, T>();
  readonly #keysOf = new Map<T, string[]>();

  constructor(reserved: readonly string[] = []) {
    for (const name of [...RESERVED_NAMES, ...reserved])
      for (const key of nameKeys(name)) this.#reserved.set(key, name);
  }

  /**
   * Checks `requested` and gives its normalized form, or when that is taken by someone else the first free of
   * `NAME-2`, `NAME-3`, ... (NAME cut to fit 24 characters), which passes the same rules and clashes with nothing.
   * A name that breaks the rules or looks like a reserved one is refused, not renamed.
   */
  claim(requested: string, holder: T): Claim {
    const problem = nameProblem(requested);
    if (problem !== undefined) return { ok: false, problem };
    const base = normalizeName(requested);
    for (const key of nameKeys(base)) {
      const reserved = this.#reserved.get(key);
      if (reserved === undefined) continue;
      const same = normalizeName(reserved).toLowerCase() === base.toLowerCase();
      return {
        ok: false,
        problem: same ? `"${reserved}" is reserved` : `"${base}" looks like the reserved name "${reserved}"`,
      };
    }
    let name = base;
    for (let n = 2; !this.#free(name); n++) {
      // Each holder blocks at most two candidates (one per key), so a free one comes soon; this is a backstop.
      if (n > 2 * this.#keysOf.size + this.#reserved.size + 2) return { ok: false, problem: `"${base}" is taken` };
      const suffix = `-${n}`;
      name = `${cut(base, MAX_NAME_CHARS - suffix.length)}${suffix}`;
      // A cut that leaves no letter (or a mark with nothing to sit on) makes no name: the asker picks another.
      if (nameProblem(name) !== undefined || normalizeName(name) !== name)
        return { ok: false, problem: `"${base}" is taken` };
    }
    const keys = nameKeys(name);
    for (const key of keys) this.#held.set(key, holder);
    this.#keysOf.set(holder, keys);
    return { ok: true, name };
  }

  #free(name: string): boolean {
    return nameKeys(name).every((key) => !this.#held.has(key) && !this.#reserved.has(key));
  }

  /** Lets go of whatever name `holder` has. */
  release(holder: T): void {
    for (const key of this.#keysOf.get(holder) ?? []) if (this.#held.get(key) === holder) this.#held.delete(key);
    this.#keysOf.delete(holder);
  }

  /** Everyone whose name `typed` could mean (by either key), without repeats: none, one, or an ambiguity. */
  match(typed: string): T[] {
    return [...new Set(nameKeys(typed).flatMap((key) => (this.#held.has(key) ? [this.#held.get(key)!] : [])))];
  }
}
