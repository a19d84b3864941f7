import { LitElement, css, html } from 'lit';
import { controls } from './styles.ts';

/**
 * The red banner shown for as long as a chat is in plain mode: nothing is encrypted, and the person should
 * never forget it. Test hook: `#plain-banner`.
 */
export class WcPlainBanner extends LitElement {
  static override styles = [
    controls,
    css`
      .banner {
        background: var(--wc-plain-banner);
        color: var(--wc-plain-banner-text);
        padding: 0.7rem 1.25rem;
        text-align: center;
        font-size: 1rem;
        border-bottom: 3px solid var(--wc-text);
      }
      strong {
        font-weight: 800;
        letter-spacing: 0.02em;
      }
      span {
        display: block;
        font-size: 0.875rem;
        margin-top: 0.15rem;
      }
    `,
  ];

  override render() {
    return html`<div class="banner" id="plain-banner" role="alert">
      <strong>PLAIN MODE: anyone on the network can read this chat</strong>
      <span>You allowed this for the Wireshark demo. Every line crosses the wire as readable JSON.</span>
    </div>`;
  }
}

customElements.define('wc-plain-banner', WcPlainBanner);

declare global {
  interface HTMLElementTagNameMap {
    'wc-plain-banner': WcPlainBanner;
  }
}
