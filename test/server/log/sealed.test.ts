/**
 * The layer every store sits behind (server/log/sealed.ts): nothing of a line rests in a store in the clear,
 * what does rest is a Fernet token that an independent implementation opens with the chat key file, the
 * origin tag hides the origin, a history sealed under another key is refused at the start, and appends made
 * together are written together.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parseToken } from '../../../shared/fernet.ts';
import { ephemeralChatKey, loadChatKey } from '../../../server/log/chat-key.ts';
import {
  HistoryError,
  type Appended,
  type LogStore,
  type NewEntry,
  type RecordToStore,
} from '../../../server/log/log.ts';
import { MemoryStore } from '../../../server/log/memory.ts';
import { createChatLog, createLogSealer, inProcessSealer, PAYLOAD_VERSION } from '../../../server/log/sealed.ts';
import { openSqliteStore } from '../../../server/log/sqlite.ts';
import { inTempDir } from '../../helpers/temp.ts';

interface FernetPackage {
  Secret: new (key64: string) => object;
  Token: new (options: { secret: object; ttl: number; token?: string }) => { decode(): string };
}
const reference = createRequire(import.meta.url)('fernet') as FernetPackage;

const inTemp = (run: (dir: string) => Promise<void>) => inTempDir('sealed', run);

/** Entries whose every field is a marker that must not be found at rest. */
const SECRET_ENTRIES: NewEntry[] = [
  {
    kind: 'line',
    from: 'Marker-Name-Alice',
    text: 'marker text: the exam answers are 42',
    origin: { identity: 'marker-identity-tab', lineId: 1 },
  },
  {
    kind: 'console',
    from: 'Marker-Name-Console',
    text: 'marker console words',
    origin: { identity: 'marker-identity-console', lineId: 1 },
  },
  {
    kind: 'direct',
    from: 'Marker-Name-Console',
    text: 'marker private words',
    to: 'marker-recipient-id',
    origin: { identity: 'marker-identity-console', lineId: 2 },
  },
  { kind: 'leave', from: 'Marker-Name-Bob', text: 'marker leave reason' },
];
const MARKERS = [
  'Marker-Name',
  'marker text',
  'exam answers',
  'marker console',
  'marker private',
  'marker-identity',
  'marker-recipient',
  'marker leave',
];

function findMarkers(bytes: Uint8Array): string[] {
  const text = Buffer.from(bytes).toString('latin1').toLowerCase();
  return MARKERS.filter((marker) => text.includes(marker.toLowerCase()));
}

/** A memory store that remembers what it was given, and can be told to fail its next write. */
class RecordingStore implements LogStore {
  readonly inner = new MemoryStore();
  readonly batches: RecordToStore[][] = [];
  failNext: Error | undefined;
  readonly description = 'recording';
  readonly retention = this.inner.retention;
  appendMany(records: readonly RecordToStore[]): Promise<Appended[]> {
    this.batches.push([...records]);
    const failure = this.failNext;
    this.failNext = undefined;
    return failure ? Promise.reject(failure) : this.inner.appendMany(records);
  }
  readAfter = (n: number, limit: number) => this.inner.readAfter(n, limit);
  position = () => this.inner.position();
  trim = () => this.inner.trim();
  close = () => this.inner.close();
}

const line = (text: string, lineId: number): NewEntry => ({
  kind: 'line',
  from: 'alice',
  text,
  origin: { identity: 'tab-a', lineId },
});

