/**
 * Trust on first use (TOFU), the way SSH does it: the first fingerprint a server shows is remembered for its
 * host; later the same fingerprint passes silently and a different one stops the page until a person decides.
 * It guards against a server key swapped later (a relay that re-signs with its own key), not against one that
 * was already swapped the first time, which is why the page shows the fingerprint for comparing by eye.
 */

/** The part of the Web Storage API the store uses, so that tests can hand it a Map-backed stand-in. */
export type PinStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

export type TrustCheck = { kind: 'unknown' } | { kind: 'same' } | { kind: 'changed'; pinned: string };

const PREFIX = 'wirechat.pin.';

export class TrustStore {
  readonly #storage: PinStorage;
  /** Pins of this visit, so that a pin holds until the page closes even when the storage refuses to keep it. */
  readonly #visit = new Map<string, string>();

  constructor(storage: PinStorage) {
    this.#storage = storage;
  }

  /** What is pinned for `host`, if anything. Storage that throws (private modes, quotas) counts as empty. */
  pinned(host: string): string | undefined {
    try {
      return this.#storage.getItem(PREFIX + host) ?? this.#visit.get(host);
    } catch {
      return this.#visit.get(host);
    }
  }

  /** Compares without changing anything. Any stored value that differs, even a damaged one, is a change. */
  check(host: string, fingerprint: string): TrustCheck {
    const pinned = this.pinned(host);
    if (pinned === undefined) return { kind: 'unknown' };
    return pinned === fingerprint ? { kind: 'same' } : { kind: 'changed', pinned };
  }

  /** Remembers `fingerprint` for `host`; false when the storage refused (the pin then lasts only this visit). */
  pin(host: string, fingerprint: string): boolean {
    this.#visit.set(host, fingerprint);
    try {
      this.#storage.setItem(PREFIX + host, fingerprint);
      return true;
    } catch {
      return false;
    }
  }

  forget(host: string): void {
    this.#visit.delete(host);
    try {
      this.#storage.removeItem(PREFIX + host);
    } catch {
      // nothing was stored, so nothing is left behind
    }
  }
}

/** A Storage stand-in kept in memory, for tests and for when localStorage is missing. */
export class MemoryStorage implements PinStorage {
  readonly #map = new Map<string, string>();

  getItem(key: string): string | null {
    return this.#map.get(key) ?? null;
  }

  setItem(key: string, value: string): void {
    this.#map.set(key, value);
  }

  removeItem(key: string): void {
    this.#map.delete(key);
  }
}
