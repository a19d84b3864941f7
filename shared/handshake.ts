/**
 * The key exchange, as both sides run it:
 *
 * 1. The page makes an RSA-OAEP key pair (SHA-256, 3072 bits; the private key non-extractable) and sends the
 *    public key (SPKI) with a fresh nonce in `hello`.
 * 2. The server picks a fresh Fernet key and a fresh HMAC key, wraps both with that public key, and signs the
 *    transcript (everything both sides said, see `transcript`) with its long-term ECDSA P-256 identity key.
 * 3. The page checks the signature against the server key it trusts (first use, or pinned) before it unwraps.
 *
 * A relay that swaps the page's public key for its own cannot re-sign the transcript without the server's
 * private key, and signing with its own key changes the fingerprint the page has pinned.
 *
 * Every rule both sides must agree on is written here once, as shared/fernet.ts's fernetFromPrimitives is for
 * Fernet: the labels, the transcript, the RSA key policy (shared/rsa-spki.ts), the session code, and the steps
 * (buildHello; prepareWelcome and signWelcome on the server; verifyWelcome and unwrapWelcome on the page). A
 * backend supplies only primitives (HandshakePrimitives): Web Crypto below, node:crypto in
 * server/node-handshake.ts.
 */
import { WirechatError } from './errors.ts';
import {
  concat,
  exact,
  fromBase64Url,
  randomBytes,
  randomPublicBytes,
  toBase64Url,
  toHex,
  utf8,
  writeU64be,
} from './bytes.ts';
import { PROTOCOL_VERSION, type HelloFrame, type Mode, type WelcomeFrame } from './protocol.ts';
import { readRsaSpki } from './rsa-spki.ts';

export { RSA_MAX_BITS, RSA_MIN_BITS } from './rsa-spki.ts';

// ---- the rules ----------------------------------------------------------------------------------------------

export const RSA_MODULUS_BITS = 3072;
/** RSA-OAEP label: binds the ciphertext to its purpose, so a wrapped-keys blob means nothing anywhere else. */
const OAEP_LABEL = utf8('wirechat-session-keys-v1');
/** Leads every transcript, before the protocol version. */
const TRANSCRIPT_LABEL = utf8('wirechat-handshake');
/** Leads the session code's hash input, so the code is no other hash of the transcript. */
const SESSION_CODE_LABEL = utf8('wirechat-session-code');
/** No 0/O, 1/I/L: a code read aloud leaves no doubt. */
const SESSION_CODE_ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';

export const NONCE_BYTES = 32;
export const SESSION_ID_BYTES = 16;
/** The wrapped secret: a Fernet key (32 bytes) then an HMAC key (32 bytes). */
export const SESSION_SECRET_BYTES = 64;
const KEY_BYTES = 32;
/** ECDSA P-256 in IEEE P1363 form: r || s, 32 bytes each. */
const SIGNATURE_BYTES = 64;

// Fixed words: a library's message stays in `cause` and never reaches the peer.
const NOT_AN_RSA_SPKI = 'the public key is not an RSA SubjectPublicKeyInfo in DER';

/** The two keys a secure session's records use, as the welcome wraps them. */
export interface SessionSecret {
  fernetKey: Uint8Array;
  macKey: Uint8Array;
}

export interface TranscriptFields {
  mode: Mode;
  clientPublicKey: Uint8Array;
  clientNonce: Uint8Array;
  name: string;
  serverKey: Uint8Array;
  serverNonce: Uint8Array;
  sessionId: Uint8Array;
  time: number;
  wrappedKeys: Uint8Array;
}

/** A transcript's parts in order: bytes written as they are, `field`s with their length before them, u64s. */
type Part = { raw: Uint8Array } | { field: Uint8Array } | { u64: number };

/**
 * What the server signs: every value of the handshake, each with a 4-byte big-endian length before it so no two
 * different handshakes share a transcript, led by a label and the protocol version so a signature made here
 * means nothing in any other protocol or version.
 */
