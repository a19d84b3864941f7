/**
 * A scripted tab that does what the page does across drops (web/connection.ts): it keeps its resume secret, the
 * highest line number it has, and its outbox (shared/outbox.ts); after a cut it reconnects with a fresh handshake,
 * resumes, and sends again what has no receipt. `npm run load -- --resume` runs many of them with random cuts, and
 * the resume tests drive one by hand. It records every line it was shown, by number, and counts any shown twice.
 */
import { ResumePlace } from '../shared/outbox.ts';
import type { ServerBody, ServerLine, ServerResumed } from '../shared/protocol.ts';
import { ScriptedClient, type ScriptedClientOptions } from './client.ts';

export interface Shown {
  from: string;
  text: string;
  late: boolean;
}

export class ResumingClient {
  readonly #options: ScriptedClientOptions;
  readonly #place = new ResumePlace();
  readonly outbox = this.#place.outbox;
  /** Lines shown, by chat-wide number (others' lines, and own lines once receipted). */
  readonly lines = new Map<number, Shown>();
  /** Own lines by id: their text, and their number once delivered. */
  readonly own = new Map<number, { text: string; n?: number; failed?: string }>();
  /** Lines that arrived under a number already shown: must stay 0. */
  duplicates = 0;
  /** Lines received with `late`. */
  replayed = 0;
  /** Lines sent again after a resume (their receipt had not come). */
  resent = 0;
  /** Every `resumed` answer, in order. */
  readonly resumes: ServerResumed[] = [];
  /** Ids given up after a resume that did not recover this participant. */
  readonly unconfirmed: number[] = [];
  #client: ScriptedClient | undefined;
  #name: string;

  private constructor(options: ScriptedClientOptions) {
    this.#options = options;
    this.#name = options.name ?? 'bot';
  }

  /** Joins as a new participant. */
  static async join(options: ScriptedClientOptions): Promise<ResumingClient> {
    const client = new ResumingClient(options);
    client.#client = await ScriptedClient.connect({ ...options, onBody: (body) => client.#body(body) });
    // The seat follows the welcome: a tab that could drop at once must have it first.
    await client.#client.waitFor((body) => body.kind === 'seat');
    return client;
  }

  get name(): string {
    return this.#name;
  }

  get client(): ScriptedClient | undefined {
    return this.#client;
  }

  get last(): number {
    return this.#place.last;
  }

  /** The resume secret it holds now (tests present it again to see it refused); none in plain mode. */
  get secret(): string | undefined {
    return this.#place.secret;
  }

  get epoch(): string | undefined {
    return this.#place.epoch;
  }

  /** Sends a line (or holds it in the outbox while cut, to go when resumed). Returns its id. */
  send(text: string): number {
    const id = this.outbox.add(text);
    this.own.set(id, { text });
    this.#client?.session.sendLine(text, id).catch(() => undefined);
    return id;
  }

  /** The link dies at once: no close frame (the server finds out by itself). */
  cut(): void {
    this.#client?.close();
    this.#client = undefined;
  }

  /**
   * Comes back: a fresh handshake, the resume claim, what was missed, then the outbox again. `url`: another relay
   * of the same chat to come back to (docs/cluster.md); the one it joined by default.
   */
  async resume(url?: string): Promise<ServerResumed> {
    const before = this.resumes.length;
    this.#client = await ScriptedClient.connect({
      ...this.#options,
      ...(url === undefined ? {} : { url }),
      name: this.#name,
      resume: () => this.#place.claim(),
      onBody: (body) => this.#body(body),
    });
    const answer = this.resumes[before]!;
    const { resend, unconfirmed } = this.#place.resumed(answer);
    this.resent += resend.length;
    for (const { id, text } of resend) this.#client.session.sendLine(text, id).catch(() => undefined);
    this.unconfirmed.push(...unconfirmed);
    return answer;
  }

  /** Waits (bounded) until every own line has its receipt. */
  async settled(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.outbox.size > 0) {
      if (Date.now() > deadline) throw new Error(`${this.#name}: ${this.outbox.size} lines without a receipt`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Waits (bounded) until a line numbered `n` or higher has been shown. */
  async reached(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#place.last < n) {
      if (Date.now() > deadline) throw new Error(`${this.#name}: has line ${this.#place.last}, not ${n}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  close(): void {
    this.cut();
  }

  /** Leaves for good as a page does (EXIT, a 1000 close; ScriptedClient.goodbye), its secret revoked. */
  async goodbye(timeoutMs?: number): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    await client?.goodbye(timeoutMs);
  }

  #show(n: number, shown: Shown): void {
    if (this.lines.has(n)) this.duplicates++;
    else this.lines.set(n, shown);
  }

  #body(body: ServerBody): void {
    // Own lines are shown once their receipt settles them: a second receipt for the same id shows nothing.
    const waiting = body.kind === 'receipt' && this.outbox.resend().some((line) => line.id === body.id);
    this.#place.track(body);
    switch (body.kind) {
      case 'line':
        if (body.late) this.replayed++;
        this.#show(body.n, lineShown(body));
        return;
      case 'receipt': {
        if (!waiting) return;
        const own = this.own.get(body.id);
        if (own === undefined) return;
        if (body.status === 'delivered') {
          own.n = body.n;
          this.#show(body.n, { from: this.#name, text: own.text, late: false });
        } else own.failed = body.reason;
        return;
      }
      case 'resumed':
        this.#name = body.name;
        this.resumes.push(body);
        return;
      default:
        return;
    }
  }
}

function lineShown(body: ServerLine): Shown {
  return { from: body.from, text: body.text, late: body.late };
}
