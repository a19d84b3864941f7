import { LitElement, css, html } from 'lit';
import type { TrustPrompt } from '../controller.ts';
import { controls, fire } from './styles.ts';

/**
 * The loud warning for a server whose key differs from the one remembered for its host: both fingerprints,
 * the groups that differ marked, and two ways out. Disconnect has the focus, so Enter (or Escape) is the safe
 * choice. Nothing is sent to the server until the person picks one.
 *
 * Test hooks: `#trust-warning`, `#pinned-fingerprint`, `#presented-fingerprint`, `#trust-disconnect`,
 * `#trust-accept`.
 *
 * @fires wc-trust-decision - `{ trust: boolean }`
 */
export class WcTrustWarning extends LitElement {
  static override styles = [
    controls,
    css`
      :host {
        position: fixed;
        inset: 0;
        z-index: 10;
        display: grid;
        place-items: center;
        padding: 1rem;
        background: rgb(22 25 29 / 0.55);
        overflow: auto;
      }
      .dialog {
        max-width: 40rem;
        width: 100%;
        background: var(--wc-surface);
        border: 3px solid var(--wc-danger);
        border-radius: var(--wc-radius);
        box-shadow: 0 12px 40px rgb(0 0 0 / 0.35);
      }
      header {
        background: var(--wc-danger-bg);
        color: var(--wc-danger);
        padding: 0.9rem 1.2rem;
        border-bottom: 1px solid var(--wc-danger);
      }
      h2 {
        all: unset;
        display: block;
        font-size: 1.25rem;
        font-weight: 800;
      }
      .body {
        padding: 1rem 1.2rem 1.2rem;
        line-height: 1.45;
      }
      p {
        margin: 0 0 0.75rem;
      }
      .label {
        font-weight: 700;
        font-size: 0.875rem;
        margin: 0.75rem 0 0.3rem;
      }
      .fingerprint {
        grid-template-columns: repeat(8, auto);
        gap: 0.1rem 0.55rem;
        padding: 0.5rem 0.65rem;
      }
      mark {
        background: var(--wc-diff-bg);
        color: var(--wc-text);
        border-radius: 3px;
        outline: 1px solid var(--wc-danger);
      }
      .actions {
        display: flex;
        flex-wrap: wrap;
        gap: 0.75rem;
        margin-top: 1.2rem;
      }
      #trust-accept {
        color: var(--wc-danger);
        border-color: var(--wc-danger);
      }
      @media (max-width: 560px) {
        .fingerprint {
          grid-template-columns: repeat(4, auto);
        }
        .actions button {
          flex: 1 1 100%;
        }
      }
    `,
  ];

  static override properties = {
    prompt: { attribute: false },
  };

  /** The host and both fingerprints. */
  declare prompt: TrustPrompt;

  constructor() {
    super();
    this.prompt = { host: '', pinned: '', presented: '' };
  }

  override render() {
    const { host, pinned, presented } = this.prompt;
    return html`<div
      class="dialog"
      id="trust-warning"
      role="alertdialog"
      aria-modal="true"
      aria-labelledby="trust-title"
      aria-describedby="trust-desc"
      @keydown=${this.#keydown}
    >
      <header><h2 id="trust-title">Warning: the server's key has changed</h2></header>
      <div class="body">
        <p id="trust-desc">
          The server at <strong>${host}</strong> signed this handshake with a different key than the one this
          browser remembered for it. Either the server got a new key (a reinstall, a deleted key file), or
          someone between you and the server is intercepting the connection. Nothing has been sent yet.
        </p>
        <p>Check the fingerprint on the server console before you trust it.</p>
        <p class="label">Remembered fingerprint</p>
        ${this.#fingerprint('pinned-fingerprint', pinned, presented)}
        <p class="label">Fingerprint presented now</p>
        ${this.#fingerprint('presented-fingerprint', presented, pinned)}
        <div class="actions">
          <button class="primary" id="trust-disconnect" @click=${() => this.#decide(false)}>Disconnect</button>
          <button id="trust-accept" @click=${() => this.#decide(true)}>Trust the new key</button>
        </div>
      </div>
    </div>`;
  }

  override firstUpdated(): void {
    this.renderRoot.querySelector<HTMLButtonElement>('#trust-disconnect')?.focus();
  }

  /** Groups that differ from the other fingerprint are marked, so a change is seen without reading 64 digits. */
  #fingerprint(id: string, shown: string, other: string) {
    const others = other.split(' ');
    return html`<p class="fingerprint" id=${id} data-fingerprint=${shown}>
      ${shown.split(' ').map((group, i) => (group === others[i] ? html`<span>${group} </span>` : html`<mark>${group} </mark>`))}
    </p>`;
  }

  /** Escape disconnects; Tab stays on the two buttons while the warning is up. */
  #keydown(event: KeyboardEvent): void {
    if (event.key === 'Escape') {
      event.preventDefault();
      this.#decide(false);
      return;
    }
    if (event.key !== 'Tab') return;
    const buttons = [...this.renderRoot.querySelectorAll<HTMLButtonElement>('button')];
    const at = buttons.indexOf(this.shadowRoot?.activeElement as HTMLButtonElement);
    const next = buttons[(at + (event.shiftKey ? buttons.length - 1 : 1)) % buttons.length];
    event.preventDefault();
    next?.focus();
  }

  #decide(trust: boolean): void {
    fire(this, 'wc-trust-decision', { trust });
  }
}

customElements.define('wc-trust-warning', WcTrustWarning);

declare global {
  interface HTMLElementTagNameMap {
    'wc-trust-warning': WcTrustWarning;
  }
}
