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
  LIMIT_SLOW_READER: Close.POLICY_VIOLATION,
} as const satisfies Record<string, CloseCode>;

export type ErrorCode = keyof typeof ERROR_CLOSE;

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
