import { LitElement, css, html, nothing, type CSSResult, type TemplateResult } from 'lit';
import type { CheckView, FieldGroup, FieldRow, FrameView, InsideView } from '../inspect.ts';
import { controls } from './styles.ts';

/** Values longer than this are cut, with a button that shows all of them. */
export const CUT_AT = 120;
/** The raw frame beside the decrypted body has half the width. */
const WIRE_CARD_CUT = 90;

const MARK: Record<CheckView['verdict'], string> = { made: '●', verified: '✓', failed: '✗', unchecked: '–', plain: '!' };

/** A check's outcome as a pill: a mark and a word, so that colour is never the only sign. */
export function badge(check: CheckView, kind: 'check' | 'verdict'): TemplateResult {
  return html`<span class="badge ${kind}" data-verdict=${check.verdict} title=${check.detail}
    >${MARK[check.verdict]} ${check.label}</span
  >`;
}

/** The pill's look, for every component that shows one. */
export const badgeStyles: CSSResult = css`
  .badge {
    font-size: 0.75rem;
    font-weight: 700;
    padding: 0.05rem 0.45rem;
    border-radius: 999px;
    border: 1px solid currentColor;
    white-space: nowrap;
  }
  .badge[data-verdict='verified'] {
    color: var(--wc-secure);
    background: var(--wc-secure-bg);
  }
  .badge[data-verdict='failed'],
  .badge[data-verdict='plain'] {
    color: var(--wc-danger);
    background: var(--wc-danger-bg);
  }
  .badge[data-verdict='made'] {
    color: var(--wc-accent);
    background: var(--wc-surface);
  }
  .badge[data-verdict='unchecked'] {
    color: var(--wc-muted);
    background: var(--wc-surface);
  }
`;

/**
 * One frame taken apart (web/inspect.ts): what it carries, then each group of fields with the field's name, a
 * sentence on what it is, its value as selectable text, and a Copy button. Long values are cut with a "Show
 * all". Everything from the wire is bound as text, never as markup.
 *
 * Test hooks: `.inside[data-exposed]` with `#inside-text`; `section[data-group]`; each field
 * `div[data-field]` with `.label`, `.explain`, `.value`, `.note`, `.check[data-verdict]`, `.exposed`,
 * `button[data-testid="copy"]`, `button[data-testid="show-all"]`; `#copy-status` (what the last copy did).
 */
