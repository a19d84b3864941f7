/**
 * The wire read leniently, for showing it: the page's inspector (web/inspect.ts) and the terminal tools
 * (tools/wire-format.ts, and through it capture and mitm) read frames here, so that they agree on what a frame's
 * type and number are, what a token is made of, and which way a frame went. A tampered or malformed frame is
 * still read as far as it goes, because showing it is the point; refusing it is the receiver's parser's job
 * (shared/protocol.ts), so nothing here trusts the wire or throws on it.
 *
 * Reading only: how a frame is put into words (a terminal line, an inspector row) stays with each of them. Keys
 * are read by shared/rsa-spki.ts (`rsaKeyInfo`, the same walker the server's strict reader uses) and here.
 */
import { fromBase64Url, toHex } from './bytes.ts';
import { isWirechatError, type ErrorCode } from './errors.ts';
import { parseToken, type ParsedToken } from './fernet.ts';
import type { Direction } from './record.ts';

/** A JSON object from the wire, not yet trusted: any field may be anything, or missing. */
export type Fields = Record<string, unknown>;

export function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface LooseFrame {
  /** Whether the text is JSON at all. */
  json: boolean;
  /** The frame's JSON object; undefined when the text is not JSON, or JSON but not an object. */
  fields: Fields | undefined;
  /** Its `type` when that is a string ("hello", "welcome", "record", "plain", or anything); "?" otherwise. */
  type: string;
  /** Its `seq` when that is a number. */
  seq: number | undefined;
}

/** One WebSocket text message, read as a frame as far as it goes. */
export function readFrame(data: string): LooseFrame {
  let value: unknown;
  let json = true;
  try {
    value = JSON.parse(data);
  } catch {
    json = false;
  }
  const fields = isFields(value) ? value : undefined;
  return {
    json,
    fields,
    type: typeof fields?.type === 'string' ? fields.type : '?',
    seq: typeof fields?.seq === 'number' ? fields.seq : undefined,
  };
}

/** A base64url field's bytes; undefined when it is not a string, or not base64url. */
export function looseBytes(value: unknown): Uint8Array | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    return fromBase64Url(value);
  } catch {
    return undefined;
  }
}

/** One part of a Fernet token, in the order of its bytes (the Fernet spec, "Token Format"). */
export interface TokenPart {
  key: 'version' | 'timestamp' | 'iv' | 'ciphertext' | 'hmac';
  label: string;
  bytes: number;
}

export type TokenAnatomy =
  | { readable: true; token: ParsedToken; parts: TokenPart[]; bytes: number }
  | { readable: false; code: ErrorCode | undefined; why: string };

/**
 * A token field taken apart: version, timestamp, IV, ciphertext and HMAC, all public (only the key opens the
 * ciphertext); or why it cannot be (its error code, from shared/fernet.ts's own reader).
 */
export function readToken(token: unknown): TokenAnatomy {
  if (typeof token !== 'string') return { readable: false, code: undefined, why: 'it is not a string' };
  try {
    const parsed = parseToken(token);
    const parts: TokenPart[] = [
      { key: 'version', label: 'version', bytes: 1 },
      { key: 'timestamp', label: 'timestamp', bytes: 8 },
      { key: 'iv', label: 'IV', bytes: parsed.iv.length },
      { key: 'ciphertext', label: 'ciphertext', bytes: parsed.ciphertext.length },
      { key: 'hmac', label: 'HMAC', bytes: parsed.hmac.length },
    ];
    return { readable: true, token: parsed, parts, bytes: parsed.signed.length + parsed.hmac.length };
  } catch (error) {
    return isWirechatError(error)
      ? { readable: false, code: error.code, why: error.message }
      : { readable: false, code: undefined, why: 'it cannot be read' };
  }
}

/** Who sends and who receives, each way. */
export const ENDS: Readonly<Record<Direction, { from: 'page' | 'server'; to: 'page' | 'server' }>> = {
  c2s: { from: 'page', to: 'server' },
  s2c: { from: 'server', to: 'page' },
};

/** A direction in words, with the arrow the place that shows it uses: "page → server", "server -> page". */
export function route(direction: Direction, arrow = '→'): string {
  return `${ENDS[direction].from} ${arrow} ${ENDS[direction].to}`;
}

/** The fixed start of a P-256 SPKI: id-ecPublicKey, prime256v1, a 66-byte BIT STRING, an uncompressed point. */
const P256_SPKI_PREFIX = '3059301306072a8648ce3d020106082a8648ce3d03010703420004';

/** Whether the bytes are an ECDSA P-256 public key as the server sends its identity (SPKI, uncompressed point). */
export function isP256Spki(spki: Uint8Array): boolean {
  return spki.length === 91 && toHex(spki.subarray(0, 27)) === P256_SPKI_PREFIX;
}
