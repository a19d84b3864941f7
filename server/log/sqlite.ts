/**
 * The chat log in an SQLite file (`--history PATH`), so that after a crash and a restart the tabs resume from
 * before the crash too. Through `better-sqlite3`: synchronous statements, so a batch is one plain transaction with
 * nothing else interleaved, as its docs ("performance") advise.
 *
 * Durable before acknowledged: WAL journal with `synchronous=FULL`, so every commit is fsynced before
 * `appendMany` resolves; a batch is one transaction. `synchronous=NORMAL` survives a process crash too but may
 * lose the last commits on a power cut, which would take back lines already receipted "delivered"; it is here
 * only so the benchmark can show what FULL costs (tools/bench/log.ts).
 *
 * One relay per file: `locking_mode=EXCLUSIVE` holds the file's lock from the open to the close, so a second
 * process on the same file is refused at its start (IN_USE) instead of numbering lines of its own. The epoch
 * lives in the file's `meta` table: a new file is a new epoch, a reopened one keeps its epoch and numbering.
 * The file is created readable by its owner only, and `PRAGMA application_id` marks it as a wirechat history.
 */
import { closeSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import {
  checkLimit,
  checkLineNumber,
  checkRetention,
  DEFAULT_RETENTION,
  firstKept,
  HistoryError,
  newEpoch,
  type Appended,
  type LogStore,
  type Position,
  type RecordToStore,
  type Retention,
  type StoredRecord,
  type StoreOptions,
} from './log.ts';

type Database = BetterSqlite3.Database;
type Statement = BetterSqlite3.Statement<unknown[]>;

export type Synchronous = 'full' | 'normal';

export interface SqliteOptions extends StoreOptions {
  /** 'full' unless measuring what it costs. */
  synchronous?: Synchronous;
}

/** "wclg" in the database header (PRAGMA application_id), so `file` and a person can tell the file is ours. */
export const APPLICATION_ID = 0x77636c67;
export const SCHEMA_VERSION = 1;

const SCHEMA = `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
  CREATE TABLE lines (
    n INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    tag TEXT UNIQUE,
    sealed TEXT NOT NULL CHECK (length(sealed) > 0)
  ) STRICT;
  PRAGMA application_id = ${APPLICATION_ID};
  PRAGMA user_version = ${SCHEMA_VERSION};
`;

/** The first column of the first row, or undefined. */
function one(statement: Statement, ...params: unknown[]): unknown {
  return (statement.raw(true).get(...params) as unknown[] | undefined)?.[0];
}

function sqliteCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

/** The file's own words for what went wrong, without the library's wrapping. */
function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Opens (or creates) the history file at `path`. Throws HistoryError with a message a person can act on. */
export async function openSqliteStore(path: string, options: SqliteOptions = {}): Promise<SqliteStore> {
  const retention = checkRetention(options.retention ?? DEFAULT_RETENTION);
  const synchronous = options.synchronous ?? 'full';
  if (synchronous !== 'full' && synchronous !== 'normal')
    throw new RangeError(`synchronous is full or normal, not ${synchronous}`);
  createPrivateFile(path);
  // Loaded here, not at the top: the default memory store never loads a native module.
  // An optional dependency: `npm install` goes on without it where no C++ compiler is at hand (it builds SQLite).
  let Database: typeof BetterSqlite3;
  try {
    ({ default: Database } = await import('better-sqlite3'));
  } catch (error) {
    throw new HistoryError(
      'OPEN_FAILED',
      `--history needs the better-sqlite3 package, which did not install here (it compiles SQLite: python3, make and ` +
        `a C++ compiler are needed); run npm install again once they are there: ${reason(error)}`,
      { cause: error },
    );
  }
  let db: Database;
  try {
    db = new Database(path, { timeout: 0 });
  } catch (error) {
    throw new HistoryError('OPEN_FAILED', `cannot open the history file ${path}: ${reason(error)}`, { cause: error });
  }
  try {
    // EXCLUSIVE before WAL: the WAL index then lives in this process's memory, with no -shm file beside it.
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    // Whose file it is comes first: a database that is not ours is left exactly as it was, journal mode too.
    const fresh = isNewOrOurs(db, path);
    if (one(db.prepare('PRAGMA journal_mode = WAL')) !== 'wal')
      throw new HistoryError('OPEN_FAILED', `${path} cannot use a write-ahead log`);
    db.exec(`PRAGMA synchronous = ${synchronous.toUpperCase()}`);
    // Take the write lock now, at the start, and keep it (EXCLUSIVE mode never lets go of a lock it took).
    db.exec('BEGIN EXCLUSIVE');
    const epoch = fresh ? create(db) : readEpoch(db, path);
    db.exec('COMMIT');
    return new SqliteStore(db, path, epoch, retention, options.now ?? Date.now);
  } catch (error) {
    try {
      db.close();
    } catch {
      // the open failed; the original error is the one to report
    }
    if (error instanceof HistoryError) throw error;
    const code = sqliteCode(error);
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
      throw new HistoryError(
        'NOT_A_LOG',
        `${path} is not a wirechat history file (not an SQLite database, or a damaged one)`,
        { cause: error },
      );
    }
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
      throw new HistoryError(
        'IN_USE',
        `the history file ${path} is in use by another wirechat server; give each server its own file`,
        { cause: error },
      );
    }
    throw new HistoryError('OPEN_FAILED', `cannot open the history file ${path}: ${reason(error)}`, { cause: error });
  }
}

