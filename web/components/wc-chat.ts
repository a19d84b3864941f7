import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import type { ChatEntry, ChatLine } from '../chat-log.ts';
import { controls, fire } from './styles.ts';
import { shownLine } from '../../shared/text.ts';

export interface SendDetail {
  /** The field's text as typed; web/controller.ts checks it. */
  text: string;
}

/**
 * The chat: a log of lines (announced politely as they arrive) and the input. Text is rendered with text
 * bindings only, so markup typed by anyone shows as typed. Own lines carry their fate from the receipts.
 *
 * Test hooks: `#chat-log` (role log); each line `li[data-testid="chat-line"][data-from][data-own][data-status]`
 * (status: received, queued, sending, delivered, failed, not-delivered) `[data-n]` (its chat-wide number, once
 * known) `[data-late]` ("true": replayed after a resume, shown "while you were away"), its text in `.text`; system lines
 * `li[data-testid="system-line"]`; `#chat-input`, `#send-button`, `#chat-error`, `button[data-testid="resend"]`.
 *
 * @fires wc-send - `SendDetail`; the verdict comes back down: `taken` counts up (the field empties) or `error` says why not
 * @fires wc-resend - `{ key }` of a not-delivered line to send again
 */
export class WcChat extends LitElement {
  static override styles = [
    controls,
    css`
      :host {
        display: flex;
        flex-direction: column;
        min-height: 0;
      }
      .log {
        flex: 1;
        min-height: 12rem;
        overflow-y: auto;
        padding: 0.75rem 1rem;
      }
      /* The card around the chat clips what overflows it: the log's focus ring is drawn inside its edges. */
      .log:focus-visible {
        outline-offset: -3px;
      }
      .log ol {
        list-style: none;
        margin: 0;
        padding: 0;
      }
      .empty {
        color: var(--wc-muted);
        text-align: center;
        margin: 2rem 1rem;
      }
      li.line {
        padding: 0.45rem 0.2rem;
        border-bottom: 1px solid var(--wc-sunken);
      }
      li.line[data-own='true'] {
        background: linear-gradient(90deg, var(--wc-sunken), transparent 70%);
        border-left: 3px solid var(--wc-accent);
        padding-left: 0.6rem;
      }
      .meta {
        display: flex;
        flex-wrap: wrap;
        align-items: baseline;
        gap: 0.5rem;
        font-size: 0.85rem;
      }
      .from {
        font-weight: 700;
      }
      time {
        font-family: var(--wc-mono);
        font-size: 0.8rem;
        color: var(--wc-muted);
      }
      .tag {
        font-size: 0.75rem;
        font-weight: 700;
        padding: 0 0.4rem;
        border-radius: 4px;
        border: 1px solid var(--wc-warn);
        color: var(--wc-warn);
        background: var(--wc-warn-bg);
      }
      .text {
        margin: 0.15rem 0 0;
        white-space: pre-wrap;
        overflow-wrap: anywhere;
        line-height: 1.4;
      }
      .fate {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 0.5rem;
        margin: 0.2rem 0 0;
        font-size: 0.8rem;
        color: var(--wc-muted);
      }
      [data-status='delivered'] .fate {
        color: var(--wc-secure);
      }
      [data-status='failed'] .fate,
      [data-status='not-delivered'] .fate {
        color: var(--wc-danger);
        font-weight: 600;
      }
      li[data-late='true'] {
        border-left: 3px solid var(--wc-warn);
        padding-left: 0.5rem;
      }
      .number {
        font-size: 0.75rem;
        color: var(--wc-muted);
        font-variant-numeric: tabular-nums;
      }
      li.system {
        text-align: center;
        font-size: 0.85rem;
        color: var(--wc-muted);
        font-style: italic;
        padding: 0.45rem 0;
      }
      form {
        border-top: 1px solid var(--wc-border);
        padding: 0.75rem 1rem 0.85rem;
      }
      label {
        display: block;
        font-weight: 600;
        font-size: 0.875rem;
        margin-bottom: 0.3rem;
      }
      .row {
        display: flex;
        gap: 0.6rem;
      }
      .row input {
        flex: 1;
      }
      .hint {
        margin: 0.4rem 0 0;
        font-size: 0.8rem;
        color: var(--wc-muted);
      }
      .error {
        margin: 0.4rem 0 0;
        font-size: 0.875rem;
        font-weight: 600;
        color: var(--wc-danger);
      }
      kbd {
        font-family: var(--wc-mono);
        font-size: 0.8rem;
        border: 1px solid var(--wc-border);
        border-radius: 3px;
        padding: 0 0.25rem;
        background: var(--wc-surface);
        color: var(--wc-text);
      }
    `,
  ];

  static override properties = {
    entries: { attribute: false },
    error: { attribute: false },
    taken: { attribute: false },
    ready: { type: Boolean },
    open: { type: Boolean },
  };

  /** The log, oldest first. */
  declare entries: readonly ChatEntry[];
  /** Why the last line typed was refused, shown under the field, which keeps it; empty when it was not. */
  declare error: string;
  /** Lines taken from the field so far: each one empties it. */
  declare taken: number;
  /** True while lines go out at once (secure or plain); otherwise they wait in the outbox. */
  declare ready: boolean;
  /** False once the chat has ended: the input goes away. */
  declare open: boolean;
  #stickToBottom = true;

