/**
 * What relays of one chat say to each other over pub/sub, one union per kind, each parsed from `unknown` before
 * use (a message that opened under the chat key came from a relay holding that key, but a bug or an older
 * version is still refused, never guessed at). Lines do not come this way: they are read from the log's stream
 * (server/broker/feed.ts), where nothing published while a relay was cut off is lost. What comes this way is
 * ephemeral: presence, the end of the chat, requests and their answers.
 *
 * Every message is an envelope, sealed whole (server/broker/seal.ts):
 *   { v: 1, chat, to: 'all' | RELAY, from: RELAY, id, body }
 * `chat` and `to` must be the chat and the channel it arrived on, so a message copied to another chat or
 * another relay's channel is refused; `id` lets a receiver drop a message published twice (a retried PUBLISH).
 */
import { RELAY_ID } from './keys.ts';

export const ENVELOPE_VERSION = 1;

export interface Participant {
  /** The participant's resume identity: the log's origin identity, a direct line's `to`. */
  id: string;
  name: string;
  /** The id of the relay that serves it. */
  relay: string;
}

export interface RelayInfo {
  id: string;
  /** What a person calls the relay ("laptop-2:8443"), for /who. */
  label: string;
}

export type ChatEvent =
  /** Someone joined or left on the sender's relay. */
  | { type: 'presence'; change: 'join' | 'leave'; participant: Participant; reason: string }
  /** A relay stopped answering (its heartbeat expired); its participants are gone. Sent by the relay that found it. */
  | { type: 'relay-lost'; relay: RelayInfo; participants: Participant[] }
  /** The chat ends for everyone (the console's END). */
  | { type: 'end'; by: string; reason: string };

/** Requests across relays: what each carries and what each relay answers. */
export interface Requests {
  /** `/who`: the participants a relay serves. */
  who: { body: Record<string, never>; answer: { participants: Participant[] } };
  /** `/kick`: end the session of participant `id` if it is here. */
  kick: { body: { id: string; by: string; reason: string }; answer: { kicked: boolean } };
  /** Is that relay there and listening? */
  ping: { body: Record<string, never>; answer: Record<string, never> };
}
export type RequestKind = keyof Requests;
export const REQUEST_KINDS: readonly RequestKind[] = ['who', 'kick', 'ping'];

export type Body =
  | { t: 'event'; event: ChatEvent }
  | { t: 'request'; rid: string; kind: RequestKind; body: Requests[RequestKind]['body'] }
  | { t: 'response'; rid: string; ok: true; answer: Requests[RequestKind]['answer'] }
  | { t: 'response'; rid: string; ok: false; error: string };

export interface Envelope {
  v: typeof ENVELOPE_VERSION;
  chat: string;
  to: string;
  from: string;
  id: string;
  body: Body;
}

// ---- checks -------------------------------------------------------------------------------------------------

const MAX_TEXT = 1_000;
const MAX_PARTICIPANTS = 100_000;
const MESSAGE_ID = /^[A-Za-z0-9_-]{16,32}$/;

type Fields = Record<string, unknown>;

function object(value: unknown, what: string, keys: readonly string[], optional: readonly string[] = []): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RangeError(`${what} is an object`);
  const fields = value as Fields;
  for (const key of Object.keys(fields)) {
    if (!keys.includes(key) && !optional.includes(key))
      throw new RangeError(`${what} has an unknown field ${JSON.stringify(key).slice(0, 40)}`);
  }
  for (const key of keys) if (!(key in fields)) throw new RangeError(`${what} has no ${key}`);
  return fields;
}

function text(value: unknown, what: string, max = MAX_TEXT, min = 0): string {
  if (typeof value !== 'string' || value.length < min || value.length > max)
    throw new RangeError(`${what} is a string of ${min} to ${max} characters`);
  return value;
}

function relayId(value: unknown, what: string): string {
  if (typeof value !== 'string' || !RELAY_ID.test(value)) throw new RangeError(`${what} is a relay id`);
  return value;
}

function oneOf<T extends string>(value: unknown, what: string, allowed: readonly T[]): T {
  if (!(allowed as readonly unknown[]).includes(value)) throw new RangeError(`${what} is one of ${allowed.join(', ')}`);
  return value as T;
}

export function parseParticipant(value: unknown): Participant {
  const f = object(value, 'a participant', ['id', 'name', 'relay']);
  return {
    id: text(f.id, "a participant's id", 256, 1),
    name: text(f.name, "a participant's name", 256, 1),
    relay: relayId(f.relay, "a participant's relay"),
  };
}

export function parseRelayInfo(value: unknown): RelayInfo {
  const f = object(value, 'a relay', ['id', 'label']);
  return { id: relayId(f.id, "a relay's id"), label: text(f.label, "a relay's label", 256) };
}

function participants(value: unknown, what: string): Participant[] {
  if (!Array.isArray(value) || value.length > MAX_PARTICIPANTS)
    throw new RangeError(`${what} is a list of participants`);
  return value.map(parseParticipant);
}

