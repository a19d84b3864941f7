/**
 * The name rules (shared/names.ts): the table of accepted and refused names in docs/protocol.md §3.3, checked row
 * by row against the code (so the doc cannot drift), then the skeleton keys, the NameBook's uniqueness, reserved
 * names and suffixes, and a property-based run over arbitrary strings.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  MAX_NAME_CHARS,
  NameBook,
  nameKeys,
  nameProblem,
  normalizeName,
  receivedNameProblem,
  requestedNameProblem,
  RESERVED_NAMES,
  skeleton,
} from '../../shared/names.ts';
import { checkName, parseServerBody } from '../../shared/protocol.ts';

const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

interface Row {
  asked: string;
  answer: string;
  by: string;
}

function docTable(): Row[] {
  const begin = doc.indexOf('<!-- names-table:begin');
  const end = doc.indexOf('<!-- names-table:end -->');
  assert.ok(begin >= 0 && end > begin, 'docs/protocol.md has the names table');
  return [
    ...doc.slice(begin, end).matchAll(/^\| `("(?:[^"\\]|\\.)*")` \| (.+) \| (page and server|server) \|$/gmu),
  ].map((m) => ({
    asked: JSON.parse(m[1]!) as string,
    answer: m[2]!,
    by: m[3]!,
  }));
}

/** What the server answers in an empty chat whose console is `console`, in the table's words. */
function serverAnswer(asked: string): string {
  const claim = new NameBook<object>(['console']).claim(asked, {});
  return claim.ok ? `accepted as \`${JSON.stringify(claim.name)}\`` : `refused: ${claim.problem}`;
}

/** JSON.stringify writes the characters the table escapes raw: compare the parsed strings, not the spelling. */
function sameAnswer(actual: string, documented: string): boolean {
  const accepted = /^accepted as `(".*")`$/u;
  const a = accepted.exec(actual);
  const d = accepted.exec(documented);
  if (a && d) return JSON.parse(a[1]!) === JSON.parse(d[1]!);
  return actual === documented;
}

describe('the names table of docs/protocol.md', () => {
  const rows = docTable();

  test('has the rows the issue names, and a good many more', () => {
    assert.ok(rows.length >= 50, `${rows.length} rows`);
    const asked = new Set(rows.map((r) => r.asked));
    for (const name of [
      'console\u200b',
      'c\u043ensole',
      'console\u00ad',
      'bob\u200b',
      '\u3164',
      '\u2800',
      '\u115f',
      'server',
      'alice\u00a0smith',
    ]) {
      assert.ok(asked.has(name), JSON.stringify(name));
    }
    assert.ok(rows.some((r) => r.answer.startsWith('accepted')) && rows.some((r) => r.answer.startsWith('refused')));
  });

  for (const row of docTable()) {
    test(`${JSON.stringify(row.asked)}: ${row.answer.slice(0, 60)}`, () => {
      assert.ok(sameAnswer(serverAnswer(row.asked), row.answer), `the server says ${serverAnswer(row.asked)}`);
      const page = requestedNameProblem(row.asked);
      if (row.by === 'server') {
        assert.equal(page, undefined, 'only the server checks look-alikes of reserved names');
      } else {
        assert.equal(
          page === undefined ? undefined : `refused: ${page}`,
          row.answer.startsWith('refused') ? row.answer : undefined,
        );
      }
    });
  }
});

