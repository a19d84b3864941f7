/**
 * Requests across relays, as Socket.IO's adapters do for `fetchSockets`: a request carries an id, goes to the
 * relays it expects answers from, and is done when every one answered or its time is up, whichever comes first.
 * It resolves either way, with the answers it got and the relays that did not answer (`missing`), so `/who` can
 * show what it has and say which relay is silent. This relay's own answer is made locally, without Redis.
 */
import { randomBytes } from 'node:crypto';
import { BrokerError, reasonOf } from './errors.ts';
import { parseAnswer, type Body, type RequestKind, type Requests } from './messages.ts';

export type Handler<K extends RequestKind> = (
  body: Requests[K]['body'],
  from: string,
) => Promise<Requests[K]['answer']> | Requests[K]['answer'];

export interface RequestResult<K extends RequestKind> {
  /** One per relay that answered, this relay's first when it was asked. */
  answers: Array<{ relay: string; answer: Requests[K]['answer'] }>;
  /** Relays that answered with an error. */
  failed: Array<{ relay: string; error: string }>;
  /** Relays that did not answer in time. */
  missing: string[];
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 2_000;

interface Pending {
  kind: RequestKind;
  waiting: Set<string>;
  result: RequestResult<RequestKind>;
  done(): void;
}

export class RequestHub {
  readonly #self: string;
  readonly #send: (to: string, body: Body) => Promise<void>;
  readonly #handlers = new Map<RequestKind, Handler<RequestKind>>();
  readonly #pending = new Map<string, Pending>();

  constructor(self: string, send: (to: string, body: Body) => Promise<void>) {
    this.#self = self;
    this.#send = send;
  }

  handle<K extends RequestKind>(kind: K, handler: Handler<K>): void {
    this.#handlers.set(kind, handler as unknown as Handler<RequestKind>);
  }

  /** Asks `relays` (this one included if listed) and gathers their answers for at most `timeoutMs`. */
  async request<K extends RequestKind>(
    kind: K,
    body: Requests[K]['body'],
    relays: readonly string[],
    timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
  ): Promise<RequestResult<K>> {
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1)
      throw new RangeError(`a request's timeout is a whole number of ms >= 1, not ${timeoutMs}`);
    const result: RequestResult<RequestKind> = { answers: [], failed: [], missing: [] };
    const others = [...new Set(relays)].filter((r) => r !== this.#self);
    if (relays.includes(this.#self)) await this.#answerLocally(kind, body, result);
    if (others.length === 0) return result as RequestResult<K>;
    const rid = randomBytes(12).toString('base64url');
    const finished = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(rid);
        result.missing = [...pending.waiting];
        resolve();
      }, timeoutMs);
      const pending: Pending = {
        kind,
        waiting: new Set(others),
        result,
        done: () => {
          clearTimeout(timer);
          this.#pending.delete(rid);
          resolve();
        },
      };
      this.#pending.set(rid, pending);
    });
    const sent = await Promise.allSettled(others.map((relay) => this.#send(relay, { t: 'request', rid, kind, body })));
    const unsent = sent.flatMap((outcome, i) =>
      outcome.status === 'rejected' ? [{ relay: others[i]!, error: reasonOf(outcome.reason) }] : [],
    );
    if (unsent.length === others.length) {
      this.#pending.get(rid)?.done();
      throw new BrokerError('DOWN', `could not ask the other relays: ${unsent[0]!.error}`, {
        cause: (sent[0] as PromiseRejectedResult).reason,
      });
    }
    const pending = this.#pending.get(rid);
    for (const { relay } of unsent) pending?.waiting.delete(relay);
    result.failed.push(...unsent);
    if (pending && pending.waiting.size === 0) pending.done();
    await finished;
    return result as RequestResult<K>;
  }

  /** A request from another relay: answered on that relay's channel, whatever happens. */
  async onRequest(from: string, rid: string, kind: RequestKind, body: Requests[RequestKind]['body']): Promise<void> {
    const handler = this.#handlers.get(kind);
    let reply: Body;
    try {
      if (!handler) throw new Error(`this relay answers no ${kind} requests`);
      reply = { t: 'response', rid, ok: true, answer: await handler(body, from) };
    } catch (error) {
      reply = { t: 'response', rid, ok: false, error: reasonOf(error).slice(0, 1_000) };
    }
    await this.#send(from, reply).catch(() => {
      // Redis went away meanwhile: the requester counts this relay as missing.
    });
  }

  /** An answer to one of this relay's requests; one that comes late, twice, or from a relay not asked is dropped. */
  onResponse(from: string, rid: string, reply: { ok: true; answer: unknown } | { ok: false; error: string }): void {
    const pending = this.#pending.get(rid);
    if (!pending || !pending.waiting.delete(from)) return;
    if (reply.ok) {
      try {
        pending.result.answers.push({ relay: from, answer: parseAnswer(pending.kind, reply.answer) });
      } catch (error) {
        pending.result.failed.push({ relay: from, error: `an answer this relay cannot read: ${reasonOf(error)}` });
      }
    } else {
      pending.result.failed.push({ relay: from, error: reply.error });
    }
    if (pending.waiting.size === 0) pending.done();
  }

  /** Ends every request in flight now, with what it has. */
  close(): void {
    for (const pending of [...this.#pending.values()]) {
      pending.result.missing = [...pending.waiting];
      pending.done();
    }
  }

  async #answerLocally(
    kind: RequestKind,
    body: Requests[RequestKind]['body'],
    result: RequestResult<RequestKind>,
  ): Promise<void> {
    const handler = this.#handlers.get(kind);
    try {
      if (!handler) throw new Error(`this relay answers no ${kind} requests`);
      result.answers.push({ relay: this.#self, answer: parseAnswer(kind, await handler(body, this.#self)) });
    } catch (error) {
      result.failed.push({ relay: this.#self, error: reasonOf(error) });
    }
  }
}
