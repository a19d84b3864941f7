/**
 * The page's entry: checks that Web Crypto is usable here, starts making the key pair at once (it overlaps
 * with the person typing a name), and wires the components' events to the controller: events go up to it as
 * calls, and its view comes down to wc-app as one property.
 */
// First: takes the key pair index.html's own script started, or starts it before the rest is evaluated.
import { takeKeyPair } from './early-key-pair.ts';
import type { SendDetail } from './components/wc-chat.ts';
import type { ConnectDetail } from './components/wc-join.ts';
import './components/wc-app.ts';
import { Controller } from './controller.ts';
import { insecureReason } from './secure-context.ts';
import { MemoryStorage, TrustStore, type PinStorage } from './trust-store.ts';

const NAME_ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';

/** "guest-" and four random characters, so that one Enter starts a chat. */
function defaultName(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return `guest-${[...bytes].map((b) => NAME_ALPHABET[b % NAME_ALPHABET.length]).join('')}`;
}

function pinStorage(): PinStorage {
  try {
    return window.localStorage;
  } catch {
    return new MemoryStorage(); // storage disabled: pins last for this visit only
  }
}

const app = document.querySelector('wc-app') ?? document.body.appendChild(document.createElement('wc-app'));
const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';

const controller = new Controller({
  host: location.host,
  url: `${scheme}//${location.host}/ws`,
  insecureReason: insecureReason({
    isSecureContext: window.isSecureContext,
    hasSubtle: globalThis.crypto?.subtle !== undefined,
    protocol: location.protocol,
    hostname: location.hostname,
    port: location.port,
  }),
  defaultName: defaultName(),
  trustStore: new TrustStore(pinStorage()),
  generateKeyPair: takeKeyPair,
  render: (view) => {
    app.view = view;
  },
});
app.view = controller.view;

function on<T>(type: string, handle: (detail: T) => void): void {
  app.addEventListener(type, (event) => handle((event as CustomEvent<T>).detail));
}

on<ConnectDetail>('wc-connect', ({ name, acceptPlain }) => controller.connect(name, acceptPlain));
on<SendDetail>('wc-send', ({ text }) => controller.send(text));
on<{ key: number }>('wc-resend', ({ key }) => controller.resend(key));
on<{ trust: boolean }>('wc-trust-decision', ({ trust }) => controller.decideTrust(trust));
on('wc-retry-now', () => controller.retryNow());
on('wc-new-chat', () => controller.newChat());

// For the console and for tests: the controller (its view holds the wire log), read-only use.
Object.assign(window, { wirechat: controller });
