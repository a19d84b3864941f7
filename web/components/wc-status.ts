import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
import { closeText, reconnectText, statusText, type StatusState } from '../status-text.ts';
import { controls, fire } from './styles.ts';

/**
 * The connection's state, always visible. The words are announced politely; the reconnect countdown ticks
 * beside them, hidden from screen readers so that they are not told every second.
 *
 * Test hooks: `#status[data-state]` is the phase (idle, connecting, securing, secure, plain, disconnected,
 * ended, unavailable), `data-end` says who ended it (see EndReason) and `data-paused` that the page stopped
 * retrying by itself; `#retry-now` skips the backoff wait, or goes on after a pause.
 *
 * @fires wc-retry-now - the person asked to reconnect without waiting
 */
export class WcStatus extends LitElement {
  static override styles = [
    controls,
    css`
      :host {
        min-width: 0;
      }
      .status {
        display: flex;
        align-items: center;
        gap: 0.5rem;
        flex-wrap: wrap;
        font-size: 0.9rem;
        font-weight: 600;
        padding: 0.3rem 0.75rem;
        border-radius: 8px;
        line-height: 1.3;
        color: var(--tone, var(--wc-text));
        border: 1px solid var(--tone, var(--wc-border));
        background: var(--tone-bg, var(--wc-surface));
      }
      .dot {
        width: 0.65rem;
        height: 0.65rem;
        border-radius: 50%;
        background: var(--tone, var(--wc-muted));
        flex: none;
      }
      /* One tone per state: text, border and dot in the tone, on its light background. */
      [data-state='secure'] {
        --tone: var(--wc-secure);
        --tone-bg: var(--wc-secure-bg);
      }
      [data-state='plain'],
      [data-state='unavailable'],
      [data-end='integrity'],
      [data-end='plain-refused'],
      [data-end='trust'],
      [data-end='error'] {
        --tone: var(--wc-danger);
        --tone-bg: var(--wc-danger-bg);
      }
      [data-state='disconnected'] {
        --tone: var(--wc-warn);
        --tone-bg: var(--wc-warn-bg);
      }
      /* The dot pulses only once a wait has lasted a second: a shorter one needs no motion, and without a GPU
         every animated frame is drawn in software (about 90 ms of CPU a second in headless Chromium, measured),
         taken from the key pair's prime search that the wait is usually for. */
      [data-state='connecting'] .dot,
      [data-state='securing'] .dot {
        background: var(--wc-accent);
        animation: pulse 1s ease-in-out 1s infinite alternate;
      }
      @keyframes pulse {
        to {
          opacity: 0.25;
        }
      }
      @media (prefers-reduced-motion: reduce) {
        .dot {
          animation: none !important;
        }
      }
    `,
  ];

  static override properties = {
    state: { attribute: false },
    now: { state: true },
  };

  /** The connection's state (web/connection.ts), or unavailable when the page cannot encrypt here. */
  declare state: StatusState;
  declare now: number;
  #ticker: ReturnType<typeof setInterval> | undefined;

  constructor() {
    super();
    this.state = { phase: 'idle' };
    this.now = Date.now();
  }

  override render() {
    const state = this.state;
    return html`<div class="status" id="status" data-state=${state.phase} data-end=${state.phase === 'ended' ? state.end.by : nothing}
      data-paused=${state.phase === 'disconnected' && state.paused ? 'true' : nothing}>
      <span class="dot" aria-hidden="true"></span>
      <span role="status" aria-live="polite" id="status-text">${this.#spoken(state)}</span>
      ${
        state.phase === 'disconnected'
          ? html`<span aria-hidden="true" id="status-countdown">${reconnectText(state, this.now)}</span>
            <button class="small" id="retry-now" @click=${this.#retryNow}>Reconnect now</button>`
          : nothing
      }
    </div>`;
  }

  override willUpdate(changed: PropertyValues<this>): void {
    // The countdown starts from the moment the state arrived, not from the last tick.
    if (changed.has('state')) this.now = Date.now();
  }

  override updated(): void {
    const ticking = this.state.phase === 'disconnected' && !this.state.paused;
    if (ticking && this.#ticker === undefined) {
      this.#ticker = setInterval(() => (this.now = Date.now()), 250);
    } else if (!ticking && this.#ticker !== undefined) {
      clearInterval(this.#ticker);
      this.#ticker = undefined;
    }
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearInterval(this.#ticker);
    this.#ticker = undefined;
  }

  #spoken(state: StatusState): string {
    if (state.phase !== 'disconnected') return statusText(state, this.now);
    return `Disconnected (${closeText(state)}):`;
  }

  #retryNow(): void {
    fire(this, 'wc-retry-now', undefined);
  }
}

customElements.define('wc-status', WcStatus);

declare global {
  interface HTMLElementTagNameMap {
    'wc-status': WcStatus;
  }
}