export class WcFrame extends LitElement {
  static override styles = [
    controls,
    badgeStyles,
    css`
      :host {
        display: block;
        font-size: 0.875rem;
      }
      .compare {
        display: grid;
        grid-template-columns: minmax(0, 1fr) minmax(0, 1fr);
        gap: 0.75rem;
        margin: 0 0 0.9rem;
      }
      .wire-card,
      .inside {
        min-width: 0;
        padding: 0.55rem 0.75rem 0.65rem;
        border-radius: 6px;
        border: 1px solid var(--wc-border);
        background: var(--wc-surface);
      }
      .wire-card {
        border-top: 4px solid var(--wc-control);
      }
      .wire-card h3,
      .inside-label {
        margin: 0;
        font-size: 0.75rem;
        font-weight: 700;
        letter-spacing: 0.05em;
        text-transform: uppercase;
        color: var(--wc-muted);
      }
      .wire-card dl {
        border: 0;
      }
      .wire-card .field {
        grid-template-columns: minmax(0, 1fr);
        border: 0;
        padding: 0;
      }
      /* Not shown (the card's title says it), but still read out as the term the value belongs to. */
      .wire-card dt .label {
        position: absolute;
        width: 1px;
        height: 1px;
        overflow: hidden;
        clip: rect(0 0 0 0);
        white-space: nowrap;
      }
      .wire-card dt .note {
        margin: 0 0 0.3rem;
      }
      .wire-card .value-line {
        grid-template-columns: minmax(0, 1fr);
      }
      .wire-card .actions {
        justify-content: flex-start;
        order: -1;
        margin: -1.85rem 0 0 auto;
      }
      .wire-card dt .note {
        min-height: 1.75rem;
      }
      .inside {
        border-top: 4px solid var(--wc-accent);
      }
      .inside[data-exposed='true'] {
        border-color: var(--wc-plain);
        border-left-color: var(--wc-plain);
        background: var(--wc-plain-bg);
      }
      .inside .inside-label {
        color: var(--wc-accent);
      }
      .inside[data-exposed='true'] .inside-label {
        color: var(--wc-plain);
      }
      #inside-text {
        margin: 0.35rem 0 0.45rem;
        font-size: 1.15rem;
        font-weight: 600;
        white-space: pre-wrap;
        overflow-wrap: anywhere;
      }
      .inside-kind {
        margin: 0.1rem 0 0;
        font-size: 0.75rem;
        color: var(--wc-muted);
      }
      .inside[data-exposed='true'] .inside-kind {
        color: var(--wc-plain);
      }
      .inside-head {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        justify-content: space-between;
        gap: 0.25rem 0.5rem;
      }
      .inside-detail {
        display: grid;
        grid-template-columns: minmax(0, 1fr) auto;
        align-items: start;
        gap: 0.4rem;
        margin: 0;
        font-size: 0.75rem;
      }
      .inside-detail code {
        font-family: var(--wc-mono);
        color: var(--wc-text);
        overflow-wrap: anywhere;
        user-select: all;
      }
      .group + .group {
        margin-top: 0.9rem;
      }
      h3 {
        margin: 0;
        font-size: 0.9rem;
      }
      .group-explain {
        margin: 0.1rem 0 0.45rem;
        color: var(--wc-muted);
        font-size: 0.8rem;
      }
      .parts {
        display: flex;
        flex-wrap: wrap;
        margin: 0 0 0.5rem;
        border: 1px solid var(--wc-control);
        border-radius: 4px;
        overflow: hidden;
        font-size: 0.72rem;
        font-family: var(--wc-mono);
      }
      .part {
        flex: 1 1 0;
        min-width: max-content;
        padding: 0.2rem 0.4rem;
        background: var(--wc-sunken);
        color: var(--wc-text);
        white-space: nowrap;
      }
      .part + .part {
        border-left: 1px solid var(--wc-control);
      }
      .part[data-part='ciphertext'] {
        background: var(--wc-accent);
        color: var(--wc-accent-text);
      }
      .part[data-part='hmac'] {
        background: var(--wc-secure-bg);
        color: var(--wc-secure);
      }
      dl {
        margin: 0;
        border-top: 1px solid var(--wc-border);
      }
      .field {
        display: grid;
        grid-template-columns: 8.5rem minmax(0, 1fr);
        gap: 0.15rem 0.9rem;
        padding: 0.4rem 0;
        border-bottom: 1px solid var(--wc-border);
      }
      dt .label {
        display: block;
        font-weight: 700;
      }
      dt .note {
        display: block;
        color: var(--wc-muted);
        font-size: 0.75rem;
        line-height: 1.3;
        margin-top: 0.1rem;
      }
      dd {
        margin: 0;
        min-width: 0;
      }
      .value-line {
        display: grid;
        grid-template-columns: minmax(0, 1fr) auto;
        align-items: start;
        gap: 0.4rem;
      }
      .actions {
        display: flex;
        flex-wrap: wrap;
        justify-content: flex-end;
        gap: 0.3rem;
      }
      .value {
        display: block;
        margin: 0;
        padding: 0.25rem 0.45rem;
        border-radius: 4px;
        background: var(--wc-sunken);
        color: var(--wc-text);
        white-space: pre-wrap;
        overflow-wrap: anywhere;
        word-break: break-all;
        user-select: text;
        font-size: 0.875rem;
      }
      .value.words {
        word-break: normal;
      }
      .value.mono {
        font-family: var(--wc-mono);
        font-size: 0.8rem;
        line-height: 1.5;
      }
      .field[data-exposed='true'] .value {
        background: var(--wc-plain-bg);
        color: var(--wc-plain);
      }
      .explain {
        margin: 0.2rem 0 0;
        color: var(--wc-muted);
        font-size: 0.8rem;
        line-height: 1.35;
      }
      .verdicts {
        display: flex;
        flex-wrap: wrap;
        align-items: baseline;
        gap: 0.2rem 0.5rem;
        margin: 0.3rem 0 0;
      }
      .check-detail {
        font-size: 0.78rem;
        color: var(--wc-muted);
        overflow-wrap: anywhere;
      }
      .check-detail[data-verdict='failed'] {
        color: var(--wc-danger);
        font-weight: 600;
      }
      button.small {
        min-height: 1.75rem;
        padding: 0.1rem 0.55rem;
        font-size: 0.78rem;
      }
      button[data-copied='true'] {
        color: var(--wc-secure);
        border-color: var(--wc-secure);
      }
      @container inspector (max-width: 40rem) {
        .compare {
          grid-template-columns: minmax(0, 1fr);
        }
      }
      @container inspector (max-width: 34rem) {
        .field {
          grid-template-columns: minmax(0, 1fr);
        }
        dt {
          display: flex;
          flex-wrap: wrap;
          align-items: baseline;
          gap: 0 0.5rem;
        }
        .actions {
          flex-direction: column;
        }
      }
    `,
  ];

