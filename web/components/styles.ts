/**
 * Styles more than one component uses: the colour tokens (from web/palette.ts, contrast-checked in
 * test/web/palette.test.ts), buttons, text fields, focus rings and the screen-reader-only class.
 */
import { css, unsafeCSS, type CSSResult } from 'lit';
import { palette, type PaletteName } from '../palette.ts';

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** `--wc-<name>` custom properties on the root component; they inherit into every shadow root below it. */
export const tokens: CSSResult = unsafeCSS(
  `:host {\n${(Object.keys(palette) as PaletteName[]).map((name) => `  --wc-${kebab(name)}: ${palette[name]};`).join('\n')}\n` +
    `  --wc-mono: ui-monospace, 'SFMono-Regular', 'JetBrains Mono', Menlo, Consolas, 'Liberation Mono', monospace;\n` +
    `  --wc-radius: 8px;\n}`,
);

export const controls = css`
  :host {
    display: block;
    font: inherit;
    color: var(--wc-text);
  }
  *,
  *::before,
  *::after {
    box-sizing: border-box;
  }
  button {
    font: inherit;
    font-weight: 600;
    min-height: 2.5rem;
    padding: 0.45rem 1rem;
    border-radius: 6px;
    border: 1px solid var(--wc-control);
    background: var(--wc-surface);
    color: var(--wc-text);
    cursor: pointer;
  }
  button:hover {
    background: var(--wc-sunken);
  }
  button.primary {
    background: var(--wc-accent);
    border-color: var(--wc-accent);
    color: var(--wc-accent-text);
  }
  button.primary:hover {
    filter: brightness(1.12);
  }
  button.small {
    min-height: 2rem;
    padding: 0.2rem 0.7rem;
    font-size: 0.875rem;
  }
  input[type='text'] {
    font: inherit;
    min-height: 2.5rem;
    padding: 0.45rem 0.7rem;
    border: 1px solid var(--wc-control);
    border-radius: 6px;
    background: var(--wc-surface);
    color: var(--wc-text);
    min-width: 0;
  }
  input[type='checkbox'] {
    width: 1.15rem;
    height: 1.15rem;
    margin: 0;
    accent-color: var(--wc-accent);
  }
  :focus-visible {
    outline: 3px solid var(--wc-focus);
    outline-offset: 2px;
  }
  input[type='text']:focus-visible {
    outline-offset: 0;
    border-color: var(--wc-focus);
  }
  .mono {
    font-family: var(--wc-mono);
  }
  .muted {
    color: var(--wc-muted);
  }
  .visually-hidden {
    position: absolute;
    width: 1px;
    height: 1px;
    padding: 0;
    margin: -1px;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
    border: 0;
  }
  /** A fingerprint in groups of four hex digits; each component sets grid-template-columns. */
  .fingerprint {
    display: grid;
    justify-content: start;
    font-family: var(--wc-mono);
    font-size: 0.95rem;
    letter-spacing: 0.03em;
    background: var(--wc-sunken);
    border-radius: 6px;
    margin: 0;
  }
  .panel {
    padding: 1rem 1.1rem;
  }
  .card {
    background: var(--wc-surface);
    border: 1px solid var(--wc-border);
    border-radius: var(--wc-radius);
  }
  h2 {
    font-size: 0.8rem;
    font-weight: 700;
    letter-spacing: 0.06em;
    text-transform: uppercase;
    color: var(--wc-muted);
    margin: 0 0 0.6rem;
  }
`;

/**
 * Dispatches a bubbling, composed CustomEvent from `host`, so it leaves every shadow root on the way up. Events
 * only tell: whatever comes of one comes back down as properties, never through the event.
 */
export function fire<T>(host: HTMLElement, type: string, detail: T): void {
  host.dispatchEvent(new CustomEvent<T>(type, { detail, bubbles: true, composed: true }));
}
