import { LitElement, html, nothing } from 'lit';
import type { CheckView, FieldGroup, FieldRow, FrameView, InsideView } from '../inspect.ts';
import { badge, badgeStyles } from './badge.ts';
import { controls } from './styles.ts';
import { frameStyles } from './wc-frame.styles.ts';

/** Values longer than this are cut, with a button that shows all of them. */
export const CUT_AT = 120;
/** The raw frame beside the decrypted body has half the width. */
const WIRE_CARD_CUT = 90;

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
  static override styles = [controls, badgeStyles, frameStyles];

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
      ${
        inside.json === ''
          ? nothing
          : html`<p class="inside-detail">
            <code data-field-value="body-json">${inside.json}</code>
            ${this.#copyButton('body-json', 'the body as JSON', inside.json)}
          </p>`
      }
    </div>`;
  }

  #group(view: FrameView, group: FieldGroup) {
    const titleId = `group-${group.key}`;
    // Not named: a named <section> is a region landmark, and every opened frame would add a few more of the same.
    return html`<section class="group" data-group=${group.key}>
      <h3 id=${titleId}>${group.title}</h3>
      <p class="group-explain">${group.explain}</p>
      ${
        group.parts.length === 0
          ? nothing
          : html`<div class="parts" role="img" aria-label=${`Token layout: ${group.parts.map((p) => `${p.label} ${p.bytes} bytes`).join(', ')}`}>
            ${group.parts.map(
              (p) => html`<span class="part" data-part=${p.key} data-bytes=${p.bytes}>${p.label} ${p.bytes}</span>`,
            )}
          </div>`
      }
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
            ${
              row.value.length > cut
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
                : nothing
            }
            ${row.copyable ? this.#copyButton(row.key, `${row.label} of ${view.title}`, row.value) : nothing}
          </span>
        </div>
        <p class="explain">${row.explain}</p>
        ${
          row.check === undefined && !row.exposed
            ? nothing
            : html`<p class="verdicts">
              ${row.exposed ? html`<span class="badge exposed" data-verdict="plain">readable by anyone on the network</span>` : nothing}
              ${
                row.check === undefined
                  ? nothing
                  : html`${badge(row.check, 'check')}
                    <span class="check-detail" data-verdict=${row.check.verdict}>${row.check.detail}</span>`
              }
            </p>`
        }
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
      const target = this.renderRoot.querySelector(
        key === 'body-json' ? '[data-field-value="body-json"]' : `#field-${key}`,
      );
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
