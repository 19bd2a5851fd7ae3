/**
 * Policy lists: sanitizing and the subset check for child tokens. Pure functions.
 *
 * Vault sanitizes policy names by trimming, lower-casing, dropping empties and duplicates and sorting; a list
 * holding `root` is just `['root']`, since root already grants everything.
 */
import { describeValue, invalidRequest } from './errors.js'

/** The all-powerful policy. A token that holds it is privileged: it may create orphans, set ids and periods. */
export const ROOT_POLICY = 'root'

/** The policy every non-root token gets unless created with `noDefaultPolicy`. */
export const DEFAULT_POLICY = 'default'

/** Longest policy name accepted. */
const MAX_POLICY_NAME_LENGTH = 256

/** Most policies on one token. */
const MAX_POLICIES = 256

/**
 * Policies no token may be given, nor anyone write or delete (Vault's non-assignable, immutable policies):
 * `response-wrapping` marks the wrapping tokens only the store issues, and a written one would give every wrapping
 * token its rules; `control-group` is Vault Enterprise's.
 */
export const NON_ASSIGNABLE_POLICIES: readonly string[] = Object.freeze([
  'response-wrapping',
  'control-group',
])

/**
 * What no policy name may hold, in a written policy's name as in a token's or role's list: control characters
 * (C0, DEL, C1) and lone surrogates, so that names print and log safely and survive UTF-8 unchanged.
 */
// eslint-disable-next-line no-control-regex
export const UNPRINTABLE_NAME_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]|\p{Cs}/u

/**
 * Identical sanitized lists share one frozen array, so a million tokens with `['default']` hold one array between
 * them rather than a million.
 */
const interned = new Map<string, readonly string[]>()
const MAX_INTERNED = 10_000

/**
 * Checks that `value` is an array of strings and returns them trimmed, lower-cased, deduplicated and sorted.
 *
 * @throws {@link TokenStoreError} `invalid_request` when it is not an array of at most 256 strings, or a name is
 *   too long or holds a control character or lone surrogate.
 */
export function parsePolicies(value: unknown, field = 'policies'): string[] {
  if (!Array.isArray(value)) {
    throw invalidRequest(
      `Expected \`${field}\` to be an array of strings, got ${describeValue(value)}`,
    )
  }
  if (value.length > MAX_POLICIES) {
    throw invalidRequest(
      `Expected \`${field}\` to hold at most ${MAX_POLICIES} names, got ${value.length}`,
    )
  }
  const names = new Set<string>()
  for (const [index, item] of value.entries()) {
    if (typeof item !== 'string') {
      throw invalidRequest(
        `Expected \`${field}[${index}]\` to be a string, got ${describeValue(item)}`,
      )
    }
    const name = item.trim().toLowerCase()
    if (name.length > MAX_POLICY_NAME_LENGTH) {
      throw invalidRequest(
        `Expected \`${field}[${index}]\` to be at most ${MAX_POLICY_NAME_LENGTH} characters, got ${name.length}`,
      )
    }
    if (UNPRINTABLE_NAME_CHARACTERS.test(name)) {
      throw invalidRequest(
        `Expected \`${field}[${index}]\` to hold no control characters or lone surrogates`,
      )
    }
    if (name !== '') names.add(name)
  }
  return [...names].sort()
}

/**
 * Final policy list of a token: `root` collapses the list to `['root']`; otherwise `default` is added unless
 * `noDefaultPolicy`. The result is frozen and shared between identical lists.
 */
export function finalizePolicies(names: readonly string[], addDefault: boolean): readonly string[] {
  let list: string[]
  if (names.includes(ROOT_POLICY)) list = [ROOT_POLICY]
  else if (addDefault && !names.includes(DEFAULT_POLICY)) list = [...names, DEFAULT_POLICY].sort()
  else list = [...names]
  return intern(list)
}

/** Returns a shared frozen copy of a sorted list. */
export function intern(list: readonly string[]): readonly string[] {
  const key = list.join('\n')
  const found = interned.get(key)
  if (found) return found
  const frozen = Object.freeze([...list])
  if (interned.size < MAX_INTERNED) interned.set(key, frozen)
  return frozen
}

/** Whether the policy list grants root. */
export function isRoot(policies: readonly string[]): boolean {
  return policies.includes(ROOT_POLICY)
}

/** Names in `requested` that `held` does not have; empty when `requested` is a subset. */
export function missingPolicies(requested: readonly string[], held: readonly string[]): string[] {
  return requested.filter((name) => !held.includes(name))
}
