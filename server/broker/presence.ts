/**
 * Who is in the chat, across relays, kept in Redis so that it holds whichever relay a person asks:
 *
 * - each relay has a heartbeat key `relay:ID` that expires `ttlMs` after its last beat, and an entry in the
 *   `relays` hash (its label, sealed);
 * - each relay lists its participants in `tabs:ID` (field: a keyed hash of the participant's id; value: the
 *   participant's name claims and the participant sealed), which expires a while after the heartbeat;
 * - a name is held chat-wide by its claim keys, `name:H` for each of the name's keys (shared/names.ts nameKeys,
 *   hashed), made with SET NX and the heartbeat's expiry, renewed at each beat: a relay that dies lets its names
 *   go within `ttlMs`.
 *
 * Every change is one Lua script, so two relays claiming one name at once cannot both get it. A relay whose
 * heartbeat has expired is reaped by the first other relay that sweeps after it (atomically: one reaper), which
 * learns its participants and announces them gone. A relay that finds its own heartbeat gone (it was cut off
 * longer than `ttlMs`, or Redis restarted empty) writes its participants back, and learns which names it lost
 * meanwhile.
 */
import { nameKeys } from '../../shared/names.ts';
import type { RedisClient } from './connection.ts';
import type { ChatKeys } from './keys.ts';
import { parseParticipant, parseRelayInfo, type Participant, type RelayInfo } from './messages.ts';
import { LuaScript } from './script.ts';
import type { BrokerSealer } from './seal.ts';

export interface PresenceTiming {
  /** How often the relay beats (renews its heartbeat and its claims) and sweeps for dead relays. */
  heartbeatMs: number;
  /** How long a heartbeat (and a name claim) lives without renewal: the bound on showing a dead relay's tabs gone. */
  ttlMs: number;
}

export const DEFAULT_TIMING: PresenceTiming = { heartbeatMs: 1_000, ttlMs: 5_000 };

export function checkTiming(timing: PresenceTiming): PresenceTiming {
  const { heartbeatMs, ttlMs } = timing;
  if (!Number.isSafeInteger(heartbeatMs) || heartbeatMs < 10)
    throw new RangeError(`the heartbeat is a whole number of ms >= 10, not ${heartbeatMs}`);
  if (!Number.isSafeInteger(ttlMs) || ttlMs < heartbeatMs * 2)
    throw new RangeError(`a heartbeat lives at least two beats (${heartbeatMs * 2} ms), not ${ttlMs}`);
  return { heartbeatMs, ttlMs };
}

// A tab's value in `tabs:ID` is its claims' hashes and its sealed participant, separated by spaces (neither a
// hash nor a Fernet token has one): "H1 H2 TOKEN". A claim's value is "RELAY FIELD".

const RELEASE_LUA = `
local function claimsOf(value) local out = {} for h in string.gmatch(value, '(%S+) ') do out[#out + 1] = h end return out end
local function release(prefix, value, mine)
  for _, h in ipairs(claimsOf(value)) do
    local key = prefix .. 'name:' .. h
    if redis.call('GET', key) == mine then redis.call('DEL', key) end
  end
end
-- The participant field a claim's value names (its last word).
local function fieldOf(claim) return string.match(claim, ' (%S+)$') end
-- Whether \`claim\` (a GET's answer) is participant \`field\`'s on another relay than \`mine\`'s: it resumed there.
local function heldElsewhere(claim, mine, field) return claim and claim ~= mine and fieldOf(claim) == field end
-- Whether every claim is free, ours, or held by participant \`field\` elsewhere (it moved here); the holder if not.
local function claimable(prefix, value, mine, field)
  for _, h in ipairs(claimsOf(value)) do
    local cur = redis.call('GET', prefix .. 'name:' .. h)
    if cur and cur ~= mine and not heldElsewhere(cur, mine, field) then return false, cur end
  end
  return true, nil
end
local function take(prefix, value, mine, ttl)
  for _, h in ipairs(claimsOf(value)) do
    local key = prefix .. 'name:' .. h
    local cur = redis.call('GET', key)
    -- The same participant on another relay (a resume that landed here): it is no longer there.
    if cur and cur ~= mine then redis.call('HDEL', prefix .. 'tabs:' .. string.match(cur, '^(%S+) '), fieldOf(cur)) end
    redis.call('SET', key, mine, 'PX', ttl)
  end
end
`;

