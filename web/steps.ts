/**
 * The handshake's steps in the words the page uses for them: one home for the handshake panel (wc-handshake) and
 * the wire inspector (inspect.ts), which show the same steps side by side.
 */
import type { HandshakeStep } from '../shared/client-session.ts';

/** The steps in the order shared/client-session.ts reports them. */
export const STEP_ORDER: readonly HandshakeStep[] = [
  'keypair',
  'hello',
  'welcome',
  'verified',
  'trusted',
  'unwrapped',
  'ready',
];

/** Each step's name, and what it does in one sentence (the inspector shows both). */
export const STEPS: Record<HandshakeStep, { label: string; explain: string }> = {
  keypair: {
    label: 'Key pair made',
    explain: 'Making an RSA key pair means finding two large primes; the page starts it while you type your name.',
  },
  hello: { label: 'Public key sent', explain: 'Exporting the public key and sending this hello.' },
  // The welcome, not "keys": a plain server's welcome carries none, and nothing in it is trusted yet.
  welcome: {
    label: 'Welcome received',
    explain:
      'The round trip: the server made the session keys, locked them with your public key and signed the handshake.',
  },
  verified: {
    label: 'Signature verified',
    explain: "Checking the server's ECDSA signature over everything both sides said.",
  },
  trusted: {
    label: 'Server trusted',
    explain: "Comparing the server key's fingerprint with the one this browser remembers (or asking you).",
  },
  unwrapped: { label: 'Keys unwrapped', explain: "Unlocking the session keys with this tab's private key." },
  ready: { label: 'Secure', explain: 'Setting up the record channel: from here on every frame is a record.' },
};

/** What `ready` is called when the server's signed welcome said plain mode. */
export const PLAIN_READY_LABEL = 'Plain mode (not encrypted)';