describe('normal form', () => {
  test('NFKC, one space between words, none at the ends; idempotent', () => {
    const cases: Array<[string, string]> = [
      ['alice\u00a0smith', 'alice smith'],
      ['alice\u2003\u2003smith', 'alice smith'],
      ['\u3000bob\u202f', 'bob'],
      ['\ufb01ona', 'fiona'],
      ['\u2168', 'IX'],
      ['e\u0301', '\u00e9'],
    ];
    for (const [raw, normal] of cases) {
      assert.equal(normalizeName(raw), normal, JSON.stringify(raw));
      assert.equal(normalizeName(normal), normal);
    }
  });

  test('a name the server sends must be in normal form; one asked for need not be', () => {
    assert.equal(nameProblem(' alice\u00a0 smith '), undefined);
    assert.match(checkName(' alice') ?? '', /normal form/);
    assert.equal(checkName('alice smith'), undefined);
  });

  test('the length limit counts code points of the normal form', () => {
    assert.equal(nameProblem('\u{1f600}'.repeat(MAX_NAME_CHARS)), undefined);
    assert.match(nameProblem('\u{1f600}'.repeat(MAX_NAME_CHARS + 1)) ?? '', /at most 24/);
    // U+FDFA is one code point that NFKC spells with 18: two of them are too long once normalized.
    assert.match(nameProblem('\ufdfa\ufdfa') ?? '', /at most 24/);
  });

  test('every character from U+0020 to U+007E may be in a name; the controls on either side of them may not', () => {
    // The character checks skip U+0020..U+007E without their Unicode property tests: none of those would refuse
    // one, and the neighbours just outside the range must still be caught.
    for (let code = 0x20; code <= 0x7e; code++) {
      const c = String.fromCharCode(code);
      assert.equal(nameProblem(`a${c}b`), undefined, `U+${code.toString(16)}`);
      assert.equal(receivedNameProblem(`a${c}b`), undefined, `U+${code.toString(16)}`);
    }
    for (const c of ['\u001f', '\u007f', '\u0080', '\u00a0\u200b', '\u{e000}', '\ud800']) {
      assert.match(nameProblem(`a${c}b`) ?? '', /a name cannot contain/, JSON.stringify(c));
      assert.match(receivedNameProblem(`a${c}b`) ?? '', /a name cannot contain/, JSON.stringify(c));
    }
  });
});

describe('names the server sends', () => {
  test("a character this engine does not know is the server's to judge: a newer server must not end older pages", () => {
    // U+0378 is unassigned in every Unicode so far: here it stands for a letter of a script added after this
    // engine's Unicode, which the server (on newer data) accepted.
    const newer = 'ab\u0378';
    assert.match(nameProblem(newer) ?? '', /unassigned/);
    assert.equal(receivedNameProblem(newer), undefined);
    const joined = {
      kind: 'presence',
      at: 0,
      changes: [{ change: 'joined', name: newer }],
      moreJoined: 0,
      moreLeft: 0,
    };
    assert.deepEqual(parseServerBody(joined), joined);
    assert.equal(receivedNameProblem('\u0378\u0379'), undefined, 'a name only of such letters');
  });

  test('what hides or rewrites text is refused in any name the server sends', () => {
    for (const name of ['console\u200b', 'bob\u202e', '\u3164', 'a\u001bb', ' bob', '\u0301bob', 'x'.repeat(25)]) {
      assert.notEqual(checkName(name), undefined, JSON.stringify(name));
      assert.throws(() =>
        parseServerBody({ kind: 'presence', at: 0, changes: [{ change: 'joined', name }], moreJoined: 0, moreLeft: 0 }),
      );
    }
  });
});

describe('skeletons and keys (UTS #39)', () => {
  test('look-alikes share a skeleton; different names do not', () => {
    assert.equal(skeleton('\u0441\u043e\u0440\u0455\u0435'), skeleton('copse'));
    assert.equal(skeleton('rn'), skeleton('m'));
    assert.equal(skeleton('AI'), skeleton('Al'));
    assert.notEqual(skeleton('alice'), skeleton('alicia'));
  });

  test('keys are caseless and catch capitals that look like small letters', () => {
    const clash = (a: string, b: string) => nameKeys(a).some((key) => nameKeys(b).includes(key));
    assert.ok(clash('Bob', 'bob'));
    assert.ok(clash('AI', 'Al'));
    assert.ok(clash('\ua4da\ua4f3\ua4e0\ua4e2\ua4f3\ua4e1\ua4f0', 'console'));
    assert.ok(clash('\u0405\u04ae\u0405\u0422\u0415\u041c', 'system'));
    assert.ok(clash('alice\u00a0smith', 'Alice Smith'));
    assert.ok(!clash('alice', 'alice smith'));
    assert.ok(!clash('bob', 'rob'));
  });
});

