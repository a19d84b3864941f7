/**
 * The chat log in Redis (`--redis URL`): one history that every relay of a chat appends to and reads from, so a
 * line has one number chat-wide and a tab resumes from whichever relay it lands on. Behind the same LogStore
 * interface and the same test suite as the memory and SQLite stores; like them it never sees chat text, only
 * the sealed records of server/log/sealed.ts.
 *
 * - **Numbers**: every operation is one Lua script, which Redis runs atomically. An append takes its number with
 *   INCR on `last` and adds the entry to the stream with the explicit id `n-0`, in the same script: two relays
 *   appending at once are serialized by Redis, so no number is given twice, numbers have no gaps, and the
 *   stream's order is the numbers' order. XADD refuses an id at or below the stream's newest, a second guard.
 * - **Exactly once**: a record's dedupe tag is looked up in the `tags` hash in the same script; a tag the log
 *   holds answers with the first append's number. A tag is removed when retention drops its line.
 * - **Retention**: exactly the newest `maxLines` lines younger than `maxAgeMs`, by the relay's clock: XTRIM MINID
 *   (exact, so the suite's model holds) below the first kept line.
 * - **Epoch**: a random id in `epoch`, made with SET NX. The history is `epoch`, `last` and `log` together: when
 *   any of them is missing (Redis restarted without persistence, a key deleted or evicted, a stream expired),
 *   the next operation starts a new epoch, empty, and says so; never numbers that mean something else.
 * - **Durable before acknowledged** means "Redis acknowledged the script": what survives a crash of Redis itself
 *   depends on its persistence (appendonly, appendfsync; docs/cluster.md).
 */
