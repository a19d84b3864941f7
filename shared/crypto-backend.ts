/**
 * Where the Fernet codec and the outer MAC get their primitives. The page only has Web Crypto; the server may use
 * node:crypto (server/node-fernet.ts) for speed. Both build on shared/fernet.ts's fernetFromPrimitives, so token
 * format, check order and error codes cannot differ between them.
 */
import { createFernet, type Fernet } from './fernet.ts';
import { createMac, type Mac } from './mac.ts';

export interface CryptoBackend {
  /** 32 raw bytes, zeroed once imported. */
  createFernet(key: Uint8Array): Promise<Fernet>;
  /** 32 raw bytes, zeroed once imported. */
  createMac(key: Uint8Array): Promise<Mac>;
}

export const webCryptoBackend: CryptoBackend = { createFernet, createMac };