/** KEYS: relays, relay:ME, tabs:ME. ARGV: prefix, me, ttl, field, value. */
const JOIN = new LuaScript(`${RELEASE_LUA}
local prefix, me, ttl, field, value = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', KEYS[2]) == 0 then return {'gone'} end
local mine = me .. ' ' .. field
local ok, holder = claimable(prefix, value, mine, field)
if not ok then return {'taken', holder} end
local old = redis.call('HGET', KEYS[3], field)
if old then release(prefix, old, mine) end
take(prefix, value, mine, ttl)
redis.call('HSET', KEYS[3], field, value)
redis.call('PEXPIRE', KEYS[3], ttl * 2)
return {'ok'}
`);

/**
 * KEYS: this relay's tabs. ARGV: prefix, me, the participant's field, and its entry as this relay last wrote it ('' if
 * none). 1: let go; 0: not listed here; -1: not listed here because the same participant holds its name on another
 * relay (it resumed there: JOIN's take removed it from here), so it did not leave.
 */
const LEAVE = new LuaScript(`${RELEASE_LUA}
local prefix, me, field, known = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local value = redis.call('HGET', KEYS[1], field)
if not value then
  local h = claimsOf(known)[1]
  if h and heldElsewhere(redis.call('GET', prefix .. 'name:' .. h), me .. ' ' .. field, field) then return -1 end
  return 0
end
release(prefix, value, me .. ' ' .. field)
return redis.call('HDEL', KEYS[1], field)
`);

/**
 * KEYS: the first claim key of each participant a beat found gone. ARGV: me, then their fields. The fields whose
 * claim the same participant holds on another relay: it resumed there (JOIN's take removed it from here).
 */
const MOVED = new LuaScript(`${RELEASE_LUA}
local me = ARGV[1]
local moved = {}
for i = 1, #KEYS do
  local field = ARGV[i + 1]
  if heldElsewhere(redis.call('GET', KEYS[i]), me .. ' ' .. field, field) then moved[#moved + 1] = field end
end
return moved
`);

/**
 * KEYS: relays, relay:ME, tabs:ME. ARGV: prefix, me, ttl, label, then the fields of the participants the relay
 * serves. Renews the heartbeat and every claim; answers {1} when the heartbeat had expired (the relay must write
 * its participants back), else {0, fields whose tab or claims are no longer this relay's}.
 */
const BEAT = new LuaScript(`${RELEASE_LUA}
local prefix, me, ttl, label = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local fresh = redis.call('EXISTS', KEYS[2]) == 0
redis.call('SET', KEYS[2], '1', 'PX', ttl)
redis.call('HSET', KEYS[1], me, label)
if fresh then return {1, {}} end
local lost = {}
for i = 5, #ARGV do
  local field = ARGV[i]
  local mine = me .. ' ' .. field
  local value = redis.call('HGET', KEYS[3], field)
  local ok = value ~= false
  if ok then
    for _, h in ipairs(claimsOf(value)) do
      local key = prefix .. 'name:' .. h
      local cur = redis.call('GET', key)
      if cur == mine then redis.call('PEXPIRE', key, ttl)
      elseif not cur then redis.call('SET', key, mine, 'PX', ttl)
      else ok = false end
    end
    if not ok then
      release(prefix, value, mine)
      redis.call('HDEL', KEYS[3], field)
    end
  end
  if not ok then lost[#lost + 1] = field end
end
redis.call('PEXPIRE', KEYS[3], ttl * 2)
return {0, lost}
`);

