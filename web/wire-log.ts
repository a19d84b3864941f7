/**
 * The wire inspector's record of one chat: every WebSocket frame that crossed the wire, both ways and across
 * reconnects, with what became of its checks, and the handshake steps of every connection. Bounded: the oldest
 * go first.
 *
 * web/connection.ts writes it (only it sees the frames); the inspector reads it by reference and subscribes
 * while it is open, so a frame costs the rest of the page nothing: no view is rebuilt and nothing is copied.
 */
import type { HandshakeStep } from '../shared/client-session.ts';
import type { ErrorCode } from '../shared/errors.ts';
import type { ClientBody, ServerBody, ServerFrame } from '../shared/protocol.ts';
import type { FrameCheck } from '../shared/record.ts';

/**
 * What became of a frame. Outgoing ones were made by this page. Incoming ones are `pending` until the session
 * accepts them (`passed`: a record's two HMACs verified and it decrypted, a welcome's signature verified, a plain
 * frame came in sequence) or ends the chat on them (`failed`, with the check that failed). A frame still being
 * checked when the chat ended stays pending.
 */
export type WireCheck =
  | { state: 'made' }
  | { state: 'pending' }
  | { state: 'passed' }
  | { state: 'failed'; code: ErrorCode; message: string };

/** One frame as it crossed the wire. Never changed: `settle` replaces it with a new one. */
export interface WireEvent {
  /** Counts the frames of this chat from 0, across reconnects; a settled frame keeps its index. */
  index: number;
  direction: 'out' | 'in';
  data: string;
  /** Milliseconds since the epoch, this machine's clock. */
  at: number;
  /** UTF-8 bytes of `data`: the WebSocket payload length. */
  size: number;
  /** The parsed frame (incoming ones that parsed); the raw data is what matters. */
  frame: ServerFrame | undefined;
  /** Which connection of this chat carried it: 0 for the first, then one more per reconnect. */
  connection: number;
  check: WireCheck;
  /** The checks an incoming frame passed, as the session reported them (ClientEvents.checked); none outgoing. */
  passed: readonly FrameCheck[];
  /** Outgoing: the body the page put in the frame. Incoming: the body the page read from it, once it passed. */
  body: ClientBody | ServerBody | undefined;
}

export interface StepEvent {
  step: HandshakeStep;
  /** Milliseconds since this attempt's handshake began. */
  ms: number;
  connection: number;
}

/** What a listener is told: a frame recorded, a frame's outcome (its entry is now `frame`), or a step. */
export type WireChange = { kind: 'frame' | 'settled'; frame: WireEvent } | { kind: 'step'; step: StepEvent };

/** The log as the page reads it: everything but the writing. */
export type WireView = Pick<WireLog, 'frames' | 'steps' | 'subscribe'>;

export const WIRE_LIMIT = 500;
/** Seven steps a connection, for the last fifty connections. */
export const STEP_LIMIT = 7 * 50;

const encoder = new TextEncoder();

export class WireLog {
  readonly #frames: WireEvent[] = [];
  readonly #steps: StepEvent[] = [];
  readonly #listeners = new Set<(change: WireChange) => void>();
  readonly #limit: number;
  readonly #now: () => number;
  #count = 0;
  /** The newest connection that has sent or received a frame. */
  #connection = 0;
  /** The newest incoming frame: the session checks one at a time, so a body or a failure belongs to it. */
  #lastIn: WireEvent | undefined;
  /** The checks the newest incoming frame has passed so far. */
  #passed: readonly FrameCheck[] = [];

  constructor(options: { limit?: number; now?: () => number } = {}) {
    this.#limit = options.limit ?? WIRE_LIMIT;
    this.#now = options.now ?? Date.now;
  }

  /** The newest frames, oldest first (at most `limit`). */
  get frames(): readonly WireEvent[] {
    return this.#frames;
  }

  /** Every connection's handshake steps (StepEvent.connection says whose), oldest first. */
  get steps(): readonly StepEvent[] {
    return this.#steps;
  }

  /** A frame this page made and handed to an open socket; records and plain frames come with their body. */
  recordOut(connection: number, data: string, body: ClientBody | undefined): void {
    this.#record(connection, 'out', data, undefined, body);
  }

  /** A frame that arrived; `frame` when it parsed. It is pending until `settle`. */
  recordIn(connection: number, data: string, frame: ServerFrame | undefined): void {
    this.#passed = [];
    this.#lastIn = this.#record(connection, 'in', data, frame, undefined);
  }

  /**
   * The newest incoming frame passed or failed its checks (`body`: what it carried, once it passed). A frame of an
   * older connection is left as it is: its outcome is no longer anybody's to say.
   */
  settle(check: WireCheck, body?: ServerBody): void {
    const last = this.#lastIn;
    if (last === undefined || last.connection !== this.#connection) return;
    const settled: WireEvent = { ...last, check, passed: this.#passed, body: body ?? last.body };
    const at = this.#frames.lastIndexOf(last);
    if (at !== -1) this.#frames[at] = settled;
    this.#lastIn = settled;
    this.#tell({ kind: 'settled', frame: settled });
  }

  /** The newest incoming frame passed one of its checks (the session reports each as it passes). */
  checked(check: FrameCheck): void {
    this.#passed = [...this.#passed, check];
  }

  step(event: StepEvent): void {
    bounded(this.#steps, event, STEP_LIMIT);
    this.#tell({ kind: 'step', step: event });
  }

  /** Calls `listener` after every change, until the function it returns is called. */
  subscribe(listener: (change: WireChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #record(
    connection: number,
    direction: 'out' | 'in',
    data: string,
    frame: ServerFrame | undefined,
    body: ClientBody | undefined,
  ): WireEvent {
    this.#connection = Math.max(this.#connection, connection);
    const event: WireEvent = {
      index: this.#count++,
      direction,
      data,
      at: this.#now(),
      size: encoder.encode(data).length,
      frame,
      connection,
      check: { state: direction === 'out' ? 'made' : 'pending' },
      passed: [],
      body,
    };
    bounded(this.#frames, event, this.#limit);
    this.#tell({ kind: 'frame', frame: event });
    return event;
  }

  #tell(change: WireChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}

/** Newest last, at most `limit` items. */
function bounded<T>(list: T[], item: T, limit: number): void {
  list.push(item);
  if (list.length > limit) list.splice(0, list.length - limit);
}