export function transcript(f: TranscriptFields): Uint8Array {
  const parts: Part[] = [
    { raw: TRANSCRIPT_LABEL },
    { u64: PROTOCOL_VERSION },
    { field: utf8(f.mode) },
    { field: f.clientPublicKey },
    { field: f.clientNonce },
    { field: utf8(f.name) },
    { field: f.serverKey },
    { field: f.serverNonce },
    { field: f.sessionId },
    { u64: f.time },
    { field: f.wrappedKeys },
  ];
  // Laid out in one buffer (each server handshake builds one, each page one): the same bytes as concatenating
  // the parts, without an array per length and per part.
  let length = 0;
  for (const part of parts) length += 'raw' in part ? part.raw.length : 'field' in part ? 4 + part.field.length : 8;
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const part of parts) {
    if ('u64' in part) {
      writeU64be(out, at, part.u64);
      at += 8;
      continue;
    }
    let bytes: Uint8Array;
    if ('field' in part) {
      bytes = part.field;
      view.setUint32(at, bytes.length);
      at += 4;
    } else {
      bytes = part.raw;
    }
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

/**
 * A short code for one session, from its transcript: two people who see the same code are in the same session.
 * About 40 bits (8 characters of 31), shown as XXXX-XXXX. The signature is left out on purpose: ECDSA
 * signatures are malleable ((r, s) and (r, n - s) both verify), so anyone on the path could change a code that
 * depended on it without breaking anything; the transcript is unique per session (nonces, session id) and fixed.
 */
async function sessionCodeWith(sha256: (data: Uint8Array) => Promise<Uint8Array>, data: Uint8Array): Promise<string> {
  const digest = await sha256(concat(SESSION_CODE_LABEL, data));
  let out = '';
  for (let i = 0; i < 8; i++) out += SESSION_CODE_ALPHABET[digest[i]! % SESSION_CODE_ALPHABET.length];
  return `${out.slice(0, 4)}-${out.slice(4)}`;
}

function joinSecret(secret: SessionSecret): Uint8Array {
  return concat(secret.fernetKey, secret.macKey);
}

// ---- what a backend supplies, and the server's handshake built on it ----------------------------------------

/**
 * The primitives the server's side needs, and nothing else: no label, no length, no policy. `K` is the backend's
 * imported RSA public key.
 */
export interface HandshakePrimitives<K> {
  /**
   * Imports the page's RSA public key for encryption. `spki` has already passed shared/rsa-spki.ts (strict DER,
   * size, exponent); `pkcs1` is the RSAPublicKey inside it, for a library that imports that form more cheaply.
   */
  importRsaPublicKey(spki: Uint8Array, pkcs1: Uint8Array): Promise<K>;
  /** RSAES-OAEP with SHA-256 and MGF1-SHA-256, under `label`. */
  rsaOaepEncrypt(key: K, label: Uint8Array, data: Uint8Array): Promise<Uint8Array>;
  /** ECDSA P-256 with SHA-256, the signature in IEEE P1363 form (r || s, 64 bytes). */
  ecdsaSign(signingKey: CryptoKey, data: Uint8Array): Promise<Uint8Array>;
  sha256(data: Uint8Array): Promise<Uint8Array>;
}

/** What the server does with keys during a handshake. `K` is the backend's imported page key. */
export interface ServerHandshake<K = unknown> {
  /** Imports the page's SPKI, refusing what shared/rsa-spki.ts refuses (HANDSHAKE_BAD_KEY, fixed words). */
  importClientKey(spki: Uint8Array): Promise<K>;
  /** RSA-OAEP (SHA-256, label wirechat-session-keys-v1) of the session secret. */
  wrap(key: K, secret: Uint8Array): Promise<Uint8Array>;
  /** ECDSA P-256 / SHA-256 over the transcript, r || s (64 bytes), with the identity's signing key. */
  sign(signingKey: CryptoKey, data: Uint8Array): Promise<Uint8Array>;
  /** The session code of a transcript (see sessionCode). */
  sessionCode(transcript: Uint8Array): Promise<string>;
}

/** The server's handshake over any backend's primitives: the rules above, applied the same way for each. */
export function serverHandshakeFromPrimitives<K>(p: HandshakePrimitives<K>): ServerHandshake<K> {
  return {
    async importClientKey(spki) {
      // The DER and the policy, read by the one reader both backends share: they accept exactly the same keys.
      const { pkcs1 } = readRsaSpki(spki);
      try {
        return await p.importRsaPublicKey(spki, pkcs1);
      } catch (cause) {
        throw new WirechatError('HANDSHAKE_BAD_KEY', NOT_AN_RSA_SPKI, { cause });
      }
    },
    wrap: (key, secret) => p.rsaOaepEncrypt(key, OAEP_LABEL, secret),
    sign: (signingKey, data) => p.ecdsaSign(signingKey, data),
    sessionCode: (data) => sessionCodeWith(p.sha256, data),
  };
}

// ---- Web Crypto ---------------------------------------------------------------------------------------------

const subtle = () => globalThis.crypto.subtle;
const RSA_OAEP = { name: 'RSA-OAEP', hash: 'SHA-256' } as const;
const ECDSA_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest('SHA-256', exact(data)));
}

