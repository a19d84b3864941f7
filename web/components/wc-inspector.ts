import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import type { WireEvent } from '../connection.ts';
import type { WireView } from '../controller.ts';
import { byteCount, clockTime, inspect, summarize, type FrameSummary } from '../inspect.ts';
import { controls } from './styles.ts';
import { badge, badgeStyles } from './wc-frame.ts';

/** Frames listed at most; the connection keeps more (WIRE_LIMIT), the page shows the newest. */
export const SHOWN_FRAMES = 200;

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

const STORAGE_KEY = 'wirechat.inspector';

/** Whether the inspector was open when this tab last showed it (sessionStorage: this tab, this visit). */
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
  static override styles = [
    controls,
    badgeStyles,
    css`
      :host {
        display: block;
        min-width: 0;
        container: inspector / inline-size;
      }
      :host(:not([open])) {
        display: none;
      }
      section {
        display: flex;
        flex-direction: column;
        height: 100%;
        min-height: 0;
      }
      .head {
        padding: 0.75rem 1rem 0.55rem;
        border-bottom: 1px solid var(--wc-border);
      }
      .title {
        display: flex;
        flex-wrap: wrap;
        align-items: baseline;
        justify-content: space-between;
        gap: 0.25rem 1rem;
      }
      h2 {
        margin: 0;
      }
      #wire-count {
        color: var(--wc-text);
        font-weight: 600;
        font-variant-numeric: tabular-nums;
      }
      .intro {
        margin: 0.3rem 0 0;
        font-size: 0.8rem;
        color: var(--wc-muted);
      }
      .legend {
        display: flex;
        align-items: baseline;
        flex-wrap: wrap;
        gap: 0.2rem 1rem;
        margin: 0;
        padding: 0;
        list-style: none;
        font-size: 0.8rem;
      }
      .legend .arrow {
        margin-right: 0.25rem;
      }
      .limit {
        margin: 0;
        padding: 0.45rem 1rem;
        font-size: 0.8rem;
        color: var(--wc-warn);
        background: var(--wc-warn-bg);
        border-bottom: 1px solid var(--wc-border);
      }
      ol {
        flex: 1;
        min-height: 8rem;
        overflow-y: auto;
        list-style: none;
        margin: 0;
        padding: 0;
      }
      .empty {
        padding: 1.5rem 1rem;
        text-align: center;
        color: var(--wc-muted);
      }
      #wire-frames > li {
        border-bottom: 1px solid var(--wc-border);
        border-left: 4px solid transparent;
      }
      #wire-frames > li[data-direction='out'] {
        border-left-color: var(--wc-accent);
      }
      #wire-frames > li[data-direction='in'] {
        border-left-color: var(--wc-control);
      }
      #wire-frames > li[data-exposed='true'] {
        border-left-color: var(--wc-plain);
      }
      summary {
        display: grid;
        grid-template-columns: 1.1rem auto minmax(0, 1fr) auto 4.4rem 6.4rem;
        grid-template-areas:
          'arrow type route verdict size time'
          '. gist gist gist gist gist';
        align-items: center;
        gap: 0.1rem 0.6rem;
        padding: 0.35rem 0.75rem 0.4rem 0.45rem;
        cursor: pointer;
        font-size: 0.85rem;
        list-style: none;
      }
      summary::-webkit-details-marker {
        display: none;
      }
      summary:hover {
        background: var(--wc-sunken);
      }
      summary:focus-visible {
        outline-offset: -3px;
      }
      /* An open frame's summary stays in view while its fields scroll under it. */
      details[open] > summary {
        position: sticky;
        top: 0;
        z-index: 1;
        background: var(--wc-sunken);
        border-bottom: 1px solid var(--wc-border);
      }
      .arrow {
        grid-area: arrow;
        font-weight: 700;
        text-align: center;
      }
      .type {
        grid-area: type;
      }
      .route {
        grid-area: route;
      }
      .verdict {
        grid-area: verdict;
        justify-self: end;
      }
      .size {
        grid-area: size;
      }
      time {
        grid-area: time;
      }
      .gist {
        grid-area: gist;
      }
      [data-direction='out'] .arrow,
      .legend .out {
        color: var(--wc-accent);
      }
      .route {
        white-space: nowrap;
        color: var(--wc-muted);
        font-size: 0.8rem;
      }
      .type {
        font-family: var(--wc-mono);
        font-weight: 700;
        white-space: nowrap;
      }
      .gist {
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
        font-size: 0.82rem;
      }
      .size,
      time {
        font-family: var(--wc-mono);
        font-size: 0.78rem;
        font-variant-numeric: tabular-nums;
        text-align: right;
        white-space: nowrap;
      }
      time {
        color: var(--wc-muted);
      }
      .detail {
        padding: 0.75rem 1rem 1rem;
        background: var(--wc-surface);
      }
      @container inspector (max-width: 34rem) {
        summary {
          grid-template-columns: 1.1rem auto minmax(0, 1fr) auto;
          grid-template-areas:
            'arrow type route size'
            '. gist gist gist'
            '. verdict time time';
        }
        .verdict {
          justify-self: start;
        }
        .detail {
          padding: 0.6rem 0.6rem 0.8rem;
        }
      }
    `,
  ];

  static override properties = {
    open: { type: Boolean, reflect: true },
    wire: { attribute: false },
    expanded: { state: true },
  };

  /** Shown or not; closed, it renders nothing but keeps which frames were opened. */
  declare open: boolean;
  /** The frames and handshake steps, from the controller's view. */
  declare wire: WireView;
  /** Indexes of the frames taken apart. */
  declare expanded: ReadonlySet<number>;
  #stickToBottom = true;

  constructor() {
    super();
    this.open = false;
    this.wire = { frames: [], steps: [] };
    this.expanded = new Set();
  }

  override render() {
    if (!this.open) return nothing;
    const frames = this.wire.frames;
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
      ${total > shown.length
        ? html`<p class="limit" id="wire-limit-note">
            Showing the newest ${shown.length} of ${total} frames; older ones are not listed.
          </p>`
        : nothing}
      <ol id="wire-frames" aria-label="Frames, oldest first">
        ${shown.length === 0 ? html`<li class="empty">No frames yet.</li>` : nothing}
        ${repeat(shown, (event) => event.index, (event) => this.#frame(event))}
      </ol>
    </section>`;
  }

  override willUpdate(): void {
    // Measured before new frames are drawn: a list scrolled to its end follows the newest frame; one the
    // person scrolled up, or made longer by opening a frame, stays where it is.
    const list = this.renderRoot.querySelector('#wire-frames');
    this.#stickToBottom = list === null || list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  }

  override updated(changed: PropertyValues<this>): void {
    if ((changed.has('wire') || changed.has('open')) && this.#stickToBottom) {
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
        ${open ? html`<div class="detail"><wc-frame .view=${inspect(event, this.wire.steps)}></wc-frame></div>` : nothing}
      </details>
    </li>`;
  }

  #toggled(index: number, open: boolean): void {
    if (this.expanded.has(index) === open) return;
    const expanded = new Set(this.expanded);
    if (open) expanded.add(index);
    else expanded.delete(index);
    this.expanded = expanded;
  }
}

customElements.define('wc-inspector', WcInspector);

declare global {
  interface HTMLElementTagNameMap {
    'wc-inspector': WcInspector;
  }
}
