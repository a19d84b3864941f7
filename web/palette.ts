/**
 * The page's colours, in one place so that test/web/palette.test.ts can check every pairing the components use
 * against WCAG 2.2 contrast minimums (4.5:1 for text, 3:1 for focus rings and control borders).
 */
export const palette = {
  page: '#f3f5f8',
  surface: '#ffffff',
  sunken: '#eef1f5',
  text: '#16191d',
  muted: '#4a535e',
  border: '#c9d0d9',
  /** Borders of inputs and buttons, which must be seen to be used (WCAG 1.4.11). */
  control: '#6b7480',
  accent: '#0b57a4',
  accentText: '#ffffff',
  focus: '#1659c7',
  secure: '#146c2e',
  secureBg: '#e4f3e8',
  plain: '#a11a12',
  plainBg: '#fdecea',
  plainBanner: '#b3261e',
  plainBannerText: '#ffffff',
  warn: '#7a4a00',
  warnBg: '#fff3dc',
  danger: '#a11a12',
  dangerBg: '#fdecea',
  diffBg: '#ffd8d3',
} as const;

export type PaletteName = keyof typeof palette;

/** Text colour on background colour, for every pairing the components draw. */
export const TEXT_PAIRS: readonly (readonly [PaletteName, PaletteName])[] = [
  ['text', 'page'],
  ['text', 'surface'],
  ['text', 'sunken'],
  ['muted', 'page'],
  ['muted', 'surface'],
  ['muted', 'sunken'],
  ['accent', 'surface'],
  ['accentText', 'accent'],
  ['secure', 'secureBg'],
  ['secure', 'surface'],
  ['plain', 'plainBg'],
  ['plainBannerText', 'plainBanner'],
  ['warn', 'warnBg'],
  ['warn', 'surface'],
  ['danger', 'dangerBg'],
  ['danger', 'surface'],
  ['text', 'warnBg'],
  ['text', 'dangerBg'],
  ['text', 'diffBg'],
  // Under the own lines' gradient (sunken fading into surface), where axe-core cannot measure, and under an
  // opened frame's summary in the inspector: the delivery fate, the failed one, the arrow.
  ['secure', 'sunken'],
  ['danger', 'sunken'],
  ['accent', 'sunken'],
];

/** Non-text elements that must stand out from what is around them. */
export const UI_PAIRS: readonly (readonly [PaletteName, PaletteName])[] = [
  ['focus', 'surface'],
  ['focus', 'page'],
  ['focus', 'sunken'],
  ['control', 'surface'],
  ['accent', 'page'],
];

/** WCAG 2.2 relative luminance of a #rrggbb colour. */
export function luminance(hex: string): number {
  const match = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (match === null) throw new RangeError(`not a #rrggbb colour: ${hex}`);
  const [r, g, b] = match.slice(1).map((part) => {
    const c = parseInt(part, 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG 2.2 contrast ratio, from 1 (none) to 21 (black on white). */
export function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}
