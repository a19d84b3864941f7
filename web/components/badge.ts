/**
 * A check's outcome as a pill (web/inspect.ts's CheckView), for the inspector's list and for wc-frame: a mark and
 * a word, so that colour is never the only sign.
 */
import { css, html, type CSSResult, type TemplateResult } from 'lit';
import type { CheckView } from '../inspect.ts';

const MARK: Record<CheckView['verdict'], string> = {
  made: '●',
  verified: '✓',
  failed: '✗',
  unchecked: '–',
  plain: '!',
};

/** `kind`: a class for where it stands (a field's `check`, a frame's `verdict`). */
export function badge(check: CheckView, kind: 'check' | 'verdict'): TemplateResult {
  return html`<span class="badge ${kind}" data-verdict=${check.verdict} title=${check.detail}
    >${MARK[check.verdict]} ${check.label}</span
  >`;
}

/** The pill's look, for every component that shows one. */
export const badgeStyles: CSSResult = css`
  .badge {
    font-size: 0.75rem;
    font-weight: 700;
    padding: 0.05rem 0.45rem;
    border-radius: 999px;
    border: 1px solid currentColor;
    white-space: nowrap;
  }
  .badge[data-verdict='verified'] {
    color: var(--wc-secure);
    background: var(--wc-secure-bg);
  }
  .badge[data-verdict='failed'],
  .badge[data-verdict='plain'] {
    color: var(--wc-danger);
    background: var(--wc-danger-bg);
  }
  .badge[data-verdict='made'] {
    color: var(--wc-accent);
    background: var(--wc-surface);
  }
  .badge[data-verdict='unchecked'] {
    color: var(--wc-muted);
    background: var(--wc-surface);
  }
`;