describe('the chat log at rest', () => {
  it('keeps no name, text, recipient or identity in the clear in the SQLite file or its WAL', async () => {
    await inTemp(async (dir) => {
      const path = join(dir, 'history.db');
      const { key } = await loadChatKey(join(dir, 'chat.key'));
      const log = await createChatLog(await openSqliteStore(path), await createLogSealer(key));
      for (const entry of SECRET_ENTRIES) await log.append(entry);
      const { epoch } = await log.position();
      // While open, the lines are in the WAL; after the close, checkpointed into the main file.
      const open = Buffer.concat([await readFile(path), await readFile(`${path}-wal`)]);
      await log.close();
      const closed = await readFile(path);
      for (const bytes of [open, closed]) {
        assert.deepEqual(findMarkers(bytes), []);
        assert.ok(bytes.includes(epoch), 'the scan finds what is in the clear (the epoch)');
      }
    });
  });

  it('keeps only numbers, times, tags and Fernet tokens, which the fernet package opens with the key file', async () => {
    await inTemp(async (dir) => {
      const path = join(dir, 'history.db');
      const keyPath = join(dir, 'chat.key');
      const log = await createChatLog(
        await openSqliteStore(path),
        await createLogSealer((await loadChatKey(keyPath)).key),
      );
      const appended = await log.appendMany(SECRET_ENTRIES);
      await log.close();
      const db = new Database(path, { readonly: true });
      const rows = db.prepare('SELECT n, at, tag, sealed FROM lines ORDER BY n').all() as Array<{
        n: number;
        at: number;
        tag: string | null;
        sealed: string;
      }>;
      db.close();
      assert.deepEqual(
        rows.map((r) => [r.n, r.at]),
        appended.map((a) => [a.n, a.at]),
      );
      assert.deepEqual(
        rows.map((r) => r.tag === null),
        [false, false, false, true],
        'a tag only where there is an origin',
      );
      // The chat key file, as a person would paste it into Python's Fernet(...).
      const secret = new reference.Secret((await readFile(keyPath, 'utf8')).trim());
      rows.forEach((row, i) => {
        assert.equal(parseToken(row.sealed).version, 0x80);
        const payload = JSON.parse(new reference.Token({ secret, ttl: 0, token: row.sealed }).decode()) as unknown;
        assert.deepEqual(payload, { v: PAYLOAD_VERSION, ...SECRET_ENTRIES[i] });
      });
    });
  });

  it('hands any store only sealed records under a key, a memory store too', async () => {
    const store = new RecordingStore();
    const log = await createChatLog(store, await createLogSealer(ephemeralChatKey()));
    await log.appendMany(SECRET_ENTRIES);
    assert.deepEqual(findMarkers(Buffer.from(JSON.stringify(store.batches))), []);
    assert.deepEqual(
      (await log.readAfter(0, 10)).map(({ n: _n, at: _at, ...entry }) => entry),
      SECRET_ENTRIES,
    );
  });

  it('tags an origin with a keyed hash: the same origin alike, others apart, nothing of the identity in it', async () => {
    const key = ephemeralChatKey();
    const sealer = await createLogSealer(key.slice());
    const other = await createLogSealer(ephemeralChatKey());
    const tag = sealer.tag({ identity: 'tab-a', lineId: 12 });
    assert.match(tag, /^[A-Za-z0-9_-]{22}$/, '128 bits, base64url');
    assert.equal(sealer.tag({ identity: 'tab-a', lineId: 12 }), tag);
    assert.equal(
      (await createLogSealer(key.slice())).tag({ identity: 'tab-a', lineId: 12 }),
      tag,
      'stable under the same key',
    );
    assert.notEqual(sealer.tag({ identity: 'tab-a', lineId: 13 }), tag);
    assert.notEqual(sealer.tag({ identity: 'tab-b', lineId: 12 }), tag);
    assert.notEqual(
      sealer.tag({ identity: 'tab-a1', lineId: 2 }),
      sealer.tag({ identity: 'tab-a', lineId: 12 }),
      'no ambiguity between fields',
    );
    assert.notEqual(other.tag({ identity: 'tab-a', lineId: 12 }), tag, 'another chat key, another tag');
  });

  it('keeps the entries of the in-process memory log open, the same payload, tagged by their own origin', async () => {
    const store = new RecordingStore();
    const log = await createChatLog(store, inProcessSealer());
    await log.appendMany(SECRET_ENTRIES);
    const held = store.batches.flat();
    assert.deepEqual(
      held.map((record) => JSON.parse(record.sealed) as unknown),
      SECRET_ENTRIES.map((entry) => ({ v: PAYLOAD_VERSION, ...entry })),
    );
    assert.deepEqual(
      held.map((record) => record.tag),
      ['1 marker-identity-tab', '1 marker-identity-console', '2 marker-identity-console', null],
    );
    assert.deepEqual(
      (await log.readAfter(0, 10)).map(({ n: _n, at: _at, ...entry }) => entry),
      SECRET_ENTRIES,
    );
    const sealer = inProcessSealer();
    assert.notEqual(sealer.tag({ identity: 'tab-a1', lineId: 2 }), sealer.tag({ identity: 'tab-a', lineId: 12 }));
    assert.notEqual(sealer.tag({ identity: '2 tab', lineId: 1 }), sealer.tag({ identity: 'tab', lineId: 12 }));
    // What it opens is checked as a sealed payload is: a payload of another shape is refused, not guessed at.
    await assert.rejects(sealer.open('{"v":1,"kind":"line","from":"a","text":"b","extra":1}'), RangeError);
    await assert.rejects(sealer.open('{"v":2,"kind":"line","from":"a","text":"b"}'), RangeError);
    await assert.rejects(sealer.open('not json'), SyntaxError);
  });

  it('zeroes the chat key it was given once imported', async () => {
    const key = ephemeralChatKey();
    await createLogSealer(key);
    assert.deepEqual(key, new Uint8Array(32));
  });
});