/** The page's runtime, and a server that picks Web Crypto (tests, a benchmark's baseline). */
export const webCryptoHandshakePrimitives: HandshakePrimitives<CryptoKey> = {
  importRsaPublicKey: (spki) => subtle().importKey('spki', exact(spki), RSA_OAEP, false, ['encrypt']),
  async rsaOaepEncrypt(key, label, data) {
    return new Uint8Array(await subtle().encrypt({ name: 'RSA-OAEP', label: exact(label) }, key, exact(data)));
  },
  async ecdsaSign(signingKey, data) {
    return new Uint8Array(await subtle().sign(ECDSA_SIGN, signingKey, exact(data)));
  },
  sha256,
};

export const webCryptoServerHandshake: ServerHandshake<CryptoKey> =
  serverHandshakeFromPrimitives(webCryptoHandshakePrimitives);

/**
 * The page's key pair. The private key is non-extractable and may only decrypt: even script injected into the
 * page can use it while the page lives but cannot copy it out.
 */
export function generateClientKeyPair(modulusLength: number = RSA_MODULUS_BITS): Promise<CryptoKeyPair> {
  return subtle().generateKey({ ...RSA_OAEP, modulusLength, publicExponent: new Uint8Array([1, 0, 1]) }, false, [
    'encrypt',
    'decrypt',
  ]);
}

export async function exportSpki(key: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await subtle().exportKey('spki', key));
}

/**
 * Imports the page's public key (Web Crypto) and refuses what a careful server should: anything that is not an
 * RSA SPKI in strict DER, moduli that are negative, even or outside 2048..4096 bits (too weak, or a CPU sink for
 * the server), and exponents other than 65537 (e = 1 would "encrypt" to the plaintext itself).
 */
export function importClientPublicKey(spki: Uint8Array): Promise<CryptoKey> {
  return webCryptoServerHandshake.importClientKey(spki);
}

export function wrapSessionSecret(publicKey: CryptoKey, secret: Uint8Array): Promise<Uint8Array> {
  return webCryptoServerHandshake.wrap(publicKey, secret);
}

export function signTranscript(identity: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  return webCryptoServerHandshake.sign(identity, data);
}

/** The session code of a transcript, on Web Crypto (the page's; the server's backend gives the same). */
export function sessionCode(data: Uint8Array): Promise<string> {
  return webCryptoServerHandshake.sessionCode(data);
}

