/**
 * The chat's history as the relay uses it: the hub it appends through (server/hub.ts) over the chat log
 * (memory, or SQLite with --history), and the seat keeper that makes and checks resume secrets (server/resume.ts)
 * under the same chat key. The one place that picks the store and the key; main.ts, the server's default and the
 * tests call it.
 *
 * Memory (the default): a key made for this process alone, so nothing is written to disk and a restart forgets
 * every secret along with every line. --history PATH: the chat key file (--chat-key, or chat.key beside the
 * identity key), so that after a restart the tabs' secrets still open and the log still reads.
 */
import { dirname, join } from 'node:path';
import { LocalHub, type ChatHub } from './hub.ts';
import { ephemeralChatKey, loadChatKey } from './log/chat-key.ts';
import { DEFAULT_RETENTION, type Retention } from './log/log.ts';
import { MemoryStore } from './log/memory.ts';
import { createChatLog, createLogSealer, inProcessSealer } from './log/sealed.ts';
import { SeatKeeper } from './resume.ts';

export interface History {
  hub: ChatHub;
  seats: SeatKeeper;
  /** "memory" or "SQLite /path", for the console. */
  description: string;
  /** Where the chat key is, when there is a file. */
  chatKeyPath?: string;
  chatKeyCreated?: boolean;
}

export interface HistoryOptions {
  /** The SQLite file; memory when absent. */
  history?: string;
  historyLines?: number;
  historyMinutes?: number;
  /** The chat key file; beside `identity` when absent. */
  chatKey?: string;
  /** The identity key's path (server/options.ts), to find chat.key beside it. */
  identity?: string;
}

export function retentionOf(options: HistoryOptions): Retention {
  return {
    maxLines: options.historyLines ?? DEFAULT_RETENTION.maxLines,
    maxAgeMs: options.historyMinutes === undefined ? DEFAULT_RETENTION.maxAgeMs : options.historyMinutes * 60_000,
  };
}

/**
 * Opens the history the options ask for. Rejects with a HistoryError (the file cannot be opened, is not a
 * wirechat history, is in use, was sealed under another key) or a SecretFileError (the key file), each with a
 * message for a person.
 */
export async function openHistory(options: HistoryOptions = {}): Promise<History> {
  const retention = retentionOf(options);
  if (options.history === undefined) {
    const key = ephemeralChatKey();
    const seats = new SeatKeeper(key);
    // The key seals the seats, which leave the process in the tabs; the entries stay here and are kept open.
    const log = await createChatLog(new MemoryStore({ retention }), inProcessSealer());
    return { hub: await LocalHub.open(log), seats, description: log.description };
  }
  const keyPath = options.chatKey ?? join(dirname(options.identity ?? join('.', 'identity.jwk')), 'chat.key');
  const chatKey = await loadChatKey(keyPath);
  const seats = new SeatKeeper(chatKey.key);
  // Loaded here: the memory default never loads the native SQLite module.
  const { openSqliteStore } = await import('./log/sqlite.ts');
  const store = await openSqliteStore(options.history, { retention });
  // A history sealed under another key is refused here, and the file let go (createChatLog).
  const log = await createChatLog(store, await createLogSealer(chatKey.key));
  return {
    hub: await LocalHub.open(log),
    seats,
    description: log.description,
    chatKeyPath: chatKey.path,
    chatKeyCreated: chatKey.created,
  };
}