import {
  checkLimit,
  checkLineNumber,
  checkRetention,
  DEFAULT_RETENTION,
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
import { RedisConnection } from '../broker/connection.ts';
import { BrokerError, reasonOf } from '../broker/errors.ts';
import { chatKeys, DEFAULT_CHAT, type ChatKeys } from '../broker/keys.ts';
import { LUA_PRELUDE, LuaScript } from '../broker/script.ts';

/** Shared by every script: KEYS = epoch, last, log, tags. */
const LOG_LUA = `${LUA_PRELUDE}
local EPOCH, LAST, LOG, TAGS = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local function field(fields, name)
  for i = 1, #fields, 2 do if fields[i] == name then return fields[i + 1] end end
  return nil
end
local function idOf(n) return int(n) .. '-0' end
local function numberOf(id) return tonumber(string.match(id, '^(%d+)-')) end
local function newest()
  local entry = redis.call('XREVRANGE', LOG, '+', '-', 'COUNT', 1)[1]
  if entry then return numberOf(entry[1]), tonumber(field(entry[2], 'at')) end
  return 0, 0
end
-- The history as it stands: its epoch and last number. When a part of it is missing or does not fit the rest,
-- it was lost (a Redis restarted empty, a key deleted, evicted or expired): a new epoch, empty.
local function ensure(candidate)
  local epoch = redis.call('GET', EPOCH)
  local lastText = redis.call('GET', LAST)
  local last = tonumber(lastText) or 0
  local hasLog = redis.call('EXISTS', LOG) == 1
  local whole = epoch and lastText and ((last == 0 and not hasLog) or (last > 0 and hasLog))
  if whole and hasLog and newest() > last then whole = false end
  if whole then return epoch, last end
  redis.call('DEL', LAST, LOG, TAGS)
  if epoch then redis.call('SET', EPOCH, candidate) else redis.call('SET', EPOCH, candidate, 'NX') end
  redis.call('SET', LAST, '0')
  return candidate, 0
end
-- The oldest line retention keeps: the newest maxLines, none older than the cutoff. Times never go down as
-- numbers go up and held numbers are consecutive, so a binary search over the numbers finds the cutoff.
local function firstKept(last, maxLines, cutoff)
  local head = redis.call('XRANGE', LOG, '-', '+', 'COUNT', 1)[1]
  if not head then return last + 1 end
  local lo = math.max(math.max(1, last - maxLines + 1), numberOf(head[1]))
  local hi = last + 1
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local entry = redis.call('XRANGE', LOG, idOf(mid), idOf(mid))[1]
    if (not entry) or tonumber(field(entry[2], 'at')) < cutoff then lo = mid + 1 else hi = mid end
  end
  return lo
end
-- Drops the lines below first, and their dedupe tags with them.
local function dropBelow(first)
  if first <= 1 then return end
  local gone = redis.call('XRANGE', LOG, '-', idOf(first - 1))
  if #gone == 0 then return end
  for _, entry in ipairs(gone) do
    local tag = field(entry[2], 'tag')
    if tag then redis.call('HDEL', TAGS, tag) end
  end
  redis.call('XTRIM', LOG, 'MINID', idOf(first))
end
`;

/** ARGV: candidate epoch, now, maxLines, maxAgeMs, then (tag or '', sealed) per record. */
const APPEND = new LuaScript(`${LOG_LUA}
local epoch, last = ensure(ARGV[1])
local now, maxLines, maxAge = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
dropBelow(firstKept(last, maxLines, now - maxAge))
local _, lastAt = newest()
local out = {}
for i = 5, #ARGV, 2 do
  local tag, sealed = ARGV[i], ARGV[i + 1]
  local held = tag ~= '' and redis.call('HGET', TAGS, tag)
  local entry = held and redis.call('XRANGE', LOG, held .. '-0', held .. '-0')[1]
  if entry then
    out[#out + 1] = {tonumber(held), tonumber(field(entry[2], 'at')), 1}
  else
    last = redis.call('INCR', LAST)
    lastAt = math.max(now, lastAt)
    if tag ~= '' then
      redis.call('XADD', LOG, idOf(last), 'at', int(lastAt), 'tag', tag, 'sealed', sealed)
      redis.call('HSET', TAGS, tag, int(last))
    else
      redis.call('XADD', LOG, idOf(last), 'at', int(lastAt), 'sealed', sealed)
    end
    -- Trimmed after each record, so a batch answers exactly as its appends one by one would.
    dropBelow(last - maxLines + 1)
    out[#out + 1] = {last, lastAt, 0}
  end
end
return {epoch, out}
`);

/** ARGV: candidate epoch, now, maxLines, maxAgeMs. */
const POSITION = new LuaScript(`${LOG_LUA}
local epoch, last = ensure(ARGV[1])
return {epoch, firstKept(last, tonumber(ARGV[3]), tonumber(ARGV[2]) - tonumber(ARGV[4])), last}
`);

/** ARGV: candidate epoch, now, maxLines, maxAgeMs, after, limit. */
const READ = new LuaScript(`${LOG_LUA}
local epoch, last = ensure(ARGV[1])
local first = firstKept(last, tonumber(ARGV[3]), tonumber(ARGV[2]) - tonumber(ARGV[4]))
local from = math.max(tonumber(ARGV[5]), first - 1) + 1
local out = {}
for _, entry in ipairs(redis.call('XRANGE', LOG, idOf(from), '+', 'COUNT', tonumber(ARGV[6]))) do
  out[#out + 1] = {numberOf(entry[1]), tonumber(field(entry[2], 'at')), field(entry[2], 'tag') or '', field(entry[2], 'sealed')}
end
return {epoch, out}
`);

/** ARGV: candidate epoch, now, maxLines, maxAgeMs. */
const TRIM = new LuaScript(`${LOG_LUA}
local epoch, last = ensure(ARGV[1])
dropBelow(firstKept(last, tonumber(ARGV[3]), tonumber(ARGV[2]) - tonumber(ARGV[4])))
return {epoch}
`);

/** ARGV: the epoch a relay found rewound, a new one. Renames it, once, when it is still the same. */
const RENAME = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) end
return redis.call('GET', KEYS[1])
`);

export interface RedisStoreOptions extends StoreOptions {
  /** `--chat NAME`: several chats can live in one Redis; `wirechat` by default. */
  chat?: string;
  /** Told each time an operation finds the history under another epoch than the one before (lost, started anew). */
  onEpoch?: (epoch: string, previous: string | null) => void;
}

/**
 * Opens the chat `chat` in Redis, over `connection` (shared with the broker; left open by close()) or a URL
 * (a connection of its own, closed with the store). Throws HistoryError OPEN_FAILED when Redis cannot be used.
 */
export async function openRedisStore(
  connection: RedisConnection | string,
  options: RedisStoreOptions = {},
): Promise<RedisStore> {
  const retention = checkRetention(options.retention ?? DEFAULT_RETENTION);
  const keys = chatKeys(options.chat ?? DEFAULT_CHAT);
  let owned: RedisConnection | null = null;
  if (typeof connection === 'string') {
    try {
      owned = await RedisConnection.open(connection, { name: 'wirechat-log' });
    } catch (error) {
      if (error instanceof BrokerError) throw new HistoryError('OPEN_FAILED', error.message, { cause: error });
      throw error;
    }
  }
  const store = new RedisStore(owned ?? (connection as RedisConnection), owned !== null, keys, retention, options);
  try {
    await store.position();
  } catch (error) {
    await store.close();
    throw new HistoryError('OPEN_FAILED', (error as Error).message, { cause: error });
  }
  return store;
}

type Row = [number, number, string, string];

export class RedisStore implements LogStore {
  readonly description: string;
  readonly retention: Retention;
  readonly keys: ChatKeys;
  readonly #connection: RedisConnection;
  readonly #owned: boolean;
  readonly #now: () => number;
  readonly #onEpoch: ((epoch: string, previous: string | null) => void) | undefined;
  #epoch: string | null = null;
  #closed = false;

  constructor(
    connection: RedisConnection,
    owned: boolean,
    keys: ChatKeys,
    retention: Retention,
    options: RedisStoreOptions,
  ) {
    this.#connection = connection;
    this.#owned = owned;
    this.keys = keys;
    this.retention = retention;
    this.#now = options.now ?? Date.now;
    this.#onEpoch = options.onEpoch;
    this.description = `Redis ${connection.target.redacted} chat ${keys.chat}`;
  }

  /** The epoch the last operation found; null before the first. */
  get epoch(): string | null {
    return this.#epoch;
  }

  async appendMany(records: readonly RecordToStore[]): Promise<Appended[]> {
    this.#open();
    if (records.length === 0) return [];
    const args = records.flatMap(({ tag, sealed }) => {
      if (tag === '') throw new RangeError('a dedupe tag is never empty');
      return [tag ?? '', sealed];
    });
    const reply = await this.#run(APPEND, args, 'WRITE_FAILED', 'could not store the lines in');
    const rows = reply[1] as Array<[number, number, number]>;
    return rows.map(([n, at, duplicate]) => ({ n: Number(n), at: Number(at), duplicate: Number(duplicate) === 1 }));
  }

  async readAfter(n: number, limit: number): Promise<StoredRecord[]> {
    checkLineNumber(n);
    checkLimit(limit);
    this.#open();
    const reply = await this.#run(READ, [String(n), String(limit)], 'READ_FAILED', 'could not read');
    return (reply[1] as Row[]).map(([n, at, tag, sealed]) => ({
      n: Number(n),
      at: Number(at),
      tag: tag === '' ? null : tag,
      sealed,
    }));
  }

  async position(): Promise<Position> {
    this.#open();
    const reply = await this.#run(POSITION, [], 'READ_FAILED', 'could not read');
    return { epoch: String(reply[0]), first: Number(reply[1]), last: Number(reply[2]) };
  }

  async trim(): Promise<void> {
    this.#open();
    await this.#run(TRIM, [], 'WRITE_FAILED', 'could not trim');
  }

  /**
   * Gives the history a new epoch when it is still `epoch`: for a relay that finds the log's last number below
   * one it has already delivered in that epoch (Redis came back from an older snapshot, or a replica that had
   * not seen the last writes took over). Numbers of that epoch now name other lines than before; under a new
   * epoch, a tab that resumes is told its view is void instead of being handed other lines under its numbers.
   * The lines held stay. Two relays finding it at once rename it once. Resolves with the epoch now in force.
   */
  async renameEpoch(epoch: string): Promise<string> {
    this.#open();
    try {
      return String(await RENAME.run(this.#connection.client, [this.keys.epoch], [epoch, newEpoch()]));
    } catch (error) {
      throw new HistoryError('WRITE_FAILED', `could not start a new epoch in ${this.description}: ${reasonOf(error)}`, {
        cause: error,
      });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) await this.#connection.close();
  }

  #open(): void {
    if (this.#closed) throw new HistoryError('CLOSED', 'the chat log is closed');
  }

  async #run(
    script: LuaScript,
    more: string[],
    code: 'READ_FAILED' | 'WRITE_FAILED',
    what: string,
  ): Promise<unknown[]> {
    const { maxLines, maxAgeMs } = this.retention;
    const keys = [this.keys.epoch, this.keys.last, this.keys.log, this.keys.tags];
    let reply: unknown[];
    try {
      reply = (await script.run(this.#connection.client, keys, [
        newEpoch(),
        String(this.#now()),
        String(maxLines),
        String(maxAgeMs),
        ...more,
      ])) as unknown[];
    } catch (error) {
      throw new HistoryError(code, `${what} ${this.description}: ${reasonOf(error)}`, { cause: error });
    }
    const epoch = String(reply[0]);
    if (epoch !== this.#epoch) {
      const previous = this.#epoch;
      this.#epoch = epoch;
      if (previous !== null) this.#onEpoch?.(epoch, previous);
    }
    return reply;
  }
}
