/**
 * The words the page uses for its state and for why a chat ended, kept apart from the components so that the
 * wording every end shows is tested (every end says why; no end is silent).
 */
import type { ErrorCode } from '../shared/errors.ts';
import { printable } from '../shared/protocol.ts';
import type { ConnectionState, EndReason } from './connection.ts';

/** Why the chat ended, in one sentence or two. */
export function endText(end: EndReason): string {
  switch (end.by) {
    case 'you':
      return `You ended the chat (${end.word}).`;
    case 'server':
      return end.reason.trim() === '' ? 'The server ended the chat.' : withStop(end.reason.trim());
    case 'closed':
      return `The server closed the connection (${closeText(end.code, end.reason)}).`;
    case 'refused':
      return `The server refused this connection (${closeText(end.code, end.reason)}). Trying again would get the same answer, so the page stopped.`;
    case 'name':
      return `The server refused this name: ${withStop(printable(end.reason, 200))}`;
    case 'integrity':
      return (
        `Integrity check failed (${end.code}): ${withStop(end.message)} ${INTEGRITY_HINTS[end.code] ?? ''}` +
        `The frame was not shown. ` +
        `The page closed the connection with ${end.closeCode}` +
        (end.sentCode === end.closeCode ? '.' : ` (sent as ${end.sentCode}: browsers may only send 1000 or 3000-4999).`)
      );
    case 'trust':
      return 'You disconnected: the server showed a key other than the one remembered for it, and you did not trust it.';
    case 'error':
      return `The page could not go on: ${withStop(end.message)}`;
    default: {
      const unreachable: never = end;
      return String(unreachable);
    }
  }
}

/** What a failed check most likely means, for the checks whose failure points at someone on the path. */
const INTEGRITY_HINTS: Partial<Record<ErrorCode, string>> = {
  HANDSHAKE_BAD_SIGNATURE:
    'Someone between you and the server may have changed the handshake (for example swapped your public key). ',
};

/** What the status line shows: the connection's state, or that the page cannot connect from here at all. */
export type StatusState = ConnectionState | { phase: 'unavailable' };

/** The status line. `now` is used for the reconnect countdown. */
export function statusText(state: StatusState, now: number): string {
  switch (state.phase) {
    case 'unavailable':
      return 'Unavailable: no Web Crypto on this page';
    case 'idle':
      return 'Not connected';
    case 'connecting':
      return state.attempt === 0 ? 'Connecting…' : `Connecting… (attempt ${state.attempt})`;
    case 'securing':
      return 'Securing: handshake in progress…';
    case 'secure':
      return 'Secure: encrypted between this tab and the server';
    case 'plain':
      return 'PLAIN MODE: not encrypted';
    case 'disconnected':
      return `Disconnected (${closeText(state.code, state.reason)}): ${reconnectText(state, now)}`;
    case 'ended':
      return endSummary(state.end);
    default: {
      const unreachable: never = state;
      return String(unreachable);
    }
  }
}

type Disconnected = Extract<ConnectionState, { phase: 'disconnected' }>;

/** The countdown to the next attempt, whole seconds rounded up. */
export function reconnectText(state: Disconnected, now: number): string {
  const seconds = Math.max(0, Math.ceil((state.retryAt - now) / 1000));
  return `reconnecting in ${seconds} s (attempt ${state.attempt})`;
}

/** That the chat ended and why, short enough for the status line and the log; the ended panel shows `endText`. */
export function endSummary(end: EndReason): string {
  switch (end.by) {
    case 'you':
      return `Ended: you typed ${end.word}`;
    case 'server':
      return 'Ended by the server';
    case 'closed':
      return `Ended: the server closed the connection (${end.code})`;
    case 'refused':
      return `Ended: refused by the server (${end.code})`;
    case 'name':
      return 'Name refused by the server';
    case 'integrity':
      return `Ended: integrity check failed (${end.code}, closed ${end.closeCode})`;
    case 'trust':
      return 'Ended: server key not trusted';
    case 'error':
      return 'Ended: page error';
    default: {
      const unreachable: never = end;
      return String(unreachable);
    }
  }
}

/** A close code with what it means; 1006 is the browser's own "the connection just went away". */
export function closeText(code: number, reason: string): string {
  const meaning = reason.trim() !== '' ? reason.trim() : (CLOSE_MEANINGS[code] ?? 'no reason given');
  return `${code}, ${meaning}`;
}

const CLOSE_MEANINGS: Record<number, string> = {
  1000: 'normal closure',
  1001: 'going away',
  1002: 'protocol error',
  1003: 'unsupported data',
  1005: 'no status code',
  1006: 'connection lost without a close frame',
  1007: 'invalid payload',
  1008: 'policy violation',
  1009: 'message too big',
  1011: 'server error',
  1012: 'server restarting',
  1013: 'try again later',
};

function withStop(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}
