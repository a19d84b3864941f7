/**
 * Whether the wire inspector was open when this tab last showed it, so that a reload keeps it as it was
 * (sessionStorage: this tab, this visit). wc-app owns the open state; this only remembers it.
 */
const STORAGE_KEY = 'wirechat.inspector';

export function rememberedOpen(): boolean {
  try {
    return window.sessionStorage.getItem(STORAGE_KEY) === 'open';
  } catch {
    return false;
  }
}

export function rememberOpen(open: boolean): void {
  try {
    window.sessionStorage.setItem(STORAGE_KEY, open ? 'open' : 'closed');
  } catch {
    // storage disabled: the inspector starts closed next time
  }
}