export async function unwrapSessionSecret(privateKey: CryptoKey, wrapped: Uint8Array): Promise<SessionSecret> {
  // RFC 8017 §7.1.2, step 1: a ciphertext is exactly as long as the modulus. Chromium's Web Crypto refuses any
  // other length; Node's reads a shorter one as the same number, so one whose leading zero byte was dropped would
  // open there. Checked here, both refuse it alike.
  const modulusBytes = (privateKey.algorithm as RsaHashedKeyAlgorithm).modulusLength / 8;
  if (wrapped.length !== modulusBytes) {
    throw new WirechatError(
      'HANDSHAKE_UNWRAP_FAILED',
      `the wrapped keys are ${wrapped.length} bytes, not the ${modulusBytes} of this page's key`,
    );
  }
  let secret: Uint8Array;
  try {
    secret = new Uint8Array(
      await subtle().decrypt({ name: 'RSA-OAEP', label: exact(OAEP_LABEL) }, privateKey, exact(wrapped)),
    );
  } catch (cause) {
    throw new WirechatError('HANDSHAKE_UNWRAP_FAILED', "the wrapped keys do not open with this page's private key", {
      cause,
    });
  }
  if (secret.length !== SESSION_SECRET_BYTES) {
    throw new WirechatError(
      'HANDSHAKE_UNWRAP_FAILED',
      `the wrapped secret has ${secret.length} bytes, not ${SESSION_SECRET_BYTES}`,
    );
  }
  return { fernetKey: secret.slice(0, KEY_BYTES), macKey: secret.slice(KEY_BYTES) };
}

export async function importServerKey(spki: Uint8Array): Promise<CryptoKey> {
  try {
    return await subtle().importKey('spki', exact(spki), ECDSA_KEY, false, ['verify']);
  } catch (cause) {
    throw new WirechatError('HANDSHAKE_BAD_KEY', 'the server key is not an ECDSA P-256 SPKI', { cause });
  }
}

export async function verifyTranscript(serverKey: Uint8Array, data: Uint8Array, signature: Uint8Array): Promise<void> {
  const key = await importServerKey(serverKey);
  const ok =
    signature.length === SIGNATURE_BYTES && (await subtle().verify(ECDSA_SIGN, key, exact(signature), exact(data)));
  if (!ok) {
    throw new WirechatError('HANDSHAKE_BAD_SIGNATURE', 'the handshake signature does not verify with the server key');
  }
}

/**
 * The server's fingerprint, as people compare it: SHA-256 of its SPKI in 16 groups of four hex digits, the
 * way one reads a long number aloud. The console prints the same string.
 */
export async function fingerprint(serverKey: Uint8Array): Promise<string> {
  return (
    toHex(await sha256(serverKey))
      .toUpperCase()
      .match(/.{4}/g) ?? []
  ).join(' ');
}

// ---- the steps ----------------------------------------------------------------------------------------------

/** The page's first frame: its public key (SPKI) and a fresh nonce. `nonce` is a test's to choose. */
export function buildHello(options: {
  name: string;
  publicKey: Uint8Array;
  acceptPlain: boolean;
  /** The page comes back after a drop and will present its resume claim first (protocol.md 9.1). */
  resume?: boolean;
  nonce?: Uint8Array;
}): HelloFrame {
  return {
    type: 'hello',
    version: PROTOCOL_VERSION,
    name: options.name,
    publicKey: toBase64Url(options.publicKey),
    nonce: toBase64Url(options.nonce ?? randomBytes(NONCE_BYTES)),
    acceptPlain: options.acceptPlain,
    resume: options.resume ?? false,
  } satisfies HelloFrame;
}

/**
 * The server's half of a handshake before the page has a name: the page's key imported and checked, the session
 * id and nonce drawn, and in secure mode the session secret made and wrapped. Split from signWelcome because the
 * name is claimed in between, and only by a session that is still there after these awaits.
 */
export interface WelcomeDraft {
  mode: Mode;
  clientPublicKey: Uint8Array;
  clientNonce: Uint8Array;
  serverNonce: Uint8Array;
  sessionId: Uint8Array;
  /** Empty in plain mode. */
  wrappedKeys: Uint8Array;
  /** The keys the records will use; undefined in plain mode. */
  secret: SessionSecret | undefined;
}

