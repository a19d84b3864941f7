import { LitElement, html, nothing, type PropertyValues } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import { byteCount, clockTime, inspect, summarize, type FrameSummary } from '../inspect.ts';
import type { WireEvent, WireView } from '../wire-log.ts';
import { badge, badgeStyles } from './badge.ts';
import { controls } from './styles.ts';
import { inspectorStyles } from './wc-inspector.styles.ts';
import './wc-frame.ts';

/** Frames listed at most; the wire log keeps more (WIRE_LIMIT), the page shows the newest. */
export const SHOWN_FRAMES = 200;

/**
 * The wire inspector: every WebSocket frame between this tab and the server, oldest first and the newest at the
 * bottom, each with its direction, size, time and the outcome of its checks. A frame opens (a <details>) into
 * wc-frame, which takes it apart. Only the newest SHOWN_FRAMES are listed, and only opened frames are taken
 * apart, so hundreds of frames stay quick. Nothing from the wire is bound as markup.
 *
 * Test hooks: `#wire-frames`; each frame `li[data-testid="wire-frame"][data-index][data-direction][data-type]
 * [data-verdict]` with `summary` (`.arrow`, `.route`, `.type`, `.gist`, `.verdict`, `.size[data-bytes]`, `time`)
 * and, once opened, `wc-frame`; `#wire-count`, `#wire-limit-note` (only when frames were left out).
 */
export class WcInspector extends LitElement {
  static override styles = [controls, badgeStyles, inspectorStyles];

  static override properties = {
    open: { type: Boolean, reflect: true },
    wire: { attribute: false },
    expanded: { state: true },
    changes: { state: true },
  };

  /** Shown or not; closed, it renders nothing, follows no frame, and keeps which frames were opened. */
  declare open: boolean;
  /** The chat's wire log (frames and handshake steps), by reference from the controller's view. */
  declare wire: WireView | undefined;
  /** Indexes of the frames taken apart. */
  declare expanded: ReadonlySet<number>;
  /** Changes of the log seen while open: each one redraws the list. */
  declare changes: number;
  #stickToBottom = true;
  #unfollow: (() => void) | undefined;

  constructor() {
    super();
    this.open = false;
    this.wire = undefined;
    this.expanded = new Set();
    this.changes = 0;
  }

  override render() {
    if (!this.open) return nothing;
    const frames = this.wire?.frames ?? [];
    const shown = frames.slice(-SHOWN_FRAMES);
    const total = frames.length === 0 ? 0 : frames[frames.length - 1]!.index + 1;
    const bytes = frames.reduce((sum, f) => sum + f.size, 0);
    return html`<section class="card" aria-labelledby="inspector-title">
      <div class="head">
        <div class="title">
          <h2 id="inspector-title">Wire inspector</h2>
          <ul class="legend" aria-label="Legend">
            <li><span class="arrow out" aria-hidden="true">→</span>page → server</li>
            <li><span class="arrow" aria-hidden="true">←</span>server → page</li>
          </ul>
        </div>
        <p class="intro">
          Every WebSocket message between this tab and the server, as it crossed the network, oldest first; sizes are
          bytes on the wire. Open a frame to take it apart.
          <span id="wire-count"
            >${total === 1 ? '1 frame' : `${total} frames`}${frames.length > 0 && frames.length === total ? `, ${byteCount(bytes)}` : ''}.</span
          >
        </p>
      </div>
      ${
        total > shown.length
          ? html`<p class="limit" id="wire-limit-note">
            Showing the newest ${shown.length} of ${total} frames; older ones are not listed.
          </p>`
          : nothing
      }
      <ol id="wire-frames" aria-label="Frames, oldest first">
        ${shown.length === 0 ? html`<li class="empty">No frames yet.</li>` : nothing}
        ${repeat(
          shown,
          (event) => event.index,
          (event) => this.#frame(event),
        )}
      </ol>
    </section>`;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.#follow();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#follow();
  }

  override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('wire') || changed.has('open')) this.#follow();
    // Measured before new frames are drawn: a list scrolled to its end follows the newest frame; one the
    // person scrolled up, or made longer by opening a frame, stays where it is.
    const list = this.renderRoot.querySelector('#wire-frames');
    this.#stickToBottom = list === null || list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  }

  override updated(changed: PropertyValues<this>): void {
    if ((changed.has('wire') || changed.has('open') || changed.has('changes')) && this.#stickToBottom) {
      const list = this.renderRoot.querySelector('#wire-frames');
      if (list !== null) list.scrollTop = list.scrollHeight;
    }
  }

  #frame(event: WireEvent) {
    const s = summaryOf(event);
    const open = this.expanded.has(s.index);
    return html`<li
      data-testid="wire-frame"
      data-index=${s.index}
      data-direction=${s.direction}
      data-type=${s.type}
      data-verdict=${s.check.verdict}
      data-exposed=${s.exposed ? 'true' : 'false'}
    >
      <details ?open=${open} @toggle=${(e: Event) => this.#toggled(s.index, (e.currentTarget as HTMLDetailsElement).open)}>
        <summary>
          <span class="arrow" aria-hidden="true">${s.arrow}</span>
          <span class="route">${s.route}</span>
          <span class="type">${s.title}</span>
          <span class="gist">${s.gist}</span>
          ${badge(s.check, 'verdict')}
          <span class="size" data-bytes=${s.size}>${s.size} B</span>
          <time datetime=${new Date(s.at).toISOString()}>${clockTime(s.at)}</time>
        </summary>
        ${open ? html`<div class="detail"><wc-frame .view=${inspect(event, this.wire?.steps)}></wc-frame></div>` : nothing}
      </details>
    </li>`;
  }

  /** Follows the log while shown and in the page: nothing is copied, and a closed inspector costs a frame nothing. */
  #follow(): void {
    this.#unfollow?.();
    this.#unfollow = undefined;
    if (this.open && this.isConnected && this.wire !== undefined) {
      this.#unfollow = this.wire.subscribe(() => this.changes++);
    }
  }

  #toggled(index: number, open: boolean): void {
    if (this.expanded.has(index) === open) return;
    const expanded = new Set(this.expanded);
    if (open) expanded.add(index);
    else expanded.delete(index);
    this.expanded = expanded;
  }
}

/** Summaries are made once a frame: a WireEvent is replaced, never changed, when its outcome is known. */
const summaries = new WeakMap<WireEvent, FrameSummary>();

function summaryOf(event: WireEvent): FrameSummary {
  let summary = summaries.get(event);
  if (summary === undefined) {
    summary = summarize(event);
    summaries.set(event, summary);
  }
  return summary;
}

customElements.define('wc-inspector', WcInspector);

declare global {
  interface HTMLElementTagNameMap {
    'wc-inspector': WcInspector;
  }
}
