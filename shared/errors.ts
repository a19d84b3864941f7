/**
 * One error class with a stable code per failure, and the WebSocket close code (RFC 6455 §7.4.1, plus 1013
 * from the IANA registry) that a connection ends with when that failure comes off the wire. Tests assert the
 * code, never the message, so messages can be reworded freely.
 */

/** RFC 6455 §7.4.1 status codes used by wirechat. */
export const Close = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  TRY_AGAIN_LATER: 1013,
  /**
   * wirechat's own, from RFC 6455's private-use range (4000-4999) and above the 4000-4015 a page closes with
   * (browserCloseCode): the server refused the name in a hello. The page goes back to its name field.
   */
  NAME_REFUSED: 4100,
} as const;
export type CloseCode = (typeof Close)[keyof typeof Close];

/**
 * Every close code a person may be shown, in words: RFC 6455 §7.4.1 and the IANA registry. 1005 and 1006 are never
 * sent (RFC 6455 §7.1.5): the WebSocket layer reports them for a close frame without a code and for a connection
 * that ended without any close frame.
 */
const CLOSE_NAMES: Readonly<Record<number, string>> = {
  1000: 'normal closure',
  1001: 'going away',
  1002: 'protocol error',
  1003: 'unsupported data',
  1005: 'no status code',
  1006: 'connection lost without a close frame',
  1007: 'invalid payload',
  1008: 'policy violation',
  1009: 'message too big',
  1010: 'mandatory extension',
  1011: 'internal error',
  1012: 'service restart',
  1013: 'try again later',
  1014: 'bad gateway',
  1015: 'TLS handshake failure',
};

/** The RFC codes a browser page cannot send itself and wirechat's page sends as 4000 + (code - 1000) instead. */
const BROWSER_MAPPED = new Set([1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]);

/**
 * Browsers let a page close a WebSocket only with 1000 or 3000..4999 (WHATWG WebSockets, close() step 1). The
 * RFC 6455 code a failure maps to (1002, 1008, ...) is sent as 4000 + its last three digits, 1008 as 4008, and
 * the reason names the RFC code, so the server and Wireshark still see which it was.
 */
export function toBrowserCloseCode(code: number): number {
  if (code === Close.NORMAL || (code >= 3000 && code <= 4999)) return code;
  return 4000 + (code % 1000);
}

/** The RFC 6455 code a page meant by 4000 + n (4008 is 1008); any other code as it is. */
export function fromBrowserCloseCode(code: number): number {
  return code >= 4000 && code <= 4999 && BROWSER_MAPPED.has(code - 3000) ? code - 3000 : code;
}

/** A close code in words ("policy violation"); a page's 4008 reads as the 1008 it stands for. */
export function closeName(code: number): string {
  const name = CLOSE_NAMES[fromBrowserCloseCode(code)];
  if (name !== undefined) return name;
  if (code >= 4000 && code <= 4999) return "an application's own code";
  if (code >= 3000 && code <= 3999) return 'a registered library code';
  return 'unknown code';
}

/** A close code with its words, decoded from a page's 4000 + n: "1008 policy violation (sent as 4008)". */
export function closeCodeText(code: number): string {
  const rfc = fromBrowserCloseCode(code);
  return `${rfc} ${closeName(code)}${rfc === code ? '' : ` (sent as ${code})`}`;
}

/**
 * Every code and the close status it maps to. Integrity failures are policy violations (1008): the frame was
 * well formed but must not be believed. Shape failures are protocol errors (1002).
 */
