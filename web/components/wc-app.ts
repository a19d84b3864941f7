import { LitElement, html, nothing, type PropertyValues } from 'lit';
import type { AppView } from '../controller.ts';
import { rememberedOpen, rememberOpen } from './inspector-memory.ts';
import { controls, tokens } from './styles.ts';
import { appStyles } from './wc-app.styles.ts';
import './wc-chat.ts';
import './wc-ended.ts';
import './wc-handshake.ts';
import './wc-identity.ts';
import './wc-inspector.ts';
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
  static override styles = [tokens, controls, appStyles];

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
          ${
            view.stage === 'chat'
              ? html`<button id="inspector-toggle" aria-expanded=${this.inspecting ? 'true' : 'false'} aria-controls="inspector" @click=${this.#toggleInspector}>
                <span class="state" aria-hidden="true">${this.inspecting ? '▾' : '▸'}</span>Wire inspector
              </button>`
              : nothing
          }
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
              .error=${view.composer.error}
              .taken=${view.composer.taken}
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
