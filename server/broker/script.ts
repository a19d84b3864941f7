/**
 * A Lua script run by its SHA1 (EVALSHA), and sent whole (EVAL) only when Redis does not know it yet: after a
 * start, or after Redis restarted and lost its script cache. Redis runs a script atomically: nothing of another
 * client runs in the middle of it, which is what lets two relays share one counter and one stream.
 */
import { createHash } from 'node:crypto';
import { ErrorReply } from '@redis/client';
import type { RedisClient } from './connection.ts';

export class LuaScript {
  readonly source: string;
  readonly sha1: string;

  constructor(source: string) {
    this.source = source;
    this.sha1 = createHash('sha1').update(source).digest('hex');
  }

  async run(client: RedisClient, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    try {
      return await client.sendCommand(['EVALSHA', this.sha1, String(keys.length), ...keys, ...args]);
    } catch (error) {
      if (!(error instanceof ErrorReply) || !error.message.startsWith('NOSCRIPT')) throw error;
      return client.sendCommand(['EVAL', this.source, String(keys.length), ...keys, ...args]);
    }
  }
}

/** Lua helpers every script of ours shares: whole numbers as text that Redis reads back exactly. */
export const LUA_PRELUDE = `
local function int(x) return string.format('%.0f', x) end
`;
