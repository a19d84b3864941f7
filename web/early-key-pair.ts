/**
 * The first key pair, started as early as the page can: the RSA key generation (hundreds of milliseconds of prime
 * search, on the browser's crypto thread) then overlaps the loading of everything else instead of following it.
 *
 * This module is built twice (vite.config.ts). As a small classic script (web/early-key-pair-script.ts), which
 * index.html runs while the document is still being parsed, before the page's bundle has arrived or been parsed;
 * it leaves the promise in a slot on the window. And inside the bundle, imported by main.ts before anything else,
 * where takeKeyPair hands that promise to the first chat. Should the script not have run (the dev server serves
 * no such script), evaluating the module here starts the pair instead, as before the split.
 */
import { generateClientKeyPair } from '../shared/handshake.ts';

/**
 * Where the early pair waits between the two builds. A symbol, so that no element's id or name (DOM clobbering)
 * can pose as it; only this origin's scripts can write it (the CSP runs nothing else).
 */
const SLOT = Symbol.for('wirechat.early-key-pair');

type WithSlot = typeof globalThis & { [SLOT]?: unknown };

/** Starts the early key pair unless one is already waiting, or this page cannot make one (no Web Crypto here). */
export function startKeyPair(): void {
  const slot = globalThis as WithSlot;
  if (slot[SLOT] !== undefined) return;
  if (globalThis.isSecureContext === false || globalThis.crypto?.subtle === undefined) return;
  const pair = generateClientKeyPair();
  // Whoever takes it handles a failure; until then an unobserved rejection must not reach the console.
  pair.catch(() => undefined);
  Object.defineProperty(slot, SLOT, { value: pair, configurable: true, writable: true, enumerable: false });
}

/** The early key pair once (it is for the first chat only), then a fresh one on every call. */
export function takeKeyPair(): Promise<CryptoKeyPair> {
  const slot = globalThis as WithSlot;
  const early = slot[SLOT];
  delete slot[SLOT];
  return early instanceof Promise ? (early as Promise<CryptoKeyPair>) : generateClientKeyPair();
}

startKeyPair();
