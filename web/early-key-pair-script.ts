/**
 * The entry of the classic script that index.html runs first (vite.config.ts builds it on its own, as an IIFE):
 * it only starts the first key pair, see early-key-pair.ts.
 */
import './early-key-pair.ts';