/** KEYS: relays, relay:ME, tabs:ME. ARGV: prefix, me, ttl, then (field, value) pairs. Answers the fields it could not write back. */
const REASSERT = new LuaScript(`${RELEASE_LUA}
local prefix, me, ttl = ARGV[1], ARGV[2], ARGV[3]
local lost = {}
for i = 4, #ARGV, 2 do
  local field, value = ARGV[i], ARGV[i + 1]
  local mine = me .. ' ' .. field
  -- No field: a claim the same participant holds on another relay is not taken back (it resumed there meanwhile).
  if claimable(prefix, value, mine, nil) then
    take(prefix, value, mine, ttl)
    redis.call('HSET', KEYS[3], field, value)
  else
    lost[#lost + 1] = field
  end
end
redis.call('PEXPIRE', KEYS[3], ttl * 2)
return lost
`);

/** KEYS: relays. ARGV: prefix. Reaps every relay whose heartbeat expired: {{id, label, {tokens}}, ...}. */
const REAP = new LuaScript(`${RELEASE_LUA}
local prefix = ARGV[1]
local reaped = {}
local relays = redis.call('HGETALL', KEYS[1])
for i = 1, #relays, 2 do
  local id, label = relays[i], relays[i + 1]
  if redis.call('EXISTS', prefix .. 'relay:' .. id) == 0 then
    redis.call('HDEL', KEYS[1], id)
    local tabsKey = prefix .. 'tabs:' .. id
    local tabs = redis.call('HGETALL', tabsKey)
    redis.call('DEL', tabsKey)
    local tokens = {}
    for j = 1, #tabs, 2 do
      release(prefix, tabs[j + 1], id .. ' ' .. tabs[j])
      tokens[#tokens + 1] = string.match(tabs[j + 1], '(%S+)$')
    end
    reaped[#reaped + 1] = {id, label, tokens}
  end
end
return reaped
`);

/** KEYS: relays. ARGV: prefix. Every live relay: {{id, label, {tokens}}, ...}. */
const ROSTER = new LuaScript(`
local prefix = ARGV[1]
local out = {}
local relays = redis.call('HGETALL', KEYS[1])
for i = 1, #relays, 2 do
  local id = relays[i]
  if redis.call('EXISTS', prefix .. 'relay:' .. id) == 1 then
    local tokens = {}
    for _, value in ipairs(redis.call('HVALS', prefix .. 'tabs:' .. id)) do tokens[#tokens + 1] = string.match(value, '(%S+)$') end
    out[#out + 1] = {id, relays[i + 1], tokens}
  end
end
return out
`);

/** KEYS: the name's claim keys. ARGV: prefix. The live holder: {relay, token}, or {}. */
const FIND = new LuaScript(`
local prefix = ARGV[1]
for i = 1, #KEYS do
  local cur = redis.call('GET', KEYS[i])
  if cur then
    local relay, field = string.match(cur, '^(%S+) (%S+)$')
    if redis.call('EXISTS', prefix .. 'relay:' .. relay) == 1 then
      local value = redis.call('HGET', prefix .. 'tabs:' .. relay, field)
      if value then return {relay, string.match(value, '(%S+)$')} end
    end
  end
end
return {}
`);

/** KEYS: relays, relay:ME, tabs:ME. ARGV: prefix, me. A relay that stops: its names, tabs and heartbeat go. */
const STOP = new LuaScript(`${RELEASE_LUA}
local prefix, me = ARGV[1], ARGV[2]
local tabs = redis.call('HGETALL', KEYS[3])
for i = 1, #tabs, 2 do release(prefix, tabs[i + 1], me .. ' ' .. tabs[i]) end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HDEL', KEYS[1], me)
return #tabs / 2
`);

export type JoinResult =
  { ok: true } | { ok: false; reason: 'taken'; holder: Participant | null } | { ok: false; reason: 'gone' };

export interface Reaped {
  relay: RelayInfo;
  participants: Participant[];
}

export interface Beat {
  /** The heartbeat had expired: the relay was reaped, or Redis restarted empty; its participants were written back. */
  fresh: boolean;
  /** Participants whose name another took meanwhile (while this relay was cut off). */
  lost: Participant[];
  /** Participants who moved to another relay meanwhile (they resumed there): not lost, gone from here. */
  moved: Participant[];
}