export const ERROR_CLOSE = {
  // encodings
  BAD_BASE64: Close.PROTOCOL_ERROR,
  BAD_UTF8: Close.INVALID_PAYLOAD,
  // Fernet (shared/fernet.ts), in the order the spec checks them
  FERNET_BAD_KEY: Close.INTERNAL_ERROR,
  FERNET_BAD_BASE64: Close.POLICY_VIOLATION,
  FERNET_TOO_SHORT: Close.POLICY_VIOLATION,
  FERNET_BAD_VERSION: Close.POLICY_VIOLATION,
  FERNET_BAD_LENGTH: Close.POLICY_VIOLATION,
  FERNET_EXPIRED: Close.POLICY_VIOLATION,
  FERNET_FUTURE: Close.POLICY_VIOLATION,
  FERNET_BAD_MAC: Close.POLICY_VIOLATION,
  FERNET_BAD_PADDING: Close.POLICY_VIOLATION,
  // records (shared/record.ts)
  RECORD_BAD_MAC: Close.POLICY_VIOLATION,
  RECORD_BAD_SEQUENCE: Close.POLICY_VIOLATION,
  // handshake (shared/handshake.ts)
  HANDSHAKE_BAD_KEY: Close.POLICY_VIOLATION,
  HANDSHAKE_BAD_SIGNATURE: Close.POLICY_VIOLATION,
  HANDSHAKE_UNWRAP_FAILED: Close.POLICY_VIOLATION,
  HANDSHAKE_TIMEOUT: Close.POLICY_VIOLATION,
  HANDSHAKE_VERSION: Close.PROTOCOL_ERROR,
  HANDSHAKE_PLAIN_REFUSED: Close.POLICY_VIOLATION,
  // protocol (shared/protocol.ts)
  PROTO_BAD_JSON: Close.PROTOCOL_ERROR,
  PROTO_BAD_SHAPE: Close.PROTOCOL_ERROR,
  PROTO_UNKNOWN_TYPE: Close.PROTOCOL_ERROR,
  PROTO_UNEXPECTED: Close.PROTOCOL_ERROR,
  PROTO_BINARY: Close.UNSUPPORTED_DATA,
  PROTO_TOO_BIG: Close.MESSAGE_TOO_BIG,
  // names (shared/names.ts)
  NAME_REFUSED: Close.NAME_REFUSED,
  // limits (server)
  LIMIT_RATE: Close.POLICY_VIOLATION,
  LIMIT_CONNECTIONS: Close.TRY_AGAIN_LATER,
  LIMIT_ADDRESS: Close.TRY_AGAIN_LATER,
  LIMIT_SLOW_READER: Close.POLICY_VIOLATION,
  /**
   * The chat cannot take a tab now, through no fault of the page: with many relays (docs/cluster.md), this relay
   * is cut off from Redis and cannot check a name chat-wide or find a tab's place. The page retries as for a full
   * server.
   */
  CHAT_UNAVAILABLE: Close.TRY_AGAIN_LATER,
} as const satisfies Record<string, CloseCode>;

export type ErrorCode = keyof typeof ERROR_CLOSE;

/**
 * Why the server ended a chat when no error did: the stable code of an authenticated `end` body (docs/protocol.md
 * 5.2) and the close code that follows it. An `end` sent because of a failure carries that failure's ErrorCode.
 */
export const END_CLOSE = {
  /** The console typed END or EXIT. */
  CHAT_ENDED: Close.NORMAL,
  /** The server is stopping (Ctrl-C, SIGTERM): RFC 6455's "going away". */
  SERVER_STOPPING: Close.GOING_AWAY,
  /** The console removed this participant (/kick). */
  KICKED: Close.POLICY_VIOLATION,
  /** The server could not go on with this session (a bug, never the page's fault); the detail stays on its console. */
  SERVER_ERROR: Close.INTERNAL_ERROR,
} as const satisfies Record<string, CloseCode>;

export type EndCode = keyof typeof END_CLOSE | ErrorCode;

/** The close code that follows an `end` body with this code. */
export function endCloseCode(code: EndCode): CloseCode {
  return code in END_CLOSE ? END_CLOSE[code as keyof typeof END_CLOSE] : ERROR_CLOSE[code as ErrorCode];
}

export class WirechatError extends Error {
  override readonly name = 'WirechatError';
  readonly code: ErrorCode;
  readonly closeCode: CloseCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.closeCode = ERROR_CLOSE[code];
  }
}

export function isWirechatError(error: unknown, code?: ErrorCode): error is WirechatError {
  return error instanceof WirechatError && (code === undefined || error.code === code);
}

/**
 * A close reason must fit in 123 bytes of UTF-8 (RFC 6455 §5.5: control frames carry at most 125 bytes, two of
 * them the status code). Cut on a character boundary so the peer never sees invalid UTF-8.
 */
export function closeReason(text: string): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= 123) return text;
  let cut = 120;
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--;
  return new TextDecoder().decode(bytes.subarray(0, cut)) + '...';
}