/** Values a worked example or a test fixes; a server draws every one of them fresh. */
export interface WelcomeInputs {
  sessionId?: Uint8Array;
  serverNonce?: Uint8Array;
  secret?: SessionSecret;
}

export async function prepareWelcome<K>(
  handshake: ServerHandshake<K>,
  hello: HelloFrame,
  mode: Mode,
  fixed: WelcomeInputs = {},
): Promise<WelcomeDraft> {
  const clientPublicKey = fromBase64Url(hello.publicKey);
  const clientNonce = fromBase64Url(hello.nonce);
  if (clientNonce.length !== NONCE_BYTES) {
    throw new WirechatError('PROTO_BAD_SHAPE', `hello.nonce must be ${NONCE_BYTES} bytes`);
  }
  // Imported and checked even in plain mode: the signed transcript names it either way.
  const publicKey = await handshake.importClientKey(clientPublicKey);
  // Public the moment the welcome is sent, so from the pool of public random bytes; the keys below are not.
  const sessionId = fixed.sessionId ?? randomPublicBytes(SESSION_ID_BYTES);
  const serverNonce = fixed.serverNonce ?? randomPublicBytes(NONCE_BYTES);
  if (mode === 'plain') {
    return {
      mode,
      clientPublicKey,
      clientNonce,
      serverNonce,
      sessionId,
      wrappedKeys: new Uint8Array(0),
      secret: undefined,
    };
  }
  // Both keys in one draw from the CSPRNG (a draw costs about as much as the copies); each key a copy of its half,
  // since the drawn bytes are zeroed once wrapped and the keys are zeroed once imported (createChannel).
  const joined = fixed.secret ? joinSecret(fixed.secret) : randomBytes(SESSION_SECRET_BYTES);
  const secret = fixed.secret ?? { fernetKey: joined.slice(0, KEY_BYTES), macKey: joined.slice(KEY_BYTES) };
  const wrappedKeys = await handshake.wrap(publicKey, joined);
  joined.fill(0);
  return { mode, clientPublicKey, clientNonce, serverNonce, sessionId, wrappedKeys, secret };
}

/** The server's long-term identity: its ECDSA P-256 public key (SPKI) and the key that signs with it. */
export interface ServerKeys {
  publicKey: Uint8Array;
  signingKey: CryptoKey;
}

export interface SignedWelcome {
  frame: WelcomeFrame;
  /** The frame as JSON text, exactly as JSON.stringify(frame) writes it: what goes on the wire. */
  text: string;
  transcript: Uint8Array;
  sessionCode: string;
}

/** Signs the transcript of a drafted welcome, now that the page has its `name`, and makes the frame. */
export async function signWelcome<K>(
  handshake: ServerHandshake<K>,
  draft: WelcomeDraft,
  server: ServerKeys & { name: string; time: number },
): Promise<SignedWelcome> {
  const signed = transcript({
    mode: draft.mode,
    clientPublicKey: draft.clientPublicKey,
    clientNonce: draft.clientNonce,
    name: server.name,
    serverKey: server.publicKey,
    serverNonce: draft.serverNonce,
    sessionId: draft.sessionId,
    time: server.time,
    wrappedKeys: draft.wrappedKeys,
  });
  // The session code is worked out while the signature is made (where a backend signs off this thread: Web Crypto).
  const [signature, code] = await Promise.all([
    handshake.sign(server.signingKey, signed),
    handshake.sessionCode(signed),
  ]);
  const frame = {
    type: 'welcome',
    version: PROTOCOL_VERSION,
    mode: draft.mode,
    name: server.name,
    sessionId: toBase64Url(draft.sessionId),
    nonce: toBase64Url(draft.serverNonce),
    time: server.time,
    serverKey: toBase64Url(server.publicKey),
    wrappedKeys: toBase64Url(draft.wrappedKeys),
    signature: toBase64Url(signature),
  } satisfies WelcomeFrame;
  return { frame, text: welcomeText(frame), transcript: signed, sessionCode: code };
}

