/**
 * What relays put in Redis besides the log (which server/log/sealed.ts seals): every message they publish,
 * every participant they list, every relay label, as a Fernet token under the chat key, the same key and the
 * same format as the log's entries, so `Fernet(chat.key).decrypt(token)` opens one by hand. Names that must be
 * found by key (a name's claim, a participant's place in its relay's hash) are an HMAC-SHA256 under a key
 * derived from the chat key (HKDF, its own label), so Redis holds no name in the clear and a reader without the
 * chat key cannot test a guess.
 *
 * Messages are short-lived: a token older than `maxAgeS` is refused (a replay of yesterday's "end of chat"),
 * as is one from more than a minute in the future.
 */
import { createHmac, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import { fromUtf8, utf8 } from '../../shared/bytes.ts';
import type { Fernet } from '../../shared/fernet.ts';
import { createNodeFernet } from '../node-fernet.ts';

const HASH_INFO = 'wirechat broker: names v1';
const HASH_BYTES = 16;

export interface BrokerSealer {
  /** A Fernet token of `value` as JSON. */
  seal(value: unknown): Promise<string>;
  /** The JSON inside `token`; throws when the token is not ours (another key), too old, or not JSON. */
  open(token: string, maxAgeS?: number): Promise<unknown>;
  /** A keyed hash of `value` for `purpose` ("name", "tab"), 128 bits in base64url. */
  hash(purpose: string, value: string): string;
}

/** A sealer under the 32-byte chat key, which is zeroed once imported. */
export async function createBrokerSealer(chatKey: Uint8Array): Promise<BrokerSealer> {
  let hashKey: KeyObject;
  let fernet: Fernet;
  try {
    const derived = new Uint8Array(hkdfSync('sha256', chatKey, new Uint8Array(0), HASH_INFO, 32));
    hashKey = createSecretKey(derived);
    derived.fill(0);
    fernet = await createNodeFernet(chatKey.slice());
  } finally {
    chatKey.fill(0);
  }
  return {
    seal: (value) => fernet.encrypt(utf8(JSON.stringify(value))),
    async open(token, maxAgeS) {
      const plain = await fernet.decrypt(token, maxAgeS === undefined ? {} : { ttl: maxAgeS });
      return JSON.parse(fromUtf8(plain)) as unknown;
    },
    hash(purpose, value) {
      // JSON of the pair: one spelling per (purpose, value), so no two inputs share an HMAC input.
      return createHmac('sha256', hashKey)
        .update(JSON.stringify([purpose, value]))
        .digest()
        .subarray(0, HASH_BYTES)
        .toString('base64url');
    },
  };
}
