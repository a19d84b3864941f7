/** wc-frame's look: the wire card beside what it carries, the token's byte map, and the field rows. */
import { css } from 'lit';

export const frameStyles = css`
  :host {
    display: block;
    font-size: 0.875rem;
  }
  .compare {
    display: grid;
    grid-template-columns: minmax(0, 1fr) minmax(0, 1fr);
    gap: 0.75rem;
    margin: 0 0 0.9rem;
  }
  .wire-card,
  .inside {
    min-width: 0;
    padding: 0.55rem 0.75rem 0.65rem;
    border-radius: 6px;
    border: 1px solid var(--wc-border);
    background: var(--wc-surface);
  }
  .wire-card {
    border-top: 4px solid var(--wc-control);
  }
  .wire-card h3,
  .inside-label {
    margin: 0;
    font-size: 0.75rem;
    font-weight: 700;
    letter-spacing: 0.05em;
    text-transform: uppercase;
    color: var(--wc-muted);
  }
  .wire-card dl {
    border: 0;
  }
  .wire-card .field {
    grid-template-columns: minmax(0, 1fr);
    border: 0;
    padding: 0;
  }
  /* Not shown (the card's title says it), but still read out as the term the value belongs to. */
  .wire-card dt .label {
    position: absolute;
    width: 1px;
    height: 1px;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
  }
  .wire-card dt .note {
    margin: 0 0 0.3rem;
  }
  .wire-card .value-line {
    grid-template-columns: minmax(0, 1fr);
  }
  .wire-card .actions {
    justify-content: flex-start;
    order: -1;
    margin: -1.85rem 0 0 auto;
  }
  .wire-card dt .note {
    min-height: 1.75rem;
  }
  .inside {
    border-top: 4px solid var(--wc-accent);
  }
  .inside[data-exposed='true'] {
    border-color: var(--wc-plain);
    border-left-color: var(--wc-plain);
    background: var(--wc-plain-bg);
  }
  .inside .inside-label {
    color: var(--wc-accent);
  }
  .inside[data-exposed='true'] .inside-label {
    color: var(--wc-plain);
  }
  #inside-text {
    margin: 0.35rem 0 0.45rem;
    font-size: 1.15rem;
    font-weight: 600;
    white-space: pre-wrap;
    overflow-wrap: anywhere;
  }
  .inside-kind {
    margin: 0.1rem 0 0;
    font-size: 0.75rem;
    color: var(--wc-muted);
  }
  .inside[data-exposed='true'] .inside-kind {
    color: var(--wc-plain);
  }
  .inside-head {
    display: flex;
    flex-wrap: wrap;
    align-items: center;
    justify-content: space-between;
    gap: 0.25rem 0.5rem;
  }
  .inside-detail {
    display: grid;
    grid-template-columns: minmax(0, 1fr) auto;
    align-items: start;
    gap: 0.4rem;
    margin: 0;
    font-size: 0.75rem;
  }
  .inside-detail code {
    font-family: var(--wc-mono);
    color: var(--wc-text);
    overflow-wrap: anywhere;
    user-select: all;
  }
  .group + .group {
    margin-top: 0.9rem;
  }
  h3 {
    margin: 0;
    font-size: 0.9rem;
  }
  .group-explain {
    margin: 0.1rem 0 0.45rem;
    color: var(--wc-muted);
    font-size: 0.8rem;
  }
  .parts {
    display: flex;
    flex-wrap: wrap;
    margin: 0 0 0.5rem;
    border: 1px solid var(--wc-control);
    border-radius: 4px;
    overflow: hidden;
    font-size: 0.72rem;
    font-family: var(--wc-mono);
  }
  .part {
    flex: 1 1 0;
    min-width: max-content;
    padding: 0.2rem 0.4rem;
    background: var(--wc-sunken);
    color: var(--wc-text);
    white-space: nowrap;
  }
  .part + .part {
    border-left: 1px solid var(--wc-control);
  }
  .part[data-part='ciphertext'] {
    background: var(--wc-accent);
    color: var(--wc-accent-text);
  }
  .part[data-part='hmac'] {
    background: var(--wc-secure-bg);
    color: var(--wc-secure);
  }
  dl {
    margin: 0;
    border-top: 1px solid var(--wc-border);
  }
  .field {
    display: grid;
    grid-template-columns: 8.5rem minmax(0, 1fr);
    gap: 0.15rem 0.9rem;
    padding: 0.4rem 0;
    border-bottom: 1px solid var(--wc-border);
  }
  dt .label {
    display: block;
    font-weight: 700;
  }
  dt .note {
    display: block;
    color: var(--wc-muted);
    font-size: 0.75rem;
    line-height: 1.3;
    margin-top: 0.1rem;
  }
  dd {
    margin: 0;
    min-width: 0;
  }
  .value-line {
    display: grid;
    grid-template-columns: minmax(0, 1fr) auto;
    align-items: start;
    gap: 0.4rem;
  }
  .actions {
    display: flex;
    flex-wrap: wrap;
    justify-content: flex-end;
    gap: 0.3rem;
  }
  .value {
    display: block;
    margin: 0;
    padding: 0.25rem 0.45rem;
    border-radius: 4px;
    background: var(--wc-sunken);
    color: var(--wc-text);
    white-space: pre-wrap;
    overflow-wrap: anywhere;
    word-break: break-all;
    user-select: text;
    font-size: 0.875rem;
  }
  .value.words {
    word-break: normal;
  }
  .value.mono {
    font-family: var(--wc-mono);
    font-size: 0.8rem;
    line-height: 1.5;
  }
  .field[data-exposed='true'] .value {
    background: var(--wc-plain-bg);
    color: var(--wc-plain);
  }
  .explain {
    margin: 0.2rem 0 0;
    color: var(--wc-muted);
    font-size: 0.8rem;
    line-height: 1.35;
  }
  .verdicts {
    display: flex;
    flex-wrap: wrap;
    align-items: baseline;
    gap: 0.2rem 0.5rem;
    margin: 0.3rem 0 0;
  }
  .check-detail {
    font-size: 0.78rem;
    color: var(--wc-muted);
    overflow-wrap: anywhere;
  }
  .check-detail[data-verdict='failed'] {
    color: var(--wc-danger);
    font-weight: 600;
  }
  button.small {
    min-height: 1.75rem;
    padding: 0.1rem 0.55rem;
    font-size: 0.78rem;
  }
  button[data-copied='true'] {
    color: var(--wc-secure);
    border-color: var(--wc-secure);
  }
  @container inspector (max-width: 40rem) {
    .compare {
      grid-template-columns: minmax(0, 1fr);
    }
  }
  @container inspector (max-width: 34rem) {
    .field {
      grid-template-columns: minmax(0, 1fr);
    }
    dt {
      display: flex;
      flex-wrap: wrap;
      align-items: baseline;
      gap: 0 0.5rem;
    }
    .actions {
      flex-direction: column;
    }
  }
`;
