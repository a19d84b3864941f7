import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
import type { AppView } from '../controller.ts';
import { controls, tokens } from './styles.ts';
import './wc-chat.ts';
import './wc-ended.ts';
import './wc-handshake.ts';
import './wc-identity.ts';
import { rememberedOpen, rememberOpen } from './wc-inspector.ts';
import './wc-join.ts';
import './wc-plain-banner.ts';
import './wc-status.ts';
import './wc-trust-warning.ts';
import type { WcChat } from './wc-chat.ts';
import type { WcJoin } from './wc-join.ts';

/**
 * The page: header with the status, the plain-mode banner, then either the reason the page cannot work here,
 * the name form, or the chat beside the handshake and the server's identity, and the wire inspector when it is
 * open (beside the chat on wide screens, below it on narrow ones). It renders `view` and nothing else;
 * the events of the components below bubble out of it to web/main.ts.
 *
 * Test hooks: `#insecure-context` (shown instead of everything when Web Crypto is unavailable),
 * `#inspector-toggle[aria-expanded]` (during a chat), `wc-inspector#inspector` (Escape inside it closes it), and
 * those of the components (see each file).
 */
export class WcApp extends LitElement {
  static override styles = [
    tokens,
    controls,
    css`
      :host {
        display: flex;
        flex-direction: column;
        min-height: 100vh;
        min-height: 100dvh;
        background: var(--wc-page);
        font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', 'Liberation Sans', Arial, sans-serif;
        line-height: 1.35;
      }
      header {
        display: flex;
        align-items: center;
        justify-content: space-between;
        flex-wrap: wrap;
        gap: 0.5rem 1rem;
        padding: 0.6rem 1.25rem;
        background: var(--wc-surface);
        border-bottom: 1px solid var(--wc-border);
      }
      .brand {
        display: flex;
        align-items: baseline;
        gap: 0.6rem;
      }
      .brand strong {
        font-family: var(--wc-mono);
        font-size: 1.2rem;
        letter-spacing: -0.01em;
      }
      .brand span {
        color: var(--wc-muted);
        font-size: 0.875rem;
      }
      .tools {
        display: flex;
        align-items: center;
        flex-wrap: wrap;
        gap: 0.5rem 1rem;
      }
      #inspector-toggle {
        display: inline-flex;
        align-items: center;
        gap: 0.4rem;
        min-height: 2.25rem;
        padding: 0.3rem 0.85rem;
        font-size: 0.9rem;
      }
      #inspector-toggle[aria-expanded='true'] {
        background: var(--wc-accent);
        border-color: var(--wc-accent);
        color: var(--wc-accent-text);
      }
      #inspector-toggle .state {
        font-family: var(--wc-mono);
        font-weight: 700;
      }
      main {
        flex: 1;
        display: flex;
        flex-direction: column;
        width: 100%;
        max-width: 78rem;
        margin: 0 auto;
        padding: 1.25rem;
        min-height: 0;
      }
      .center {
        margin-top: 6vh;
      }
      .layout {
        flex: 1;
        display: grid;
        grid-template-columns: minmax(0, 1fr) 22.5rem;
        grid-template-areas: 'chat aside' 'inspector inspector';
        gap: 1.25rem;
        min-height: 0;
      }
      .chat {
        grid-area: chat;
        display: flex;
        flex-direction: column;
        min-height: 0;
        height: calc(100dvh - 7.5rem);
        overflow: hidden;
      }
      .plain .chat {
        height: calc(100dvh - 11rem);
      }
      wc-chat {
        flex: 1;
      }
      aside {
        grid-area: aside;
        display: flex;
        flex-direction: column;
        gap: 1.25rem;
      }
      wc-inspector {
        grid-area: inspector;
        height: min(44rem, 85dvh);
      }
      /* Wide enough for both: the chat and the inspector side by side, the identity and handshake below the chat. */
      @media (min-width: 1100px) {
        .layout.inspecting {
          grid-template-columns: minmax(0, 1fr) minmax(0, 2fr);
          grid-template-areas: 'chat inspector' 'aside inspector';
          grid-template-rows: auto 1fr;
        }
        .layout.inspecting wc-inspector {
          align-self: start;
          position: sticky;
          top: 1rem;
          height: calc(100dvh - 7.5rem);
        }
        .plain .layout.inspecting wc-inspector {
          height: calc(100dvh - 11rem);
        }
      }
      .insecure {
        max-width: 40rem;
        padding: 1.25rem 1.5rem;
        border: 2px solid var(--wc-danger);
        line-height: 1.5;
      }
      .insecure h1 {
        font-size: 1.25rem;
        margin: 0 0 0.5rem;
        color: var(--wc-danger);
      }
      .insecure p {
        margin: 0;
      }
      @media (max-width: 820px) {
        main {
          padding: 0.75rem;
        }
        .layout {
          grid-template-columns: minmax(0, 1fr);
          grid-template-areas: 'chat' 'inspector' 'aside';
          gap: 0.75rem;
        }
        wc-inspector {
          height: 85dvh;
        }
        .chat,
        .plain .chat {
          height: auto;
          min-height: 70dvh;
        }
        header {
          padding: 0.5rem 0.75rem;
        }
        .tools {
          flex: 1 1 100%;
        }
        wc-status {
          flex: 1 1 100%;
          font-size: 0.9em;
        }
        .brand span {
          display: none;
        }
        .center {
          margin-top: 0.5rem;
        }
      }
    `,
  ];