/**
 * JSON.stringify(frame), written out. Every string in it but the mode and the name is base64url made just above
 * by toBase64Url, which JSON writes as it is: only the mode, the name and the numbers go through JSON.stringify,
 * and the welcome's 900-odd characters of base64url skip JSON's escape checks, one character at a time, which
 * cost the server about 20,000 instructions a handshake (docs/benchmarks.md, issue 14's sixth pass). The keys
 * are in the frame's order, as JSON.stringify writes them; test/shared/handshake.test.ts holds the two equal.
 */
function welcomeText(f: WelcomeFrame): string {
  return (
    `{"type":"welcome","version":${JSON.stringify(f.version)},"mode":${JSON.stringify(f.mode)},` +
    `"name":${JSON.stringify(f.name)},"sessionId":"${f.sessionId}","nonce":"${f.nonce}",` +
    `"time":${JSON.stringify(f.time)},"serverKey":"${f.serverKey}","wrappedKeys":"${f.wrappedKeys}",` +
    `"signature":"${f.signature}"}`
  );
}

/** A welcome whose signature has verified over the transcript the page rebuilt from its own hello. */
export interface VerifiedWelcome {
  mode: Mode;
  name: string;
  /** The server's clock at the welcome, in milliseconds. */
  time: number;
  serverKey: Uint8Array;
  sessionId: Uint8Array;
  wrappedKeys: Uint8Array;
  transcript: Uint8Array;
}

/**
 * The page's check of a welcome: the transcript rebuilt from its own hello and the welcome, and the signature
 * verified against the key the welcome names, before anything in it is used (until then it is an anonymous
 * claim). Whether that key is the one the page trusts is the caller's question (see fingerprint).
 */
export async function verifyWelcome(hello: HelloFrame, welcome: WelcomeFrame): Promise<VerifiedWelcome> {
  const serverKey = fromBase64Url(welcome.serverKey);
  const wrappedKeys = fromBase64Url(welcome.wrappedKeys);
  const sessionId = fromBase64Url(welcome.sessionId);
  const serverNonce = fromBase64Url(welcome.nonce);
  if (sessionId.length !== SESSION_ID_BYTES || serverNonce.length !== NONCE_BYTES) {
    throw new WirechatError('PROTO_BAD_SHAPE', 'welcome.sessionId or welcome.nonce has the wrong length');
  }
  const signed = transcript({
    mode: welcome.mode,
    clientPublicKey: fromBase64Url(hello.publicKey),
    clientNonce: fromBase64Url(hello.nonce),
    name: welcome.name,
    serverKey,
    serverNonce,
    sessionId,
    time: welcome.time,
    wrappedKeys,
  });
  await verifyTranscript(serverKey, signed, fromBase64Url(welcome.signature));
  return {
    mode: welcome.mode,
    name: welcome.name,
    time: welcome.time,
    serverKey,
    sessionId,
    wrappedKeys,
    transcript: signed,
  };
}

/** The keys a verified welcome wraps for this page: none in plain mode, two in secure mode, and nothing else. */
export async function unwrapWelcome(
  welcome: VerifiedWelcome,
  privateKey: CryptoKey,
): Promise<SessionSecret | undefined> {
  checkWrappedKeys(welcome);
  return welcome.mode === 'plain' ? undefined : unwrapSessionSecret(privateKey, welcome.wrappedKeys);
}

/** A secure welcome wraps keys, a plain one does not: a signed welcome that breaks this is malformed. */
export function checkWrappedKeys(welcome: Pick<VerifiedWelcome, 'mode' | 'wrappedKeys'>): void {
  if (welcome.mode === 'secure' && welcome.wrappedKeys.length === 0) {
    throw new WirechatError('PROTO_BAD_SHAPE', 'a secure welcome without wrapped keys');
  }
  if (welcome.mode === 'plain' && welcome.wrappedKeys.length !== 0) {
    throw new WirechatError('PROTO_BAD_SHAPE', 'a plain welcome with wrapped keys');
  }
}
