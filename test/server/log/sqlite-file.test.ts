/**
 * What only the SQLite store has: a real file. Paths that cannot be a history are refused at the start with a
 * message a person can act on, and left as they were; one file serves one process; the durability settings in
 * force are WAL and synchronous=FULL; a failed batch leaves nothing behind; and a process killed with SIGKILL
 * in the middle of appends loses none that had been acknowledged, and the numbers go on after it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { loadChatKey } from '../../../server/log/chat-key.ts';
import { HistoryError, type HistoryErrorCode } from '../../../server/log/log.ts';
import { createChatLog, createLogSealer } from '../../../server/log/sealed.ts';
import { APPLICATION_ID, openSqliteStore, type Synchronous } from '../../../server/log/sqlite.ts';
import { inTempDir } from '../../helpers/temp.ts';

const CHILD = fileURLToPath(new URL('./append-child.ts', import.meta.url));

const inTemp = (run: (dir: string) => Promise<void>) => inTempDir('sqlite', run);

async function refused(path: string, code: HistoryErrorCode, says: RegExp): Promise<void> {
  await assert.rejects(openSqliteStore(path), (error: unknown) => {
    assert.ok(error instanceof HistoryError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.message, says);
    return true;
  });
}

/** A child process and its stdout as lines, with a bounded wait for the next line that matches. */
function child(args: string[]): {
  process: ChildProcessWithoutNullStreams;
  lines: string[];
  waitFor(match: RegExp, ms?: number): Promise<string>;
  exited: Promise<unknown>;
} {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: 'pipe' });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  let wake = () => {};
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    wake();
  });
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  return {
    process: proc,
    lines,
    exited,
    async waitFor(match, ms = 30_000) {
      const deadline = Date.now() + ms;
      for (let seen = 0; ;) {
        for (; seen < lines.length; seen++) if (match.test(lines[seen]!)) return lines[seen]!;
        if (proc.exitCode !== null) throw new Error(`the child exited (${proc.exitCode}) before ${match}: ${stderr}`);
        if (Date.now() > deadline) throw new Error(`no ${match} from the child in ${ms} ms: ${stderr}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 200);
        });
      }
    },
  };
}

describe('SQLite history file: opening', () => {
  it('makes a new file readable by its owner only, marked as a wirechat history, with its epoch inside', async () => {
    await inTemp(async (dir) => {
      const path = join(dir, 'history.db');
      const store = await openSqliteStore(path);
      const { epoch } = await store.position();
      assert.deepEqual(store.settings(), { journalMode: 'wal', synchronous: 'full', lockingMode: 'exclusive' });
      await store.close();
      if (process.platform !== 'win32') assert.equal((await stat(path)).mode & 0o777, 0o600);
      const db = new Database(path, { readonly: true });
      assert.equal(db.pragma('application_id', { simple: true }), APPLICATION_ID);
      assert.equal(db.prepare("SELECT value FROM meta WHERE key = 'epoch'").pluck().get(), epoch);
      db.close();
    });
  });

  it('keeps the epoch of an existing file, and a file made anew at the same path gets a new one', async () => {
    await inTemp(async (dir) => {
      const path = join(dir, 'history.db');
      const first = await openSqliteStore(path);
      const { epoch } = await first.position();
      await first.close();
      const again = await openSqliteStore(path);
      assert.equal((await again.position()).epoch, epoch);
      await again.close();
      await rm(path);
      const anew = await openSqliteStore(path);
      assert.notEqual((await anew.position()).epoch, epoch);
      await anew.close();
    });
  });

  it('refuses, at the start and in plain words, a path in a missing folder or that is a folder', async () => {
    await inTemp(async (dir) => {
      await refused(join(dir, 'nowhere', 'history.db'), 'OPEN_FAILED', /the folder .*nowhere does not exist/);
      await mkdir(join(dir, 'a-folder'));
      await refused(join(dir, 'a-folder'), 'OPEN_FAILED', /is a folder; give a file name/);
    });
  });

  it('refuses a file that is not an SQLite database, or a database of something else, and leaves it alone', async () => {
    await inTemp(async (dir) => {
      const notes = join(dir, 'notes.txt');
      const text = 'my notes, not a database\n'.repeat(200);
      await writeFile(notes, text);
      await refused(notes, 'NOT_A_LOG', /notes\.txt is not a wirechat history file/);
      assert.equal(await readFile(notes, 'utf8'), text);
      const other = join(dir, 'other.db');
      const db = new Database(other);
      db.exec("CREATE TABLE accounts (name TEXT); INSERT INTO accounts VALUES ('keep me')");
      db.close();
      await refused(other, 'NOT_A_LOG', /an SQLite database but not a wirechat history file/);
      const check = new Database(other, { readonly: true });
      assert.deepEqual(check.prepare('SELECT name FROM accounts').pluck().all(), ['keep me']);
      assert.equal(check.pragma('journal_mode', { simple: true }), 'delete', 'not even switched to WAL');
      check.close();
    });
  });

  it('refuses a history file another process holds, and opens it once that process is gone', async () => {
    await inTemp(async (dir) => {
      const path = join(dir, 'history.db');
      const holder = child(['hold', path]);
      try {
        await holder.waitFor(/^ready$/);
        await refused(path, 'IN_USE', /in use by another wirechat server/);
      } finally {
        holder.process.kill('SIGKILL');
        await holder.exited;
      }
      const store = await openSqliteStore(path);
      await store.close();
    });
  });

  it('refuses a second store on the same file in the same process', async () => {
    await inTemp(async (dir) => {
      const path = join(dir, 'history.db');
      const first = await openSqliteStore(path);
      await refused(path, 'IN_USE', /in use/);
      await first.close();
      await (await openSqliteStore(path)).close();
    });
  });
});

describe('SQLite history file: writing', () => {
  it('stores all of a batch or none of it, and the numbering is untouched by a failed one', async () => {
    await inTemp(async (dir) => {
      const store = await openSqliteStore(join(dir, 'history.db'));
      // An empty token breaks the table's CHECK: the second record fails after the first was inserted.
      await assert.rejects(
        store.appendMany([
          { tag: 'a', sealed: 'token-a' },
          { tag: 'b', sealed: '' },
        ]),
        (error: unknown) => error instanceof HistoryError && error.code === 'WRITE_FAILED',
      );
      assert.deepEqual(await store.position(), { epoch: (await store.position()).epoch, first: 1, last: 0 });
      assert.deepEqual(await store.readAfter(0, 10), []);
      assert.deepEqual(
        (await store.appendMany([{ tag: 'a', sealed: 'token-a' }]))[0]!.n,
        1,
        'tag a is new again: its insert was rolled back',
      );
      await store.close();
    });
  });

  for (const synchronous of ['full', 'normal'] as Synchronous[]) {
    it(`loses no acknowledged append when the process is killed mid-burst (synchronous=${synchronous})`, async () => {
      await inTemp(async (dir) => {
        const path = join(dir, 'history.db');
        const keyPath = join(dir, 'chat.key');
        const writer = child(['append', path, keyPath, synchronous]);
        let epoch: string;
        try {
          epoch = (await writer.waitFor(/^epoch /)).slice('epoch '.length);
          // Kill at a moment that depends on the machine: a few hundred acks in, with bursts in flight.
          await writer.waitFor(/^ack (3\d\d|[4-9]\d\d|\d{4,}) /);
        } finally {
          writer.process.kill('SIGKILL');
          await writer.exited;
        }
        const acks = new Map<number, number>();
        for (const l of writer.lines) {
          const m = /^ack (\d+) (\d+)$/.exec(l);
          if (m) acks.set(Number(m[1]), Number(m[2]));
        }
        assert.ok(acks.size >= 300, `${acks.size} acks`);
        const log = await createChatLog(
          await openSqliteStore(path),
          await createLogSealer((await loadChatKey(keyPath)).key),
        );
        try {
          const { epoch: after, first, last } = await log.position();
          assert.equal(after, epoch, 'the same history, the same epoch');
          const held = await log.readAfter(0, 100_000);
          assert.deepEqual(
            held.map((e) => e.n),
            Array.from({ length: last - first + 1 }, (_, i) => first + i),
            'no gap, no repeat',
          );
          const byLineId = new Map(held.map((e) => [e.origin!.lineId, e]));
          assert.equal(byLineId.size, held.length, 'each line once');
          for (const [lineId, n] of acks) {
            const entry = byLineId.get(lineId);
            assert.equal(entry?.n, n, `acknowledged line ${lineId} is there as number ${n}`);
            assert.equal(entry.text, `line ${lineId}`);
          }
          assert.ok(last >= Math.max(...acks.values()), 'nothing acknowledged is beyond the end');
          const [lastAcked] = [...acks].at(-1)!;
          assert.deepEqual(
            await log.append({
              kind: 'line',
              from: 'crash',
              text: `line ${lastAcked}`,
              origin: { identity: 'crash-tab', lineId: lastAcked },
            }),
            { n: acks.get(lastAcked), at: byLineId.get(lastAcked)!.at, duplicate: true },
            'a resend after the crash is still recognized',
          );
          assert.equal(
            (await log.append({ kind: 'console', from: 'console', text: 'after the crash' })).n,
            last + 1,
            'the numbers go on',
          );
        } finally {
          await log.close();
        }
      });
    });
  }
});
