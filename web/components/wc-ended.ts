import { LitElement, css, html } from 'lit';
import type { EndReason } from '../connection.ts';
import { endText } from '../status-text.ts';
import { controls, fire } from './styles.ts';

/**
 * The end of a chat, and why: every end says so. An integrity failure is an alert that names the check that
 * failed (the frame itself is never shown). Offers a new chat.
 *
 * Test hooks: `#chat-ended[data-by]` (you, server, plain-refused, integrity, trust, error), `#end-reason`,
 * `#integrity-alert` (integrity failures only), `#new-chat`.
 *
 * @fires wc-new-chat - the person wants to start over
 */
export class WcEnded extends LitElement {
  static override styles = [
    controls,
    css`
      section {
        border-top: 1px solid var(--wc-border);
        padding: 0.9rem 1rem 1rem;
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        justify-content: space-between;
        gap: 0.75rem 1rem;
      }
      section[data-by='integrity'],
      section[data-by='plain-refused'],
      section[data-by='trust'],
      section[data-by='error'] {
        background: var(--wc-danger-bg);
        border-top: 3px solid var(--wc-danger);
      }
      /* An h2 under the chat's h1, but not the small capitals of the panels' titles (styles.ts). */
      h2 {
        margin: 0 0 0.2rem;
        font-size: 1rem;
        letter-spacing: normal;
        text-transform: none;
        color: var(--wc-text);
      }
      [data-by='integrity'] h2,
      [data-by='plain-refused'] h2,
      [data-by='trust'] h2,
      [data-by='error'] h2 {
        color: var(--wc-danger);
      }
      p {
        margin: 0;
        line-height: 1.4;
        overflow-wrap: anywhere;
      }
      .text {
        flex: 1 1 20rem;
      }
    `,
  ];

  static override properties = {
    end: { attribute: false },
  };

  /** Why the chat ended. */
  declare end: EndReason;

  constructor() {
    super();
    this.end = { by: 'you', word: 'EXIT' };
  }

  override render() {
    const integrity = this.end.by === 'integrity';
    return html`<section id="chat-ended" data-by=${this.end.by} role=${integrity ? 'alert' : 'status'}>
      <div class="text" id=${integrity ? 'integrity-alert' : 'end-text'}>
        <h2>${integrity ? 'Integrity check failed: chat closed' : 'The chat has ended'}</h2>
        <p id="end-reason">${endText(this.end)}</p>
      </div>
      <button class="primary" id="new-chat" @click=${() => fire(this, 'wc-new-chat', undefined)}>Start a new chat</button>
    </section>`;
  }

  override firstUpdated(): void {
    this.renderRoot.querySelector<HTMLButtonElement>('#new-chat')?.focus();
  }
}

customElements.define('wc-ended', WcEnded);

declare global {
  interface HTMLElementTagNameMap {
    'wc-ended': WcEnded;
  }
}