  constructor() {
    super();
    this.entries = [];
    this.error = '';
    this.taken = 0;
    this.ready = false;
    this.open = true;
  }

  override render() {
    // Only new lines are announced; a line's status changing (sending -> delivered) is shown, not spoken.
    // The log region holds a list: role="log" on the <ol> itself would take away its list semantics (axe's
    // listitem and aria-allowed-role rules), and a screen reader would no longer say "list, 12 items".
    return html`<div
        class="log"
        id="chat-log"
        role="log"
        aria-live="polite"
        aria-relevant="additions"
        aria-label="Chat lines"
        tabindex="0"
        @scroll=${this.#scrolled}
      >
        ${this.entries.length === 0 ? html`<p class="empty">No lines yet. Say hello to the server console.</p>` : nothing}
        <ol>
          ${repeat(
            this.entries,
            (entry) => entry.key,
            (entry) => this.#entry(entry),
          )}
        </ol>
      </div>
      ${
        this.open
          ? html`<form @submit=${this.#submit} novalidate>
            <label for="chat-input">Message</label>
            <div class="row">
              <input
                type="text"
                id="chat-input"
                name="line"
                autocomplete="off"
                aria-describedby=${this.error === '' ? 'chat-hint' : 'chat-hint chat-error'}
              />
              <button class="primary" type="submit" id="send-button">Send</button>
            </div>
            ${this.error === '' ? nothing : html`<p class="error" id="chat-error" role="alert">${this.error}</p>`}
            <p class="hint" id="chat-hint">
              ${
                this.ready
                  ? html`<kbd>Enter</kbd> sends. Type <kbd>EXIT</kbd> or <kbd>END</kbd> to leave the chat.`
                  : 'Not connected right now: lines wait in the outbox and go out once the chat is secure again.'
              }
            </p>
          </form>`
          : nothing
      }`;
  }

  override willUpdate(changed: PropertyValues<this>): void {
    // A line was taken: the field is emptied for the next one, and the log follows it to the bottom.
    if (changed.has('taken') && changed.get('taken') !== undefined) {
      const input = this.renderRoot.querySelector<HTMLInputElement>('#chat-input');
      if (input !== null) input.value = '';
      this.#stickToBottom = true;
    }
  }

  override updated(changed: PropertyValues<this>): void {
    // Reading scrollHeight lays the page out there and then; an empty log (the chat just shown, its handshake
    // under way) has nothing to follow, so it is spared that layout.
    if (changed.has('entries') && this.#stickToBottom && this.entries.length > 0) {
      const log = this.renderRoot.querySelector('#chat-log');
      if (log !== null) log.scrollTop = log.scrollHeight;
    }
  }

  focusInput(): void {
    this.renderRoot.querySelector<HTMLInputElement>('#chat-input')?.focus();
  }

  #entry(entry: ChatEntry) {
    const time = html`<time datetime=${new Date(entry.at).toISOString()}>${clock(entry.at)}</time>`;
    if (entry.kind === 'system') {
      return html`<li class="system" data-testid="system-line">${entry.text} ${time}</li>`;
    }
    return html`<li
      class="line"
      data-testid="chat-line"
      data-key=${entry.key}
      data-from=${entry.from}
      data-own=${entry.own ? 'true' : 'false'}
      data-status=${entry.status ?? 'received'}
      data-n=${entry.n ?? nothing}
      data-late=${entry.late ? 'true' : 'false'}
    >
      <div class="meta">
        <span class="from">${entry.from}${entry.own ? ' (you)' : ''}</span>
        ${time} ${entry.direct ? html`<span class="tag">direct message</span>` : nothing}
        ${entry.late ? html`<span class="tag late">while you were away</span>` : nothing}
        ${entry.n === undefined ? nothing : html`<span class="number" title="line number in this chat">#${entry.n}</span>`}
      </div>
      <p class="text">${shownLine(entry.text)}</p>
      ${entry.own ? this.#fate(entry) : nothing}
    </li>`;
  }

  #fate(line: ChatLine) {
    const words = {
      queued: 'waiting in the outbox',
      sending: 'sending…',
      delivered: '✓ delivered',
      failed: `✗ failed: ${line.reason ?? ''}`,
      'not-delivered': `✗ not delivered: ${line.reason ?? ''}`,
    }[line.status ?? 'queued'];
    return html`<p class="fate">
      <span class="status-text">${words}${line.resent ? ' (sent again below)' : ''}</span>
      ${
        line.resendable
          ? html`<button class="small" data-testid="resend" @click=${() => fire(this, 'wc-resend', { key: line.key })}>
            Resend
          </button>`
          : nothing
      }
    </p>`;
  }

  #scrolled(event: Event): void {
    const log = event.currentTarget as HTMLElement;
    this.#stickToBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  }

  #submit(event: SubmitEvent): void {
    event.preventDefault();
    const input = this.renderRoot.querySelector<HTMLInputElement>('#chat-input');
    if (input === null || input.value === '') return;
    fire<SendDetail>(this, 'wc-send', { text: input.value });
  }
}

/** HH:MM:SS in this machine's time. */
function clock(at: number): string {
  return new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

customElements.define('wc-chat', WcChat);

declare global {
  interface HTMLElementTagNameMap {
    'wc-chat': WcChat;
  }
}
