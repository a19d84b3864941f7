/**
 * What can go wrong between a relay and Redis, each with a stable code and a message a person can act on. The
 * messages never hold a password: they are built from the redacted URL (server/broker/redis-url.ts), and
 * `BrokerError` scrubs the password once more from whatever a library said.
 */
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ErrorReply,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  TimeoutError,
} from '@redis/client';

export type BrokerErrorCode =
  /** `--redis` is not a redis:// or rediss:// URL this relay can use. */
  | 'BAD_URL'
  /** Nothing answered at that address (refused, no such host, no answer in time). */
  | 'UNREACHABLE'
  /** Redis answered but refused the password or user. */
  | 'AUTH_FAILED'
  /** The TLS handshake failed (an unknown certificate, a name that does not match, a server that speaks no TLS). */
  | 'TLS_FAILED'
  /** Redis answered but refused to serve (a database number out of range, something that is not Redis). */
  | 'REFUSED'
  /** The Redis is too old for what the relays need (streams trimmed by id, RESP3). */
  | 'UNSUPPORTED'
  /** Redis was lost while running; the broker goes on reconnecting. */
  | 'DOWN'
  /** Redis has been away so long that the bounded queue of what this relay must publish is full. */
  | 'QUEUE_FULL'
  /** A request across relays got fewer answers than it expected in its time. */
  | 'TIMEOUT'
  /** A message in Redis did not open under this relay's chat key (another key, or not from a relay at all). */
  | 'FOREIGN'
  /** The broker was closed. */
  | 'CLOSED';

export class BrokerError extends Error {
  override readonly name = 'BrokerError';
  readonly code: BrokerErrorCode;

  constructor(code: BrokerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isBrokerError(error: unknown, code?: BrokerErrorCode): error is BrokerError {
  return error instanceof BrokerError && (code === undefined || error.code === code);
}

/** A library's own words for a failure, one line, for the end of a message. */
export function reasonOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return reasonOf(error.errors[0]);
  const text = error instanceof Error ? error.message || error.name : String(error);
  return text.split('\n')[0]!.trim();
}

/** node-redis's ways of saying that the socket is gone or not there yet. */
const LOST = [
  ClientOfflineError,
  SocketClosedUnexpectedlyError,
  ConnectionTimeoutError,
  SocketTimeoutError,
  DisconnectsClientError,
  TimeoutError,
];

/** Redis's answers that mean "not now" rather than "never": a retry after a while may succeed. */
const TRANSIENT_REPLY = /^(LOADING|BUSY|TRYAGAIN|READONLY|MASTERDOWN|CLUSTERDOWN|OOM|NOREPLICAS)\b/;

/**
 * Whether `error` (or one of its causes) is Redis being away or not ready, which a retry may cure, rather than a
 * refusal (a wrong key type, a script error, a closed broker). A reply from Redis carries a prefix word; a lost
 * or offline socket has no reply at all.
 */
export function isTransient(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof BrokerError) {
      if (e.code === 'DOWN' || e.code === 'UNREACHABLE') return true;
      if (e.code === 'CLOSED') return false;
    }
    if (e instanceof ErrorReply) return TRANSIENT_REPLY.test(e.message);
    if (e instanceof ClientClosedError) return false;
    if (LOST.some((kind) => e instanceof kind)) return true;
    // A socket's own failure (ECONNRESET, EPIPE, ...), as Node names them.
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true;
  }
  return false;
}
