/**
 * Go's `strconv.ParseBool`, which Vault reads booleans in query strings and loosely typed fields with. Pure.
 *
 * @packageDocumentation
 */

const TRUE_WORDS: ReadonlySet<string> = new Set(['1', 't', 'T', 'true', 'TRUE', 'True'])
const FALSE_WORDS: ReadonlySet<string> = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False'])

/** The boolean `text` spells as Go's `ParseBool` reads it (`true`, `1`, `F`, …), or `undefined` for anything else. */
export function parseGoBool(text: string): boolean | undefined {
  if (TRUE_WORDS.has(text)) return true
  return FALSE_WORDS.has(text) ? false : undefined
}