describe('NameBook: who holds which name', () => {
  test('a name taken by a look-alike gets a suffix that passes the rules and clashes with nothing', () => {
    const book = new NameBook<string>(['console']);
    assert.deepEqual(book.claim('copse', 'a'), { ok: true, name: 'copse' });
    assert.deepEqual(book.claim('\u0441\u043e\u0440\u0455\u0435', 'b'), {
      ok: true,
      name: '\u0441\u043e\u0440\u0455\u0435-2',
    });
    assert.deepEqual(book.claim('Copse', 'c'), { ok: true, name: 'Copse-3' });
    assert.deepEqual(book.claim('bob', 'd'), { ok: true, name: 'bob' });
    // `bob-2` is held, so a later `Bob` skips to -3; a suffix is checked like any name.
    assert.deepEqual(book.claim('bob-2', 'e'), { ok: true, name: 'bob-2' });
    assert.deepEqual(book.claim('Bob', 'f'), { ok: true, name: 'Bob-3' });
    const long = 'x'.repeat(MAX_NAME_CHARS);
    assert.deepEqual(book.claim(long, 'g'), { ok: true, name: long });
    assert.deepEqual(book.claim(long, 'h'), { ok: true, name: `${'x'.repeat(MAX_NAME_CHARS - 2)}-2` });
    // A cut never splits a character in two (the old cut counted UTF-16 units).
    const emoji = '\u{1f600}'.repeat(MAX_NAME_CHARS);
    book.claim(emoji, 'i');
    const second = book.claim(emoji, 'j');
    assert.ok(second.ok && checkName(second.name) === undefined && [...second.name].length === MAX_NAME_CHARS);
  });

  test("reserved names, the console's own among them, are refused in any case and by look-alikes", () => {
    const book = new NameBook<string>(['teacher']);
    for (const name of [
      ...RESERVED_NAMES,
      'teacher',
      'TEACHER',
      'Server',
      '\u0455\u0435\u0433\u0475\u0435\u0433',
      '\u0405\u04ae\u0405\u0422\u0415\u041c',
    ]) {
      const claim = book.claim(name, name);
      assert.equal(claim.ok, false, name);
      assert.match(!claim.ok ? claim.problem : '', /reserved/);
    }
    // A suffix that would land on the console's name is passed over.
    const withSuffix = new NameBook<string>(['bob-2']);
    withSuffix.claim('bob', 'a');
    assert.deepEqual(withSuffix.claim('bob', 'b'), { ok: true, name: 'bob-3' });
  });

  test('a name is free again once its holder lets go', () => {
    const book = new NameBook<string>();
    book.claim('alice', 'a');
    book.release('a');
    assert.deepEqual(book.claim('ALICE', 'b'), { ok: true, name: 'ALICE' });
    assert.deepEqual(book.match('alice'), ['b']);
  });

  test('match finds the holder of a name typed in any case or look-alike, and every holder it could mean', () => {
    const book = new NameBook<string>();
    book.claim('alice smith', 'as');
    book.claim('\u0412\u0430\u0441\u0430', 'cyrillic');
    assert.deepEqual(book.match('Alice\u00a0Smith'), ['as']);
    assert.deepEqual(book.match('Baca'), ['cyrillic'], 'reached by typing its Latin look-alike');
    assert.deepEqual(book.match('alice'), []);
  });

  test('an exact name never matches two holders (the keys are unique), so quoting one always reaches it', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-zA-Z0-9Il1O0 ]{1,8}$/), { minLength: 1, maxLength: 12 }), (asked) => {
        const book = new NameBook<number>();
        const given: string[] = [];
        asked.forEach((name, i) => {
          const claim = book.claim(name, i);
          if (claim.ok) given.push(claim.name);
        });
        for (const name of given) assert.equal(book.match(name).length, 1, name);
      }),
      { numRuns: 200 },
    );
  });
});

describe('properties over any string', () => {
  test('the checks never throw; an accepted name normalizes to one the server may send, and a claim gives one', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 30 }),
        fc.string({ unit: 'binary', maxLength: 30 }),
        (a, b) => {
          for (const raw of [a, b, a + b]) {
            const problem = nameProblem(raw);
            requestedNameProblem(raw);
            nameKeys(raw);
            if (problem === undefined) assert.equal(checkName(normalizeName(raw)), undefined, JSON.stringify(raw));
            const claim = new NameBook<number>().claim(raw, 1);
            if (claim.ok) assert.equal(checkName(claim.name), undefined, JSON.stringify(claim.name));
            else assert.ok(claim.problem.length > 0);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
