import { LitElement, css, html, nothing } from 'lit';
import { requestedNameProblem } from '../../shared/names.ts';
import type { KeyPairView } from '../controller.ts';
import { controls, fire } from './styles.ts';

export interface ConnectDetail {
  name: string;
  acceptPlain: boolean;
}

/**
 * The name form: a name already filled in (one Enter starts the chat), the plain-mode opt-in, and Connect.
 * It also shows the page's key pair being made meanwhile.
 *
 * Test hooks: `#name-input`, `#plain-opt-in`, `#connect-button`, `#name-error`, `#keypair-state[data-state]`.
 *
 * @fires wc-connect - `{ name, acceptPlain }`, once the name passes the protocol's check
 */
export class WcJoin extends LitElement {
  static override styles = [
    controls,
    css`
      form {
        max-width: 34rem;
        margin: 0 auto;
        padding: 1.5rem 1.5rem 1.25rem;
      }
      h1 {
        font-size: 1.35rem;
        margin: 0 0 0.35rem;
      }
      p.lead {
        margin: 0 0 1.25rem;
        color: var(--wc-muted);
        line-height: 1.45;
      }
      label.field {
        display: block;
        font-weight: 600;
        margin-bottom: 0.35rem;
      }
      .row {
        display: flex;
        gap: 0.6rem;
      }
      .row input {
        flex: 1;
      }
      .opt-in {
        display: flex;
        gap: 0.6rem;
        align-items: flex-start;
        margin: 1rem 0 0;
        padding: 0.7rem 0.8rem;
        border: 1px solid var(--wc-border);
        border-radius: 6px;
        background: var(--wc-sunken);
        line-height: 1.4;
      }
      .opt-in input {
        margin-top: 0.15rem;
        flex: none;
      }
      .opt-in small {
        display: block;
        color: var(--wc-muted);
      }
      .error {
        color: var(--wc-danger);
        margin: 0.4rem 0 0;
        font-weight: 600;
      }
      .keypair {
        margin: 1rem 0 0;
        font-size: 0.875rem;
        color: var(--wc-muted);
      }
      .keypair[data-state='failed'] {
        color: var(--wc-danger);
      }
      @media (max-width: 480px) {
        form {
          padding: 1.1rem 1rem 1rem;
        }
        .row {
          flex-direction: column;
        }
      }
    `,
  ];

  static override properties = {
    name: {},
    keyPair: { attribute: false },
    error: { attribute: false },
  };

  /** The name offered; the person may change it. */
  declare name: string;
  /** How the page's key pair is coming along. */
  declare keyPair: KeyPairView;
  /** Why the name cannot be used: this form's own check, or the server's refusal (set by the app). */
  declare error: string;

  constructor() {
    super();
    this.name = '';
    this.keyPair = { state: 'generating', ms: 0 };
    this.error = '';
  }

  override render() {
    return html`<form class="card" @submit=${this.#submit} novalidate>
      <h1>Join the chat</h1>
      <p class="lead">
        Your browser makes a key pair, the server proves who it is, and every line is encrypted before it leaves
        this tab.
      </p>
      <label class="field" for="name-input">Your name</label>
      <div class="row">
        <input
          type="text"
          id="name-input"
          name="name"
          .value=${this.name}
          maxlength="64"
          autocomplete="nickname"
          spellcheck="false"
          aria-invalid=${this.error === '' ? 'false' : 'true'}
          aria-describedby=${this.error === '' ? nothing : 'name-error'}
        />
        <button class="primary" type="submit" id="connect-button">Connect</button>
      </div>
      ${this.error === '' ? nothing : html`<p class="error" id="name-error" role="alert">${this.error}</p>`}
      <label class="opt-in" for="plain-opt-in">
        <input type="checkbox" id="plain-opt-in" name="acceptPlain" />
        <span>
          Allow plain mode (unencrypted, for the Wireshark demo)
          <small>Only if the server asks for it. A red banner stays up for as long as it lasts.</small>
        </span>
      </label>
      <p class="keypair" id="keypair-state" data-state=${this.keyPair.state}>${this.#keyPairText()}</p>
    </form>`;
  }

  /** Puts the cursor in the name field with the offered name selected, so typing replaces it. */
  focusName(): void {
    const input = this.renderRoot.querySelector<HTMLInputElement>('#name-input');
    input?.focus();
    input?.select();
  }

  override firstUpdated(): void {
    this.focusName();
  }

  #keyPairText(): string {
    switch (this.keyPair.state) {
      case 'generating':
        return 'Making your RSA-OAEP 3072-bit key pair…';
      case 'ready':
        return `Your RSA-OAEP 3072-bit key pair is ready (${this.keyPair.ms} ms). Its private key cannot leave this tab.`;
      case 'failed':
        return 'Making the key pair failed; reload the page to try again.';
    }
  }

  #submit(event: SubmitEvent): void {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const name = (form.elements.namedItem('name') as HTMLInputElement).value;
    const acceptPlain = (form.elements.namedItem('acceptPlain') as HTMLInputElement).checked;
    // The same rules the server applies (shared/names.ts), but for the skeleton: the server decides.
    const problem = requestedNameProblem(name);
    this.error = problem === undefined ? '' : `Pick another name: ${problem}.`;
    if (problem !== undefined) {
      this.focusName();
      return;
    }
    fire<ConnectDetail>(this, 'wc-connect', { name: name.trim(), acceptPlain });
  }
}

customElements.define('wc-join', WcJoin);

declare global {
  interface HTMLElementTagNameMap {
    'wc-join': WcJoin;
  }
}
