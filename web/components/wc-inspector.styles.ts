/** wc-inspector's look: the frame list, each frame's summary in a grid that narrows with the panel. */
import { css } from 'lit';

export const inspectorStyles = css`
  :host {
    display: block;
    min-width: 0;
    container: inspector / inline-size;
  }
  :host(:not([open])) {
    display: none;
  }
  section {
    display: flex;
    flex-direction: column;
    height: 100%;
    min-height: 0;
  }
  .head {
    padding: 0.75rem 1rem 0.55rem;
    border-bottom: 1px solid var(--wc-border);
  }
  .title {
    display: flex;
    flex-wrap: wrap;
    align-items: baseline;
    justify-content: space-between;
    gap: 0.25rem 1rem;
  }
  h2 {
    margin: 0;
  }
  #wire-count {
    color: var(--wc-text);
    font-weight: 600;
    font-variant-numeric: tabular-nums;
  }
  .intro {
    margin: 0.3rem 0 0;
    font-size: 0.8rem;
    color: var(--wc-muted);
  }
  .legend {
    display: flex;
    align-items: baseline;
    flex-wrap: wrap;
    gap: 0.2rem 1rem;
    margin: 0;
    padding: 0;
    list-style: none;
    font-size: 0.8rem;
  }
  .legend .arrow {
    margin-right: 0.25rem;
  }
  .limit {
    margin: 0;
    padding: 0.45rem 1rem;
    font-size: 0.8rem;
    color: var(--wc-warn);
    background: var(--wc-warn-bg);
    border-bottom: 1px solid var(--wc-border);
  }
  ol {
    flex: 1;
    min-height: 8rem;
    overflow-y: auto;
    list-style: none;
    margin: 0;
    padding: 0;
  }
  .empty {
    padding: 1.5rem 1rem;
    text-align: center;
    color: var(--wc-muted);
  }
  #wire-frames > li {
    border-bottom: 1px solid var(--wc-border);
    border-left: 4px solid transparent;
  }
  #wire-frames > li[data-direction='out'] {
    border-left-color: var(--wc-accent);
  }
  #wire-frames > li[data-direction='in'] {
    border-left-color: var(--wc-control);
  }
  #wire-frames > li[data-exposed='true'] {
    border-left-color: var(--wc-plain);
  }
  summary {
    display: grid;
    grid-template-columns: 1.1rem auto minmax(0, 1fr) auto 4.4rem 6.4rem;
    grid-template-areas:
      'arrow type route verdict size time'
      '. gist gist gist gist gist';
    align-items: center;
    gap: 0.1rem 0.6rem;
    padding: 0.35rem 0.75rem 0.4rem 0.45rem;
    cursor: pointer;
    font-size: 0.85rem;
    list-style: none;
  }
  summary::-webkit-details-marker {
    display: none;
  }
  summary:hover {
    background: var(--wc-sunken);
  }
  summary:focus-visible {
    outline-offset: -3px;
  }
  /* An open frame's summary stays in view while its fields scroll under it. */
  details[open] > summary {
    position: sticky;
    top: 0;
    z-index: 1;
    background: var(--wc-sunken);
    border-bottom: 1px solid var(--wc-border);
  }
  .arrow {
    grid-area: arrow;
    font-weight: 700;
    text-align: center;
  }
  .type {
    grid-area: type;
  }
  .route {
    grid-area: route;
  }
  .verdict {
    grid-area: verdict;
    justify-self: end;
  }
  .size {
    grid-area: size;
  }
  time {
    grid-area: time;
  }
  .gist {
    grid-area: gist;
  }
  [data-direction='out'] .arrow,
  .legend .out {
    color: var(--wc-accent);
  }
  .route {
    white-space: nowrap;
    color: var(--wc-muted);
    font-size: 0.8rem;
  }
  .type {
    font-family: var(--wc-mono);
    font-weight: 700;
    white-space: nowrap;
  }
  .gist {
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
    font-size: 0.82rem;
  }
  .size,
  time {
    font-family: var(--wc-mono);
    font-size: 0.78rem;
    font-variant-numeric: tabular-nums;
    text-align: right;
    white-space: nowrap;
  }
  time {
    color: var(--wc-muted);
  }
  .detail {
    padding: 0.75rem 1rem 1rem;
    background: var(--wc-surface);
  }
  @container inspector (max-width: 34rem) {
    summary {
      grid-template-columns: 1.1rem auto minmax(0, 1fr) auto;
      grid-template-areas:
        'arrow type route size'
        '. gist gist gist'
        '. verdict time time';
    }
    .verdict {
      justify-self: start;
    }
    .detail {
      padding: 0.6rem 0.6rem 0.8rem;
    }
  }
`;
