/**
 * `--redis URL`: which Redis a relay joins, as the IANA `redis` and `rediss` URI schemes write it:
 *
 *   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]      plain TCP, port 6379 by default, database 0 by default
 *   rediss://[[USER]:PASSWORD@]HOST[:PORT][/DB]     the same over TLS
 *
 * The password is percent-decoded (a `@` in it is written `%40`). It is never printed: every message about a
 * URL shows `redactUrl`'s form, `redis://:***@host:6379`, and a userinfo without a colon (which some people use
 * for a password) is hidden whole. Anything else in the URL (a query, a fragment, a path that is not a database
 * number) is refused rather than ignored, so a URL never means something other than what it seems to say.
 */
import { BrokerError } from './errors.ts';

export interface RedisTarget {
  tls: boolean;
  /** A name or an address; an IPv6 address without its brackets. */
  host: string;
  port: number;
  database: number;
  username?: string;
  password?: string;
  /** The URL as a person may see it: the password replaced by `***`. */
  redacted: string;
}

export const DEFAULT_REDIS_PORT = 6379;
/** Redis's own bound on `databases` is 2^31; a number past this is a typo, not a database. */
const MAX_DATABASE = 1_000_000;
const HIDDEN = '***';

/** The URL with its password (or a lone userinfo) replaced by `***`; for any text, parseable or not. */
export function redactUrl(text: string): string {
  // Everything between the scheme's `//` (or the start) and the last `@` is userinfo: a user name before a colon
  // stays, the rest is hidden. Done on the text itself, so a URL the parser refuses (a `/` or a space left
  // unencoded in the password) is redacted just the same.
  const at = text.lastIndexOf('@');
  const start = /^[a-z][a-z0-9+.-]*:\/\//i.exec(text)?.[0].length ?? 0;
  if (at < start) return text;
  const userinfo = text.slice(start, at);
  const colon = userinfo.indexOf(':');
  return text.slice(0, start) + (colon < 0 ? HIDDEN : `${userinfo.slice(0, colon)}:${HIDDEN}`) + text.slice(at);
}

function bad(text: string, why: string): BrokerError {
  return new BrokerError(
    'BAD_URL',
    `--redis ${redactUrl(text)}: ${why}; write redis://HOST:PORT[/DB], with :PASSWORD@ before HOST when Redis wants one, or rediss:// for TLS`,
  );
}

function decode(part: string, text: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw bad(text, `the ${what} is not valid percent-encoding`);
  }
}

export function parseRedisUrl(text: string): RedisTarget {
  if (typeof text !== 'string' || text.trim() === '') throw bad(String(text), 'no URL given');
  if (/[\s\x00-\x1f\x7f]/.test(text)) throw bad(text, 'a URL has no spaces or control characters');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad(text, 'not a URL');
  }
  const tls = url.protocol === 'rediss:';
  if (!tls && url.protocol !== 'redis:')
    throw bad(text, `the scheme is ${url.protocol.replace(/:$/, '')}, not redis or rediss`);
  if (url.search !== '' || url.hash !== '') throw bad(text, 'a Redis URL has no ?query or #fragment here');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw bad(text, 'no host');
  const port = url.port === '' ? DEFAULT_REDIS_PORT : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw bad(text, `the port ${url.port} is not 1 to 65535`);
  let database = 0;
  if (url.pathname !== '' && url.pathname !== '/') {
    const match = /^\/(\d{1,7})$/.exec(url.pathname);
    if (!match || Number(match[1]) > MAX_DATABASE) throw bad(text, `the path ${url.pathname} is not a database number`);
    database = Number(match[1]);
  }
  const target: RedisTarget = { tls, host, port, database, redacted: redactUrl(text) };
  // WHATWG URL puts a lone userinfo (`redis://secret@host`) in `username`: Redis 6 ACL users go without a
  // password that way, but so does a password written without its colon. It is used as the user name and hidden.
  if (url.username !== '') target.username = decode(url.username, text, 'user name');
  if (url.password !== '') target.password = decode(url.password, text, 'password');
  return target;
}

/** `text` with every occurrence of the target's password (as given and percent-encoded) replaced by `***`. */
export function scrubPassword(text: string, target: Pick<RedisTarget, 'password' | 'username'>): string {
  let out = text;
  for (const secret of [target.password, target.password === undefined ? target.username : undefined]) {
    // Shorter than 4 characters, a replacement would mangle ordinary words; messages are built from the
    // redacted URL in the first place, so this is a second line only.
    if (secret === undefined || secret.length < 4) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) out = out.split(form).join(HIDDEN);
  }
  return out;
}
