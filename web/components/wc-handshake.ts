import { LitElement, css, html } from 'lit';
import type { Mode } from '../../shared/protocol.ts';
import type { StepView } from '../controller.ts';
import { PLAIN_READY_LABEL, STEP_ORDER, STEPS } from '../steps.ts';
import { controls } from './styles.ts';

/**
 * The handshake as it happens: every step, done or still to come, with the milliseconds since it began.
 *
 * Test hooks: `#handshake-steps`, each `li[data-step][data-done]`, its time in `.ms`.
 */
export class WcHandshake extends LitElement {
  static override styles = [
    controls,
    css`
      .attempt {
        font-weight: 400;
        text-transform: none;
        letter-spacing: 0;
      }
      ol {
        list-style: none;
        margin: 0;
        padding: 0;
      }
      li {
        display: grid;
        grid-template-columns: 1.4rem 1fr auto;
        align-items: center;
        gap: 0.35rem;
        padding: 0.28rem 0;
        color: var(--wc-muted);
        font-size: 0.925rem;
      }
      li + li {
        border-top: 1px dashed var(--wc-border);
      }
      li[data-done='true'] {
        color: var(--wc-text);
      }
      .mark {
        font-weight: 700;
        text-align: center;
      }
      li[data-done='true'] .mark {
        color: var(--wc-secure);
      }
      .ms {
        font-family: var(--wc-mono);
        font-size: 0.85rem;
        font-variant-numeric: tabular-nums;
      }
    `,
  ];

  static override properties = {
    steps: { attribute: false },
    mode: {},
    connection: { type: Number },
  };

  /** Steps done so far, in order. */
  declare steps: readonly StepView[];
  /** Known once the server has answered; plain mode has no keys to unwrap. */
  declare mode: Mode | undefined;
  /** 0 for the first connection of the chat, then +1 per reconnect. */
  declare connection: number;

  constructor() {
    super();
    this.steps = [];
    this.mode = undefined;
    this.connection = 0;
  }

  override render() {
    const done = new Map(this.steps.map((s) => [s.step, s.ms]));
    const plain = this.mode === 'plain' && done.has('trusted');
    return html`<section class="card panel" aria-labelledby="handshake-title">
      <h2 id="handshake-title">
        Handshake${this.connection > 0 ? html` <span class="attempt">(reconnect ${this.connection})</span>` : ''}
      </h2>
      <ol id="handshake-steps">
        ${STEP_ORDER.map((step) => {
          const ms = done.get(step);
          const skipped = plain && step === 'unwrapped';
          const text = step === 'ready' && plain ? PLAIN_READY_LABEL : STEPS[step].label;
          return html`<li data-step=${step} data-done=${ms !== undefined ? 'true' : 'false'}>
            <span class="mark" aria-hidden="true">${ms !== undefined ? '✓' : skipped ? '–' : '○'}</span>
            <span>${text}${ms === undefined && !skipped ? html`<span class="visually-hidden"> (not yet)</span>` : ''}</span>
            <span class="ms">${ms !== undefined ? `${ms} ms` : skipped ? 'skipped' : ''}</span>
          </li>`;
        })}
      </ol>
    </section>`;
  }
}

customElements.define('wc-handshake', WcHandshake);

declare global {
  interface HTMLElementTagNameMap {
    'wc-handshake': WcHandshake;
  }
}
