/**
 * The page's side of "exactly once": the lines it sent and has no receipt for. One participant numbers its lines
 * 0, 1, 2, ... for the whole chat, across every reconnect (not per connection), because the server's log
 * recognises a line by (participant, line id): a line sent again after a resume, under the same id, is stored
 * once and receipted with the number it already had (server/log/log.ts, `Origin`).
 *
 * The rule, in one place, for the page (web/connection.ts) and the scripted client (tools/):
 * - a line is in the outbox from the moment it gets its id until a receipt names that id, delivered or failed;
 * - after a drop, if the resume `recovered` the participant, every line still in the outbox is sent again, oldest
 *   first, under its own id: the server delivers the ones it never got and receipts the others again;
 * - if the resume did not recover the participant (a new one, with a new identity), the server cannot tell which
 *   of them it had: they are taken out and reported as unconfirmed, never sent again without the person asking
 *   (sending them under the new identity could deliver a line twice).
 */
import type { ClientResume, ServerBody, ServerResumed } from './protocol.ts';

export class Outbox {
  #nextId = 0;
  readonly #waiting = new Map<number, string>();

  /** Gives a new line its id and holds it until its receipt. */
  add(text: string): number {
    const id = this.#nextId++;
    this.#waiting.set(id, text);
    return id;
  }

  /** A receipt named `id`: the line is settled, whatever its status. False when the id was not waiting. */
  settle(id: number): boolean {
    return this.#waiting.delete(id);
  }

  /** The lines to send again after a resume that recovered the participant, oldest first, ids kept. */
  resend(): { id: number; text: string }[] {
    return [...this.#waiting].sort(([a], [b]) => a - b).map(([id, text]) => ({ id, text }));
  }

  /** After a resume that did not recover the participant: the ids nobody can confirm, now let go. */
  abandon(): number[] {
    const ids = [...this.#waiting.keys()].sort((a, b) => a - b);
    this.#waiting.clear();
    return ids;
  }

  get size(): number {
    return this.#waiting.size;
  }
}

/**
 * Everything a page keeps to come back to its place after a drop (docs/protocol.md 9.1), in one place for the
 * page (web/connection.ts) and the scripted tabs (tools/resuming-client.ts): its outbox, the newest seat (its
 * single-use secret and the log epoch), and the highest chat-wide line number it has. It is fed every body that
 * arrives, and says what to claim and what to do with the outbox when the server answers.
 */
export class ResumePlace {
  readonly outbox = new Outbox();
  #seat: { secret: string; epoch: string } | undefined;
  #last = 0;

  /** The highest line number this page has: a line's, a receipt's, a seat's. */
  get last(): number {
    return this.#last;
  }

  /** The secret it would present now; undefined when it has none (never joined, plain mode, or given up). */
  get secret(): string | undefined {
    return this.#seat?.secret || undefined;
  }

  get epoch(): string | undefined {
    return this.#seat?.epoch;
  }

  /** Keeps what a resume needs from a body that arrived: seats, line numbers; receipts settle the outbox. */
  track(body: ServerBody): void {
    switch (body.kind) {
      case 'seat':
        this.#seat = { secret: body.secret, epoch: body.epoch };
        this.#last = Math.max(this.#last, body.last);
        return;
      case 'line':
        this.#last = Math.max(this.#last, body.n);
        return;
      case 'receipt':
        this.outbox.settle(body.id);
        this.#last = Math.max(this.#last, body.n);
        return;
      default:
        return;
    }
  }

  /** What to present in the `resume` body after a drop. */
  claim(): Omit<ClientResume, 'kind'> {
    return { secret: this.#seat?.secret ?? '', epoch: this.#seat?.epoch ?? '', last: this.#last };
  }

  /**
   * The server's answer: recovered, the lines to send again (under their own ids); not, the ids nobody can
   * confirm, let go (and the old secret with them: the next seat brings a new one).
   */
  resumed(answer: ServerResumed): { resend: { id: number; text: string }[]; unconfirmed: number[] } {
    if (answer.recovered) return { resend: this.outbox.resend(), unconfirmed: [] };
    this.#seat = undefined;
    return { resend: [], unconfirmed: this.outbox.abandon() };
  }
}