interface Local {
  participant: Participant;
  field: string;
  value: string;
}

/** One relay's presence in the chat. Every method may reject with node-redis's error when Redis is away. */
export class Presence {
  readonly relay: RelayInfo;
  readonly timing: PresenceTiming;
  readonly #client: RedisClient;
  readonly #keys: ChatKeys;
  readonly #sealer: BrokerSealer;
  readonly #local = new Map<string, Local>();
  /** Participants a beat found gone from here, while it asks Redis whether they moved: a leave meanwhile needs their claims. */
  readonly #going = new Map<string, Local>();
  /** Participants whose LEAVE failed (Redis away): the broker tries again, and their claims still tell whether they moved. */
  readonly #letting = new Map<string, Local>();
  #label = '';

  constructor(client: RedisClient, keys: ChatKeys, sealer: BrokerSealer, relay: RelayInfo, timing: PresenceTiming) {
    this.#client = client;
    this.#keys = keys;
    this.#sealer = sealer;
    this.relay = relay;
    this.timing = checkTiming(timing);
  }

  /** The participants this relay serves. */
  get participants(): Participant[] {
    return [...this.#local.values()].map((l) => l.participant);
  }

  #field(id: string): string {
    return this.#sealer.hash('tab', id);
  }

  #claims(name: string): string[] {
    return nameKeys(name).map((key) => this.#sealer.hash('name', key));
  }