  static override properties = {
    view: { attribute: false },
    full: { state: true },
    copied: { state: true },
    status: { state: true },
  };

  /** The frame, from web/inspect.ts's inspect(). */
  declare view: FrameView | undefined;
  /** Fields whose long value is shown whole. */
  declare full: ReadonlySet<string>;
  /** The field whose value was copied last, for a moment. */
  declare copied: string;
  /** What the last copy did, read out politely. */
  declare status: string;
  #copiedTimer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    super();
    this.view = undefined;
    this.full = new Set();
    this.copied = '';
    this.status = '';
  }

  override render() {
    const view = this.view;
    if (view === undefined) return nothing;
    const [wire, ...rest] = view.groups;
    return html`${wire === undefined ? nothing : this.#top(view, wire)} ${rest.map((group) => this.#group(view, group))}
      <p class="visually-hidden" id="copy-status" role="status">${this.status}</p>`;
  }

  override updated(): void {
    // Each part as wide as its bytes. Set through the CSSOM: the page's CSP refuses style attributes.
    for (const part of this.renderRoot.querySelectorAll<HTMLElement>('.part[data-bytes]')) {
      part.style.flexGrow = part.dataset.bytes ?? '1';
    }
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearTimeout(this.#copiedTimer);
  }

  /** The frame as on the wire; for a frame with a body, beside what the two ends read from it. */
  #top(view: FrameView, wire: FieldGroup) {
    const raw = wire.rows[0];
    if (view.inside === undefined || raw === undefined) return this.#group(view, wire);
    return html`<div class="compare">
      <section class="wire-card" data-group="wire">
        <h3 id="group-wire">${wire.title}</h3>
        <dl>${this.#row(view, raw, WIRE_CARD_CUT)}</dl>
      </section>
      ${this.#inside(view.inside, view.check)}
    </div>`;
  }

  #inside(inside: InsideView, check: CheckView) {
    return html`<div class="inside" data-exposed=${inside.exposed ? 'true' : 'false'}>
      <div class="inside-head">
        <h3 class="inside-label">${inside.label}</h3>
        ${badge(check, 'check')}
      </div>
      <p class="inside-kind">${inside.detail}</p>
      ${inside.text === '' ? nothing : html`<p id="inside-text">${inside.text}</p>`}
      ${inside.json === ''
        ? nothing
        : html`<p class="inside-detail">
            <code data-field-value="body-json">${inside.json}</code>
            ${this.#copyButton('body-json', 'the body as JSON', inside.json)}
          </p>`}
    </div>`;
  }

  #group(view: FrameView, group: FieldGroup) {
    const titleId = `group-${group.key}`;
    // Not named: a named <section> is a region landmark, and every opened frame would add a few more of the same.
    return html`<section class="group" data-group=${group.key}>
      <h3 id=${titleId}>${group.title}</h3>
      <p class="group-explain">${group.explain}</p>
      ${group.parts.length === 0
        ? nothing
        : html`<div class="parts" role="img" aria-label=${`Token layout: ${group.parts.map((p) => `${p.label} ${p.bytes} bytes`).join(', ')}`}>
            ${group.parts.map(
              (p) => html`<span class="part" data-part=${p.key} data-bytes=${p.bytes}>${p.label} ${p.bytes}</span>`,
            )}
          </div>`}
      <dl>${group.rows.map((row) => this.#row(view, row))}</dl>
    </section>`;
  }

  #row(view: FrameView, row: FieldRow, cut = CUT_AT) {
    const id = `field-${row.key}`;
    const long = row.value.length > cut && !this.full.has(row.key);
    const shown = long ? `${row.value.slice(0, cut)}…` : row.value;
    return html`<div class="field" data-field=${row.key} data-exposed=${row.exposed ? 'true' : 'false'}>
      <dt>
        <span class="label">${row.label}</span>
        ${row.note === '' ? nothing : html`<span class="note">${row.note}</span>`}
      </dt>
      <dd>
        <div class="value-line">
          <code class="value ${row.mono ? 'mono' : 'words'}" id=${id}>${shown}</code>
          <span class="actions">
            ${row.value.length > cut
              ? html`<button
                  class="small"
                  data-testid="show-all"
                  aria-controls=${id}
                  aria-expanded=${long ? 'false' : 'true'}
                  aria-label=${long ? `Show all ${row.value.length} characters of ${row.label}` : `Show less of ${row.label}`}
                  @click=${() => this.#showAll(row.key, long)}
                >
                  ${long ? 'Show all' : 'Show less'}
                </button>`
              : nothing}
            ${row.copyable ? this.#copyButton(row.key, `${row.label} of ${view.title}`, row.value) : nothing}
          </span>
        </div>
        <p class="explain">${row.explain}</p>
        ${row.check === undefined && !row.exposed
          ? nothing
          : html`<p class="verdicts">
              ${row.exposed ? html`<span class="badge exposed" data-verdict="plain">readable by anyone on the network</span>` : nothing}
              ${row.check === undefined
                ? nothing
                : html`${badge(row.check, 'check')}
                    <span class="check-detail" data-verdict=${row.check.verdict}>${row.check.detail}</span>`}
            </p>`}
      </dd>
    </div>`;
  }

  #copyButton(key: string, what: string, value: string) {
    const done = this.copied === key;
    return html`<button
      class="small"
      data-testid="copy"
      data-copied=${done ? 'true' : 'false'}
      aria-label=${`${done ? 'Copied' : 'Copy'} ${what}`}
      @click=${() => void this.#copy(key, what, value)}
    >
      ${done ? 'Copied ✓' : 'Copy'}
    </button>`;
  }

  #showAll(key: string, show: boolean): void {
    const full = new Set(this.full);
    if (show) full.add(key);
    else full.delete(key);
    this.full = full;
  }

  /** Copies through the Clipboard API; where that is missing or refused, selects the whole value instead. */
  async #copy(key: string, what: string, value: string): Promise<void> {
    try {
      if (navigator.clipboard === undefined) throw new Error('no Clipboard API');
      await navigator.clipboard.writeText(value);
      this.copied = key;
      this.status = `Copied ${what}.`;
      clearTimeout(this.#copiedTimer);
      this.#copiedTimer = setTimeout(() => (this.copied = ''), 2000);
    } catch {
      if (!this.full.has(key)) this.#showAll(key, true);
      await this.updateComplete;
      const target = this.renderRoot.querySelector(key === 'body-json' ? '[data-field-value="body-json"]' : `#field-${key}`);
      const selection = document.getSelection();
      if (target !== null && selection !== null) {
        const range = document.createRange();
        range.selectNodeContents(target);
        selection.removeAllRanges();
        selection.addRange(range);
      }
      this.status = `Could not copy: ${what} is selected, press Ctrl+C (⌘C on a Mac).`;
    }
  }
}

customElements.define('wc-frame', WcFrame);

declare global {
  interface HTMLElementTagNameMap {
    'wc-frame': WcFrame;
  }
}
