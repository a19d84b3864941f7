/** wc-app's look: the page's header and layout, the chat beside its details and the inspector, narrow and wide. */
import { css } from 'lit';

export const appStyles = css`
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
`;