/**
 * Creates the file empty, readable by its owner only, when it does not exist: SQLite would create it with the
 * umask's mode (often world-readable), and its WAL takes the mode of the main file. Says plainly what is wrong
 * with a path that cannot be a history file.
 */
function createPrivateFile(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (statSync(path).isDirectory())
        throw new HistoryError('OPEN_FAILED', `the history path ${path} is a folder; give a file name`);
      return;
    }
    if (code === 'ENOENT') {
      throw new HistoryError(
        'OPEN_FAILED',
        `cannot create the history file ${path}: the folder ${dirname(path)} does not exist`,
        { cause: error },
      );
    }
    if (code === 'EISDIR')
      throw new HistoryError('OPEN_FAILED', `the history path ${path} is a folder; give a file name`);
    throw new HistoryError('OPEN_FAILED', `cannot create the history file ${path}: ${reason(error)}`, { cause: error });
  }
}

/** True for an empty database (to be made a history), false for one of ours; refuses anything else. */
function isNewOrOurs(db: Database, path: string): boolean {
  const applicationId = one(db.prepare('PRAGMA application_id'));
  const tables = one(db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table'"));
  if (applicationId === 0 && tables === 0) return true;
  if (applicationId !== APPLICATION_ID) {
    throw new HistoryError(
      'NOT_A_LOG',
      `${path} is an SQLite database but not a wirechat history file; give another path`,
    );
  }
  const version = one(db.prepare('PRAGMA user_version'));
  if (version !== SCHEMA_VERSION) {
    throw new HistoryError(
      'NOT_A_LOG',
      `${path} is a wirechat history of version ${String(version)}; this server reads version ${SCHEMA_VERSION}`,
    );
  }
  return false;
}

/** Inside the open's transaction: the schema, a new epoch, and no line yet. */
function create(db: Database): string {
  db.exec(SCHEMA);
  const insert = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
  const epoch = newEpoch();
  insert.run('epoch', epoch);
  insert.run('last', '0');
  return epoch;
}

function readEpoch(db: Database, path: string): string {
  const epoch = one(db.prepare("SELECT value FROM meta WHERE key = 'epoch'"));
  if (typeof epoch !== 'string' || epoch === '')
    throw new HistoryError('NOT_A_LOG', `${path} has no epoch: it is damaged`);
  return epoch;
}

export class SqliteStore implements LogStore {
  readonly description: string;
  readonly retention: Retention;
  readonly #db: Database;
  readonly #epoch: string;
  readonly #now: () => number;
  #last: number;
  #lastAt: number;
  #closed = false;
  readonly #sql: Record<'byTag' | 'insert' | 'dropBelow' | 'setLast' | 'read' | 'firstAtOrAfter' | 'newest', Statement>;

  constructor(db: Database, path: string, epoch: string, retention: Retention, now: () => number) {
    this.#db = db;
    this.description = `SQLite ${path}`;
    this.#epoch = epoch;
    this.retention = retention;
    this.#now = now;
    this.#sql = {
      byTag: db.prepare('SELECT n, at FROM lines WHERE tag = ?'),
      insert: db.prepare('INSERT INTO lines (n, at, tag, sealed) VALUES (?, ?, ?, ?)'),
      dropBelow: db.prepare('DELETE FROM lines WHERE n < ?'),
      setLast: db.prepare("UPDATE meta SET value = ? WHERE key = 'last'"),
      read: db.prepare('SELECT n, at, tag, sealed FROM lines WHERE n > ? ORDER BY n LIMIT ?'),
      // Times never go down as numbers go up: the scan in number order stops at the first line young enough.
      firstAtOrAfter: db.prepare('SELECT n FROM lines WHERE at >= ? ORDER BY n LIMIT 1'),
      newest: db.prepare('SELECT at FROM lines ORDER BY n DESC LIMIT 1'),
    };
    this.#last = Number(one(db.prepare("SELECT value FROM meta WHERE key = 'last'")));
    this.#lastAt = Number(one(this.#sql.newest) ?? 0);
  }

  async appendMany(records: readonly RecordToStore[]): Promise<Appended[]> {
    this.#open();
    if (records.length === 0) return [];
    const now = this.#now();
    const [last, lastAt] = [this.#last, this.#lastAt];
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      this.#dropExpired(now);
      const results = records.map(({ tag, sealed }): Appended => {
        const held = tag === null ? undefined : (this.#sql.byTag.raw(true).get(tag) as [number, number] | undefined);
        if (held) return { n: held[0], at: held[1], duplicate: true };
        const n = ++this.#last;
        const at = (this.#lastAt = Math.max(now, this.#lastAt));
        this.#sql.insert.run(n, at, tag, sealed);
        // Trimmed after each record, so a batch answers exactly as its appends one by one would.
        this.#sql.dropBelow.run(n - this.retention.maxLines + 1);
        return { n, at, duplicate: false };
      });
      this.#sql.setLast.run(String(this.#last));
      // With synchronous=FULL, COMMIT returns once the WAL is fsynced: only then do the appends resolve.
      this.#db.exec('COMMIT');
      return results;
    } catch (error) {
      [this.#last, this.#lastAt] = [last, lastAt];
      this.#rollback();
      throw new HistoryError('WRITE_FAILED', `could not store the lines in ${this.description}: ${reason(error)}`, {
        cause: error,
      });
    }
  }

  async readAfter(n: number, limit: number): Promise<StoredRecord[]> {
    checkLineNumber(n);
    checkLimit(limit);
    this.#open();
    try {
      const first = this.#first(this.#now());
      const rows = this.#sql.read.raw(true).all(Math.max(n, first - 1), limit) as Array<
        [number, number, string | null, string]
      >;
      return rows.map(([n, at, tag, sealed]) => ({ n, at, tag, sealed }));
    } catch (error) {
      throw new HistoryError('READ_FAILED', `could not read ${this.description}: ${reason(error)}`, { cause: error });
    }
  }

  async position(): Promise<Position> {
    this.#open();
    try {
      return { epoch: this.#epoch, first: this.#first(this.#now()), last: this.#last };
    } catch (error) {
      throw new HistoryError('READ_FAILED', `could not read ${this.description}: ${reason(error)}`, { cause: error });
    }
  }

  async trim(): Promise<void> {
    this.#open();
    try {
      const first = this.#first(this.#now());
      const oldest = one(this.#db.prepare('SELECT min(n) FROM lines')) as number | null;
      if (oldest === null || oldest >= first) return;
      this.#db.exec('BEGIN IMMEDIATE');
      this.#sql.dropBelow.run(first);
      this.#db.exec('COMMIT');
    } catch (error) {
      this.#rollback();
      throw new HistoryError('WRITE_FAILED', `could not trim ${this.description}: ${reason(error)}`, { cause: error });
    }
  }

  /** The connection's own answers, so a test (or the console) sees the durability actually in force. */
  settings(): { journalMode: string; synchronous: Synchronous | number; lockingMode: string } {
    this.#open();
    const synchronous = one(this.#db.prepare('PRAGMA synchronous')) as number;
    return {
      journalMode: String(one(this.#db.prepare('PRAGMA journal_mode'))),
      synchronous: synchronous === 2 ? 'full' : synchronous === 1 ? 'normal' : synchronous,
      lockingMode: String(one(this.#db.prepare('PRAGMA locking_mode'))),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  #open(): void {
    if (this.#closed) throw new HistoryError('CLOSED', 'the chat log is closed');
  }

  #first(now: number): number {
    return firstKept(
      this.#last,
      this.retention,
      (cutoff) => Number(one(this.#sql.firstAtOrAfter, cutoff) ?? this.#last + 1),
      now,
    );
  }

  #dropExpired(now: number): void {
    this.#sql.dropBelow.run(this.#first(now));
  }

  #rollback(): void {
    try {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
    } catch {
      // SQLite has already rolled back (a failed COMMIT can do that); the caller reports the first error
    }
  }
}