  static override properties = {
    view: { attribute: false },
    inspecting: { state: true },
  };

  /** Everything the page shows, from web/controller.ts. */
  declare view: AppView | undefined;
  /** The wire inspector is open; remembered for this tab. */
  declare inspecting: boolean;

  constructor() {
    super();
    this.view = undefined;
    this.inspecting = rememberedOpen();
  }

  override render() {
    const view = this.view;
    if (view === undefined) return nothing;
    const phase = view.state.phase;
    const plain = phase === 'plain' || (view.identity?.mode === 'plain' && phase !== 'ended' && phase !== 'idle');
    // While the changed-key warning is up, nothing behind it can be reached or read out.
    const blocked = view.trustPrompt !== undefined;
    return html`<header ?inert=${blocked}>
        <div class="brand"><strong>wirechat</strong><span>encrypted chat with the server console</span></div>
        <div class="tools">
          ${view.stage === 'chat'
            ? html`<button id="inspector-toggle" aria-expanded=${this.inspecting ? 'true' : 'false'} aria-controls="inspector" @click=${this.#toggleInspector}>
                <span class="state" aria-hidden="true">${this.inspecting ? '▾' : '▸'}</span>Wire inspector
              </button>`
            : nothing}
          <wc-status .state=${view.stage === 'insecure' ? { phase: 'unavailable' } : view.state}></wc-status>
        </div>
      </header>
      ${plain ? html`<wc-plain-banner></wc-plain-banner>` : nothing}
      <main class=${plain ? 'plain' : ''} ?inert=${blocked}>${this.#stage(view)}</main>
      ${view.trustPrompt === undefined ? nothing : html`<wc-trust-warning .prompt=${view.trustPrompt}></wc-trust-warning>`}`;
  }

  override updated(changed: PropertyValues<this>): void {
    const before = changed.get('view');
    const view = this.view;
    if (view === undefined || !changed.has('view')) return;
    const ready = (v: AppView | undefined) => v?.state.phase === 'secure' || v?.state.phase === 'plain';
    if (ready(view) && !ready(before) && view.trustPrompt === undefined) {
      void this.#child<WcChat>('wc-chat')?.updateComplete.then(() => this.#child<WcChat>('wc-chat')?.focusInput());
    }
    if (view.stage === 'join' && before !== undefined && before.stage !== 'join') {
      void this.#child<WcJoin>('wc-join')?.updateComplete.then(() => this.#child<WcJoin>('wc-join')?.focusName());
    }
  }

  #stage(view: AppView) {
    switch (view.stage) {
      case 'insecure':
        return html`<section class="card insecure center" id="insecure-context" role="alert">
          <h1>This page cannot encrypt here</h1>
          <p>${view.insecureReason}</p>
        </section>`;
      case 'join':
        return html`<wc-join class="center" .name=${view.name} .keyPair=${view.keyPair} .error=${view.nameError}></wc-join>`;
      case 'chat': {
        const state = view.state;
        return html`<div class="layout ${this.inspecting ? 'inspecting' : ''}">
          <section class="card chat" aria-labelledby="chat-title">
            <h1 class="visually-hidden" id="chat-title">Chat with the server console</h1>
            <wc-chat
              .entries=${view.entries}
              ?ready=${state.phase === 'secure' || state.phase === 'plain'}
              ?open=${state.phase !== 'ended'}
            ></wc-chat>
            ${state.phase === 'ended' ? html`<wc-ended .end=${state.end}></wc-ended>` : nothing}
          </section>
          <aside aria-label="Connection details">
            <wc-identity .identity=${view.identity} .host=${view.host}></wc-identity>
            <wc-handshake .steps=${view.steps} .mode=${view.identity?.mode} .connection=${view.connection}></wc-handshake>
          </aside>
          <wc-inspector id="inspector" ?open=${this.inspecting} .wire=${view.wire} @keydown=${this.#inspectorKey}></wc-inspector>
        </div>`;
      }
    }
  }

  /**
   * Escape inside the inspector closes it and puts the focus back on its toggle. It is a panel in the page, not a
   * dialog (nothing behind it is blocked, Tab moves on past it), so this is the only key it takes over.
   */
  #inspectorKey(event: KeyboardEvent): void {
    if (event.key !== 'Escape' || event.defaultPrevented) return;
    event.preventDefault();
    void this.#toggleInspector().then(() => this.#child<HTMLButtonElement>('#inspector-toggle')?.focus());
  }

  async #toggleInspector(): Promise<void> {
    this.inspecting = !this.inspecting;
    rememberOpen(this.inspecting);
    if (!this.inspecting) return;
    // Below the chat (narrow screens) it would open out of sight: bring its top into view.
    await this.updateComplete;
    const inspector = this.#child<HTMLElement>('#inspector');
    if (inspector !== null && inspector.getBoundingClientRect().top > window.innerHeight * 0.75) {
      const still = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
      inspector.scrollIntoView({ block: 'start', behavior: still ? 'auto' : 'smooth' });
    }
  }

  #child<T extends Element>(selector: string): T | null {
    return this.renderRoot.querySelector<T>(selector);
  }
}

customElements.define('wc-app', WcApp);

declare global {
  interface HTMLElementTagNameMap {
    'wc-app': WcApp;
  }
}
