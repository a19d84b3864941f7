/**
 * The first key pair, started the moment the page's script begins to run: main.ts imports this module before
 * anything else, so the RSA key generation (hundreds of milliseconds of prime search, on the browser's crypto
 * thread) overlaps the evaluation of Lit and the components and the first render, instead of following them.
 */
import { generateClientKeyPair } from '../shared/handshake.ts';

let early: Promise<CryptoKeyPair> | undefined;
if (globalThis.isSecureContext !== false && globalThis.crypto?.subtle !== undefined) {
  early = generateClientKeyPair();
  // Whoever takes it handles a failure; until then an unobserved rejection must not reach the console.
  early.catch(() => undefined);
}

/** The early key pair once (it is for the first chat only), then a fresh one on every call. */
export function takeKeyPair(): Promise<CryptoKeyPair> {
  const pair = early ?? generateClientKeyPair();
  early = undefined;
  return pair;
}