describe('opening a history', () => {
  it('refuses a history sealed under another chat key, and lets it go for the right key', async () => {
    await inTemp(async (dir) => {
      const path = join(dir, 'history.db');
      const right = ephemeralChatKey();
      const log = await createChatLog(await openSqliteStore(path), await createLogSealer(right.slice()));
      await log.append(line('sealed under the right key', 1));
      await log.close();
      await assert.rejects(
        createChatLog(await openSqliteStore(path), await createLogSealer(ephemeralChatKey())),
        (error: unknown) => {
          assert.ok(error instanceof HistoryError, String(error));
          assert.equal(error.code, 'KEY_MISMATCH');
          assert.match(error.message, /history\.db was sealed under another chat key/);
          return true;
        },
      );
      const again = await createChatLog(await openSqliteStore(path), await createLogSealer(right.slice()));
      assert.deepEqual(
        (await again.readAfter(0, 10)).map((e) => e.text),
        ['sealed under the right key'],
      );
      await again.close();
    });
  });

  it('reports a record that does not open, naming its line, instead of skipping it', async () => {
    await inTemp(async (dir) => {
      const path = join(dir, 'history.db');
      const key = ephemeralChatKey();
      const log = await createChatLog(await openSqliteStore(path), await createLogSealer(key.slice()));
      await log.appendMany([line('one', 1), line('two', 2)]);
      await log.close();
      const db = new Database(path);
      const foreign = (await createLogSealer(ephemeralChatKey())).seal(line('forged', 3));
      db.prepare('UPDATE lines SET sealed = ? WHERE n = 1').run(foreign);
      db.close();
      const reopened = await createChatLog(await openSqliteStore(path), await createLogSealer(key.slice()));
      await assert.rejects(
        reopened.readAfter(0, 10),
        (error: unknown) =>
          error instanceof HistoryError && error.code === 'READ_FAILED' && /line 1 of SQLite/.test(error.message),
      );
      assert.deepEqual(
        (await reopened.readAfter(1, 10)).map((e) => e.text),
        ['two'],
      );
      await reopened.close();
    });
  });
});

describe('write batching', () => {
  it('writes appends made in one turn as one store transaction, and appends made apart as several', async () => {
    const store = new RecordingStore();
    const log = await createChatLog(store, await createLogSealer(ephemeralChatKey()));
    const together = await Promise.all(Array.from({ length: 100 }, (_, i) => log.append(line(`l${i}`, i))));
    assert.deepEqual(
      together.map((a) => a.n),
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      store.batches.map((b) => b.length),
      [100],
    );
    for (let i = 100; i < 103; i++) await log.append(line(`l${i}`, i));
    assert.deepEqual(
      store.batches.map((b) => b.length),
      [100, 1, 1, 1],
    );
  });

  it('over a store in this process (memory), stores every append in the call, numbered in call order', async () => {
    const log = await createChatLog(new MemoryStore(), inProcessSealer());
    assert.ok(log.appendInCall !== undefined, 'the memory log appends in the call');
    const first = log.append(line('a', 1));
    // Held by the store when the call returns, before the first append's promise is even looked at.
    const second = log.appendInCall(line('b', 2));
    assert.deepEqual([second.n, second.duplicate], [2, false]);
    const again = log.appendInCall(line('a', 1));
    assert.deepEqual([again.n, again.duplicate], [1, true], 'the first append was stored in its own call');
    assert.equal((await first).n, 1);
    assert.deepEqual(
      (await log.appendMany([line('c', 3), line('b', 2)])).map((a) => [a.n, a.duplicate]),
      [
        [3, false],
        [2, true],
      ],
    );
    assert.deepEqual(
      (await log.readAfter(0)).map((e) => e.text),
      ['a', 'b', 'c'],
    );
    await log.close();
    assert.throws(() => log.appendInCall!(line('d', 4)), /closed/);
    await assert.rejects(log.append(line('d', 4)), /closed/);
  });

  it('over a store that writes elsewhere (SQLite, Redis), has no in-call append: appends wait for their batch', async () => {
    const log = await createChatLog(new RecordingStore(), inProcessSealer());
    assert.equal(log.appendInCall, undefined);
  });

  it('fails every append of a batch the store could not write, and goes on with the next batch', async () => {
    const store = new RecordingStore();
    const log = await createChatLog(store, await createLogSealer(ephemeralChatKey()));
    const failure = new HistoryError('WRITE_FAILED', 'disk full');
    store.failNext = failure;
    const outcomes = await Promise.allSettled([log.append(line('a', 1)), log.appendMany([line('b', 2), line('c', 3)])]);
    assert.deepEqual(
      outcomes.map((o) => o.status === 'rejected' && o.reason === failure),
      [true, true],
    );
    assert.deepEqual((await log.append(line('a', 1))).n, 1, 'nothing of the failed batch took a number');
    assert.deepEqual((await log.position()).last, 1);
  });

  it('writes what was appended before a close, and refuses what comes after', async () => {
    const store = new RecordingStore();
    const log = await createChatLog(store, await createLogSealer(ephemeralChatKey()));
    const pending = [log.append(line('a', 1)), log.append(line('b', 2))];
    await log.close();
    assert.deepEqual(
      (await Promise.all(pending)).map((a) => a.n),
      [1, 2],
    );
    await assert.rejects(
      log.append(line('c', 3)),
      (error: unknown) => error instanceof HistoryError && error.code === 'CLOSED',
    );
  });
});