function empty(value: unknown, what: string): Record<string, never> {
  object(value, what, []);
  return {};
}

export function parseEvent(value: unknown): ChatEvent {
  const type = oneOf((value as Fields | null)?.type, "an event's type", ['presence', 'relay-lost', 'end'] as const);
  switch (type) {
    case 'presence': {
      const f = object(value, 'a presence event', ['type', 'change', 'participant', 'reason']);
      return {
        type,
        change: oneOf(f.change, 'a presence change', ['join', 'leave'] as const),
        participant: parseParticipant(f.participant),
        reason: text(f.reason, 'a reason'),
      };
    }
    case 'relay-lost': {
      const f = object(value, 'a relay-lost event', ['type', 'relay', 'participants']);
      return {
        type,
        relay: parseRelayInfo(f.relay),
        participants: participants(f.participants, "a lost relay's participants"),
      };
    }
    case 'end': {
      const f = object(value, 'an end event', ['type', 'by', 'reason']);
      return { type, by: text(f.by, 'who ended the chat', 256), reason: text(f.reason, 'a reason') };
    }
    default: {
      const check: never = type;
      return check;
    }
  }
}

export function parseRequestBody(kind: RequestKind, value: unknown): Requests[RequestKind]['body'] {
  switch (kind) {
    case 'who':
    case 'ping':
      return empty(value, `a ${kind} request`);
    case 'kick': {
      const f = object(value, 'a kick request', ['id', 'by', 'reason']);
      return {
        id: text(f.id, 'who is kicked', 256, 1),
        by: text(f.by, 'who kicks', 256),
        reason: text(f.reason, 'a reason'),
      };
    }
    default: {
      const check: never = kind;
      return check;
    }
  }
}

export function parseAnswer(kind: RequestKind, value: unknown): Requests[RequestKind]['answer'] {
  switch (kind) {
    case 'who':
      return {
        participants: participants(object(value, 'a who answer', ['participants']).participants, 'a who answer'),
      };
    case 'kick': {
      const kicked = object(value, 'a kick answer', ['kicked']).kicked;
      if (typeof kicked !== 'boolean') throw new RangeError('a kick answer says kicked: true or false');
      return { kicked };
    }
    case 'ping':
      return empty(value, 'a ping answer');
    default: {
      const check: never = kind;
      return check;
    }
  }
}

/**
 * A request's `rid` is the requester's own; the receiver cannot check that a response's kind matches, so a
 * response is parsed by the requester against the kind it asked (`parseAnswer`); here its answer stays unknown.
 */
function parseBody(value: unknown): Body | { t: 'response'; rid: string; ok: true; answer: unknown } {
  const t = oneOf((value as Fields | null)?.t, "a message's kind", ['event', 'request', 'response'] as const);
  switch (t) {
    case 'event':
      return { t, event: parseEvent(object(value, 'an event message', ['t', 'event']).event) };
    case 'request': {
      const f = object(value, 'a request', ['t', 'rid', 'kind', 'body']);
      const kind = oneOf(f.kind, "a request's kind", REQUEST_KINDS);
      return { t, rid: messageId(f.rid), kind, body: parseRequestBody(kind, f.body) };
    }
    case 'response': {
      const ok = (value as Fields).ok;
      if (ok === true) {
        const f = object(value, 'a response', ['t', 'rid', 'ok', 'answer']);
        return { t, rid: messageId(f.rid), ok, answer: f.answer };
      }
      const f = object(value, 'a failed response', ['t', 'rid', 'ok', 'error']);
      if (f.ok !== false) throw new RangeError('a response says ok: true or false');
      return { t, rid: messageId(f.rid), ok: false, error: text(f.error, "a response's error") };
    }
    default: {
      const check: never = t;
      return check;
    }
  }
}

function messageId(value: unknown): string {
  if (typeof value !== 'string' || !MESSAGE_ID.test(value))
    throw new RangeError('a message id is 16 to 32 base64url characters');
  return value;
}

export type ParsedEnvelope = Omit<Envelope, 'body'> & { body: ReturnType<typeof parseBody> };

/** The envelope in `value`, checked against the chat and the channel (`to`) it arrived on. */
export function parseEnvelope(value: unknown, expected: { chat: string; to: string }): ParsedEnvelope {
  const f = object(value, 'a message', ['v', 'chat', 'to', 'from', 'id', 'body']);
  if (f.v !== ENVELOPE_VERSION)
    throw new RangeError(`a message of version ${String(f.v).slice(0, 20)}; this relay reads ${ENVELOPE_VERSION}`);
  if (f.chat !== expected.chat) throw new RangeError('a message for another chat');
  if (f.to !== expected.to) throw new RangeError('a message for another channel');
  return {
    v: ENVELOPE_VERSION,
    chat: expected.chat,
    to: expected.to,
    from: relayId(f.from, "a message's sender"),
    id: messageId(f.id),
    body: parseBody(f.body),
  };
}