  /** Renews the heartbeat and the claims; writes everything back when the heartbeat had expired. */
  async beat(): Promise<Beat> {
    if (this.#label === '') this.#label = await this.#sealer.seal(this.relay);
    const local = [...this.#local.values()];
    const [fresh, lostFields] = (await BEAT.run(this.#client, this.#relayKeys(), [
      this.#keys.prefix,
      this.relay.id,
      String(this.timing.ttlMs),
      this.#label,
      ...local.map((l) => l.field),
    ])) as [number, string[]];
    let lost: string[] = lostFields;
    if (fresh === 1 && local.length > 0) {
      lost = (await REASSERT.run(this.#client, this.#relayKeys(), [
        this.#keys.prefix,
        this.relay.id,
        String(this.timing.ttlMs),
        ...local.flatMap((l) => [l.field, l.value]),
      ])) as string[];
    }
    const gone = new Set(lost);
    const goneLocal = local.filter((l) => gone.has(l.field));
    for (const l of goneLocal) {
      this.#local.delete(l.participant.id);
      this.#going.set(l.participant.id, l);
    }
    // Which of them resumed on another relay: this relay may hear it here before the seat's entry comes by the feed.
    let moved: Set<string>;
    try {
      moved = new Set(
        goneLocal.length === 0
          ? []
          : ((await MOVED.run(
              this.#client,
              goneLocal.map((l) => this.#keys.name(l.value.slice(0, l.value.indexOf(' ')))),
              [this.relay.id, ...goneLocal.map((l) => l.field)],
            )) as string[]),
      );
    } finally {
      for (const l of goneLocal) if (this.#going.get(l.participant.id) === l) this.#going.delete(l.participant.id);
    }
    // One that joined here again meanwhile (it came back to this relay) is this relay's again: neither.
    const still = goneLocal.filter((l) => !this.#local.has(l.participant.id));
    return {
      fresh: fresh === 1,
      lost: still.filter((l) => !moved.has(l.field)).map((l) => l.participant),
      moved: still.filter((l) => moved.has(l.field)).map((l) => l.participant),
    };
  }

  /**
   * Claims `name` chat-wide for participant `id` on this relay. Refused when another participant holds the name
   * (or a confusable one), or when this relay's heartbeat has expired (beat first). The same participant moving
   * here from another relay takes its name with it.
   */
  async join(id: string, name: string): Promise<JoinResult> {
    const participant: Participant = { id, name, relay: this.relay.id };
    const field = this.#field(id);
    const value = [...this.#claims(name), await this.#sealer.seal(participant)].join(' ');
    const reply = (await JOIN.run(this.#client, this.#relayKeys(), [
      this.#keys.prefix,
      this.relay.id,
      String(this.timing.ttlMs),
      field,
      value,
    ])) as string[];
    if (reply[0] === 'gone') return { ok: false, reason: 'gone' };
    if (reply[0] === 'taken') return { ok: false, reason: 'taken', holder: await this.find(name) };
    this.#local.set(id, { participant, field, value });
    return { ok: true };
  }

  /**
   * Lets go of participant `id`'s name and entry. 'unknown': this relay did not list it; 'moved': it resumed on
   * another relay, which holds its name now (left alone there).
   */
  async leave(id: string): Promise<'left' | 'moved' | 'unknown'> {
    const local = this.#local.get(id);
    this.#local.delete(id);
    // One a beat is finding gone (moved or lost) is no longer listed, but its claims still tell whether it moved.
    const known = local ?? this.#going.get(id) ?? this.#letting.get(id);
    let reply: number;
    try {
      reply = (await LEAVE.run(
        this.#client,
        [this.#keys.tabs(this.relay.id)],
        [this.#keys.prefix, this.relay.id, this.#field(id), known?.value ?? ''],
      )) as number;
    } catch (error) {
      if (known !== undefined) this.#letting.set(id, known);
      throw error;
    }
    this.#letting.delete(id);
    if (reply === -1) return 'moved';
    return local !== undefined || reply === 1 ? 'left' : 'unknown';
  }

  /** Who holds `name` (or a name confusable with it) on a live relay, or null. */
  async find(name: string): Promise<Participant | null> {
    const reply = (await FIND.run(
      this.#client,
      this.#claims(name).map((h) => this.#keys.name(h)),
      [this.#keys.prefix],
    )) as string[];
    if (reply.length < 2) return null;
    return this.#participant(reply[1]!);
  }

  /** Every live relay and its participants. */
  async roster(): Promise<Array<{ relay: RelayInfo; participants: Participant[] }>> {
    const reply = (await ROSTER.run(this.#client, [this.#keys.relays], [this.#keys.prefix])) as Array<
      [string, string, string[]]
    >;
    return Promise.all(
      reply.map(async ([, label, tokens]) => ({
        relay: parseRelayInfo(await this.#sealer.open(label)),
        participants: await this.#participants(tokens),
      })),
    );
  }

  /** The ids of the live relays. */
  async relays(): Promise<string[]> {
    const reply = (await ROSTER.run(this.#client, [this.#keys.relays], [this.#keys.prefix])) as Array<
      [string, string, string[]]
    >;
    return reply.map(([id]) => id);
  }

  /** Reaps the relays whose heartbeat expired; each is reaped once chat-wide, by whichever relay swept first. */
  async sweep(): Promise<Reaped[]> {
    const reply = (await REAP.run(this.#client, [this.#keys.relays], [this.#keys.prefix])) as Array<
      [string, string, string[]]
    >;
    const reaped: Reaped[] = [];
    for (const [id, label, tokens] of reply) {
      let relay: RelayInfo;
      try {
        relay = parseRelayInfo(await this.#sealer.open(label));
      } catch {
        relay = { id, label: '' };
      }
      reaped.push({ relay, participants: await this.#participants(tokens) });
    }
    return reaped;
  }

  /** Takes this relay out: its names, participants and heartbeat. */
  async stop(): Promise<void> {
    this.#local.clear();
    this.#letting.clear();
    await STOP.run(this.#client, this.#relayKeys(), [this.#keys.prefix, this.relay.id]);
  }

  #relayKeys(): string[] {
    return [this.#keys.relays, this.#keys.relay(this.relay.id), this.#keys.tabs(this.relay.id)];
  }

  async #participant(token: string): Promise<Participant | null> {
    try {
      return parseParticipant(await this.#sealer.open(token));
    } catch {
      // Written under another chat key or by another version: nobody this relay can name.
      return null;
    }
  }

  async #participants(tokens: string[]): Promise<Participant[]> {
    return (await Promise.all(tokens.map((t) => this.#participant(t)))).filter((p): p is Participant => p !== null);
  }
}
