/**
 * JSON.stringify of a record's body, without V8's serializer for the shape the relay seals most: one flat plain
 * object (a line, a receipt, an end). V8's JsonStringifier looks at every character of a string through an escape
 * table one at a time, about 25 instructions a character under callgrind: 6,600 for a 300-byte line body, more
 * than any other step of a seal beyond its cryptography (issue 14's eighth pass). A string that needs no escaping
 * is its own JSON between quotes, and one regular expression finds out whether it needs any.
 *
 * The text is exactly JSON.stringify's for every input (test/shared/json-text.test.ts holds the two to each other
 * with fast-check over objects of any keys and values, lone surrogates, control characters, non-ASCII and large
 * strings included). Anything else is JSON.stringify's: a value that is not a plain object (an array, a class
 * instance, a boxed primitive, an object of no prototype), one with a toJSON, a value of any other type than a
 * string, number, boolean, null or undefined, or a string or key with a character JSON escapes. A property is read
 * once, in the order JSON.stringify reads it; where this falls back, JSON.stringify reads the properties again,
 * which only a getter with side effects could tell (no body the code makes has one).
 */

/**
 * The characters JSON.stringify escapes (RFC 8259's control characters U+0000-U+001F, '"' U+0022, '\\' U+005C)
 * and every surrogate, paired or not (a well-formed JSON.stringify escapes a lone one; a string with a pair is left
 * to JSON.stringify rather than told apart here). V8 scans a one-byte string for these in about 16 instructions a
 * character, against JsonStringifier's 25 and the copy that follows.
 */
const ESCAPED = /[\u0000-\u001f"\\\ud800-\udfff]/;

/** JSON.stringify(value), made as flatJson makes it where it can. */
export function bodyJson(value: unknown): string {
  return flatJson(value) ?? JSON.stringify(value);
}

/** JSON.stringify(value) for a flat plain object of strings needing no escapes, numbers, booleans and null; else undefined. */
export function flatJson(value: unknown): string | undefined {
  if (
    typeof value !== 'object' ||
    value === null ||
    // A proxy may say its prototype is Object.prototype; JSON.stringify writes one of an array as an array.
    Array.isArray(value) ||
    Object.getPrototypeOf(value) !== Object.prototype ||
    // Any toJSON, called or not (JSON.stringify ignores one that is not callable): left to JSON.stringify.
    (value as { toJSON?: unknown }).toJSON !== undefined
  )
    return undefined;
  const record = value as Record<string, unknown>;
  // Object.keys lists the own enumerable string keys in the order JSON.stringify writes them (integer-like keys
  // first, ascending, then the rest in the order they were made); a symbol key neither lists.
  const keys = Object.keys(record);
  let text = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const property = record[key];
    let json: string;
    if (typeof property === 'string') {
      if (ESCAPED.test(property)) return undefined;
      json = '"' + property + '"';
    } else if (typeof property === 'number') {
      // JSON writes a finite number as String() does, and NaN and the infinities as null.
      json = Number.isFinite(property) ? String(property) : 'null';
    } else if (typeof property === 'boolean') {
      json = property ? 'true' : 'false';
    } else if (property === null) {
      json = 'null';
    } else if (property === undefined) {
      continue; // JSON.stringify leaves the property out
    } else {
      return undefined; // an object, a function, a symbol, a bigint: JSON.stringify's to write or to refuse
    }
    if (ESCAPED.test(key)) return undefined;
    text += (text.length === 1 ? '"' : ',"') + key + '":' + json;
  }
  return text + '}';
}
