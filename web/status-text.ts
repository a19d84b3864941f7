/**
 * The words the page uses for its state and for why a chat ended, kept apart from the components so that the
 * wording every end shows is tested (every end says why; no end is silent).
 */
import { closeCodeText, type ErrorCode } from '../shared/errors.ts';
import type { ServerResumed } from '../shared/protocol.ts';
import { printable } from '../shared/text.ts';
import { REFUSALS_BEFORE_PAUSE, type ConnectionState, type Disconnected, type EndReason } from './connection.ts';

/** Why the chat ended, in one sentence or two. */
export function endText(end: EndReason): string {
  switch (end.by) {
    case 'you':
      return `You ended the chat (${end.word}).`;
    case 'server':
      return serverEndText(end);
    case 'plain-refused':
      return (
        'This server runs in plain mode: chat lines would cross the network unencrypted. Its signed welcome says ' +
        'so, and this page was not allowed to join such a chat. To join anyway, start a new chat with ' +
        '"Allow plain mode" ticked.'
      );
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

type ServerEnd = Extract<EndReason, { by: 'server' }>;

/** The end codes that are not a refusal of something this page did, in the page's words when no reason came. */
const END_WORDS: Partial<Record<string, string>> = {
  CHAT_ENDED: 'The server ended the chat.',
  SERVER_STOPPING: 'The server is stopping.',
  KICKED: 'The server removed you from the chat.',
};

/** The server's own `end`: its reason (made printable all the same), or words for its code. */
function serverEndText(end: ServerEnd): string {
  const reason = printable(end.reason.trim(), 256);
  const words = END_WORDS[end.code];
  let text: string;
  if (words !== undefined) text = reason === '' ? words : withStop(reason);
  else if (end.code === 'SERVER_ERROR')
    text = `The server could not go on with this chat (SERVER_ERROR)${reason === '' ? '.' : `: ${withStop(reason)}`}`;
  else
    text = `The server ended the chat over something this page sent (${end.code})${reason === '' ? '.' : `: ${withStop(reason)}`}`;
  return end.verified
    ? text
    : `${text} In plain mode nothing authenticates this end: anyone on the path could have sent it.`;
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
      return `Disconnected (${closeText(state)}): ${reconnectText(state, now)}`;
    case 'ended':
      return endSummary(state.end);
    default: {
      const unreachable: never = state;
      return String(unreachable);
    }
  }
}

/** The countdown to the next attempt, whole seconds rounded up; or that the page waits for the person. */
export function reconnectText(state: Disconnected, now: number): string {
  if (state.paused) return `not retrying by itself after ${REFUSALS_BEFORE_PAUSE} refusals in a row`;
  const seconds = Math.max(0, Math.ceil((state.retryAt - now) / 1000));
  return `reconnecting in ${seconds} s (attempt ${state.attempt})`;
}

/** That the chat ended and why, short enough for the status line and the log; the ended panel shows `endText`. */
export function endSummary(end: EndReason): string {
  switch (end.by) {
    case 'you':
      return `Ended: you typed ${end.word}`;
    case 'server':
      return END_WORDS[end.code] !== undefined ? 'Ended by the server' : `Ended by the server (${end.code})`;
    case 'plain-refused':
      return 'Ended: the server runs in plain mode';
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

/**
 * A close code in words, and the reason it came with. A reason from the peer's close frame is quoted, made printable
 * (no control, format or bidi character survives: a U+202E cannot turn this sentence around), held apart from the
 * sentence by a bidi isolate, and marked unverified, because nothing authenticates a close frame.
 */
export function closeText(close: Pick<Disconnected, 'code' | 'reason' | 'unverified'>): string {
  const code = closeCodeText(close.code);
  const reason = close.reason.trim();
  if (reason === '') return code;
  if (!close.unverified) return `${code}: ${reason}`;
  return `${code}; its close frame said \u2068“${printable(reason, 80)}”\u2069, unverified`;
}

function withStop(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

/**
 * What became of this page's place after a reconnect (a `resumed` body), in one sentence or two: never a silent
 * gap. Lines said meanwhile are marked "while you were away" where they stand.
 */
export function resumedText(body: ServerResumed): string {
  const lines = (count: number) => (count === 1 ? '1 line' : `${count} lines`);
  const back =
    body.replayed === 0
      ? 'Nothing was said while you were away.'
      : `${lines(body.replayed)} said while you were away are shown in their place, marked so.`;
  switch (body.reason) {
    case '':
      return `Back in the chat as ${body.name}. ${back}`;
    case 'trimmed':
      return `You joined again as a new participant, ${body.name}: you were away longer than the server keeps its history, so ${lines(body.gone)} could not be recovered. Lines not confirmed before the drop are marked "not delivered".`;
    case 'epoch':
      return `You joined again as a new participant, ${body.name}: the server lost its history since you left, so what was said while you were away could not be recovered. Lines not confirmed before the drop are marked "not delivered".`;
    case 'ahead':
      return `Back in the chat as ${body.name}, but the server no longer has lines it had confirmed: what was said around then could not be recovered.`;
    case 'unknown':
      return `You joined again as a new participant, ${body.name}: the server did not recognise this page's place (it restarted without its history, or the place was already used or given up), so what was said while you were away could not be recovered${body.gone > 0 ? ` (${lines(body.gone)})` : ''}. Lines not confirmed before the drop are marked "not delivered".`;
    case 'plain':
      return `You joined again as a new participant, ${body.name}: plain mode resumes nobody (the secret would cross the network in the clear), so what was said while you were away could not be recovered${body.gone > 0 ? ` (${lines(body.gone)})` : ''}.`;
    default: {
      const unreachable: never = body.reason;
      return String(unreachable);
    }
  }
}
