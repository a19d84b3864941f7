/** confusables.txt's prototypes as the unhomoglyph package ships them: one code point to its prototype string. */
declare module 'unhomoglyph/data.json' {
  const prototypes: Readonly<Record<string, string>>;
  export default prototypes;
}
