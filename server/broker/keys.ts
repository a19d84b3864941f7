/**
 * Every name a chat uses in Redis, in one place (docs/cluster.md, "What crosses Redis", has the table). All of
 * a chat's keys share the hash tag `{CHAT}`, so a script that touches several of them names keys of one slot.
 *
 *   wirechat:{CHAT}:epoch            string   the log's epoch, made with SET NX
 *   wirechat:{CHAT}:last             string   the last line number given (INCR)
 *   wirechat:{CHAT}:log              stream   the chat log: entry id `n-0`, fields at, tag, sealed
 *   wirechat:{CHAT}:tags             hash     dedupe tag -> line number, for the lines the log holds
 *   wirechat:{CHAT}:relays           set      ids of the relays that joined
 *   wirechat:{CHAT}:relay:ID         string   a relay's heartbeat (expires), its label sealed
 *   wirechat:{CHAT}:tabs:ID          hash     a relay's participants: keyed hash of the id -> sealed participant
 *   wirechat:{CHAT}:name:H           string   a name's claim (SET NX, expires with the heartbeat): relay and tab
 *
 * and two kinds of pub/sub channel: `wirechat:{CHAT}:events` (every relay) and `wirechat:{CHAT}:to:ID` (one).
 */

export const DEFAULT_CHAT = 'wirechat';
const CHAT_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** `--chat NAME`: 1 to 64 letters, digits, `.`, `_` or `-`, so it can sit in a key and a channel as it is. */
export function chatNameProblem(name: string): string | undefined {
  if (typeof name !== 'string' || !CHAT_NAME.test(name)) {
    return `a chat name is 1 to 64 letters, digits, ".", "_" or "-", not ${JSON.stringify(String(name)).slice(0, 80)}`;
  }
  return undefined;
}

export function checkChatName(name: string): string {
  const problem = chatNameProblem(name);
  if (problem) throw new RangeError(problem);
  return name;
}

/** A relay's id: random, 16 base64url characters; it names nothing but the process. */
export const RELAY_ID = /^[A-Za-z0-9_-]{16}$/;

export interface ChatKeys {
  readonly chat: string;
  readonly prefix: string;
  readonly epoch: string;
  readonly last: string;
  readonly log: string;
  readonly tags: string;
  readonly relays: string;
  relay(id: string): string;
  tabs(id: string): string;
  name(hash: string): string;
  readonly events: string;
  inbox(id: string): string;
}

export function chatKeys(chat: string): ChatKeys {
  const prefix = `wirechat:{${checkChatName(chat)}}:`;
  return {
    chat,
    prefix,
    epoch: `${prefix}epoch`,
    last: `${prefix}last`,
    log: `${prefix}log`,
    tags: `${prefix}tags`,
    relays: `${prefix}relays`,
    relay: (id) => `${prefix}relay:${id}`,
    tabs: (id) => `${prefix}tabs:${id}`,
    name: (hash) => `${prefix}name:${hash}`,
    events: `${prefix}events`,
    inbox: (id) => `${prefix}to:${id}`,
  };
}
