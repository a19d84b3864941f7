import { LitElement, css, html } from 'lit';
import type { IdentityView } from '../controller.ts';
import { controls } from './styles.ts';

/**
 * Who the server is: its fingerprint (SHA-256 of its public key, 16 groups of four hex digits, to compare with
 * the console's), the code of this session, and how the fingerprint compared with the one remembered.
 *
 * Test hooks: `#fingerprint[data-fingerprint]` (the exact string), `#session-code`, `#trust-note[data-trust]` (first, same, replaced).
 */
export class WcIdentity extends LitElement {
  static override styles = [
    controls,
    css`
      dl {
        margin: 0;
      }
      dt {
        font-weight: 600;
        font-size: 0.875rem;
        margin-top: 0.75rem;
      }
      dt:first-child {
        margin-top: 0;
      }
      dd {
        margin: 0.3rem 0 0;
      }
      .fingerprint {
        grid-template-columns: repeat(4, auto);
        gap: 0.15rem 0.75rem;
        padding: 0.55rem 0.7rem;
      }
      .code {
        font-family: var(--wc-mono);
        font-size: 1.45rem;
        font-weight: 700;
        letter-spacing: 0.08em;
      }
      .hint {
        font-size: 0.8rem;
        color: var(--wc-muted);
        margin: 0.25rem 0 0;
      }
      .note {
        margin: 0.9rem 0 0;
        padding: 0.45rem 0.65rem;
        border-radius: 6px;
        font-size: 0.875rem;
        font-weight: 600;
        color: var(--wc-secure);
        background: var(--wc-secure-bg);
      }
      .note[data-trust='replaced'] {
        color: var(--wc-warn);
        background: var(--wc-warn-bg);
      }
      .waiting {
        color: var(--wc-muted);
        margin: 0;
      }
    `,
  ];

  static override properties = {
    identity: { attribute: false },
    host: {},
  };

  /** Known once the server's signature has verified. */
  declare identity: IdentityView | undefined;
  /** The host the fingerprint is remembered for. */
  declare host: string;

  constructor() {
    super();
    this.identity = undefined;
    this.host = '';
  }

  override render() {
    const identity = this.identity;
    return html`<section class="card panel" aria-labelledby="identity-title">
      <h2 id="identity-title">Server identity</h2>
      ${
        identity === undefined
          ? html`<p class="waiting">Shown once the server's signature checks out.</p>`
          : html`<dl>
              <dt>Fingerprint</dt>
              <dd>
                <code class="fingerprint" id="fingerprint" data-testid="fingerprint" data-fingerprint=${identity.fingerprint}
                  >${identity.fingerprint.split(' ').map((group) => html`<span>${group} </span>`)}</code
                >
                <p class="hint">Compare with the fingerprint the server console prints.</p>
              </dd>
              <dt>Session code</dt>
              <dd>
                <code class="code" id="session-code" data-testid="session-code">${identity.sessionCode}</code>
                <p class="hint">The console shows the same code for this session.</p>
              </dd>
            </dl>
            ${this.#note(identity)}`
      }
    </section>`;
  }

  #note(identity: IdentityView) {
    const text = {
      first: `First time: fingerprint remembered for ${this.host}.`,
      same: `Matches the fingerprint remembered for ${this.host}.`,
      replaced: `Changed key trusted by you; now remembered for ${this.host}.`,
    }[identity.trust];
    return html`<p class="note" id="trust-note" data-trust=${identity.trust}>${text}</p>`;
  }
}

customElements.define('wc-identity', WcIdentity);

declare global {
  interface HTMLElementTagNameMap {
    'wc-identity': WcIdentity;
  }
}
