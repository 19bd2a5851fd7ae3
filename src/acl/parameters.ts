/**
 * Request parameters against a rule's `allowed_parameters`, `denied_parameters` and `required_parameters`, as
 * Vault's `AllowOperation` checks them. Pure.
 */
import { parseGoBool } from '../go-bool.js'

/** The parameter constraints of the rule that applies (merged across policies). */
export interface ParameterRules {
  /** Lower-cased name → allowed values (empty: any value); empty map: no restriction. */
  readonly allowed: ReadonlyMap<string, readonly unknown[]>
  /** Lower-cased name → denied values (empty: any value). */
  readonly denied: ReadonlyMap<string, readonly unknown[]>
  /** Names a request must pass. */
  readonly required: readonly string[]
}

/**
 * Why `parameters` break the rules, or `undefined` when they keep them. Vault's order: required first; then no
 * parameters at all passes; then denied (`*` denies any parameter); then allowed (`*` allows unlisted names).
 */
export function parameterViolation(
  rules: ParameterRules,
  parameters: Readonly<Record<string, unknown>>,
): string | undefined {
  for (const name of rules.required) {
    if (!Object.hasOwn(parameters, name.toLowerCase())) {
      return `the required parameter ${quote(name)} is missing`
    }
  }
  const names = Object.keys(parameters)
  if (names.length === 0) return undefined
  if (rules.denied.size > 0) {
    if (rules.denied.has('*')) return 'every parameter is denied'
    for (const name of names) {
      const list = rules.denied.get(name.toLowerCase())
      if (list !== undefined && inDeniedList(parameters[name], list)) {
        return `the parameter ${quote(name)} has a denied value`
      }
    }
  }
  if (rules.allowed.size === 0) return undefined
  const allowAll = rules.allowed.has('*')
  if (allowAll && rules.allowed.size === 1) return undefined
  for (const name of names) {
    const list = rules.allowed.get(name.toLowerCase())
    if (list === undefined) {
      if (!allowAll) return `the parameter ${quote(name)} is not allowed`
    } else if (!inAllowedList(parameters[name], list)) {
      return `the parameter ${quote(name)} has a value that is not allowed`
    }
  }
  return undefined
}

function quote(name: string): string {
  return JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}…` : name)
}

/**
 * Vault's `valueInAllowedParameterList`: an empty list allows anything; otherwise the value must match, or every
 * element of an array value must, or every item of a comma-separated string must. Stricter than Vault: an array or
 * string with no items at all (`[]`, `""`) is not vacuously allowed, since it still means something to the
 * endpoint (no policies: the parent's; `num_uses: ""`: no limit); it passes only if the list matches it as it is.
 */
function inAllowedList(value: unknown, list: readonly unknown[]): boolean {
  if (list.length === 0 || inList(value, list)) return true
  const items = Array.isArray(value) ? (value as unknown[]) : commaItems(value)
  return items !== undefined && items.length > 0 && items.every((item) => inList(item, list))
}

/**
 * Vault's `valueInDeniedParameterList`: an empty list denies anything; otherwise the value matches, or any element
 * of an array value does, or any item of a comma-separated string does.
 */
function inDeniedList(value: unknown, list: readonly unknown[]): boolean {
  if (list.length === 0 || inList(value, list)) return true
  const items = Array.isArray(value) ? (value as unknown[]) : commaItems(value)
  return items !== undefined && items.some((item) => inList(item, list))
}

/** A string read as Vault's comma-separated string slice (split on `,`, items trimmed); other values: none. */
function commaItems(value: unknown): string[] | undefined {
  if (typeof value !== 'string') return undefined
  if (value === '') return []
  return value.split(',').map((item) => item.trim())
}

/**
 * Vault's `valueInParameterList`: null matches null, strings match globs, anything else deep-equals; and, as
 * Vault's weak decoding reads a request, a scalar matches the same value in another type (see {@link weakEqual}).
 */
function inList(value: unknown, list: readonly unknown[]): boolean {
  for (const element of list) {
    if (element === null || element === undefined || value === null || value === undefined) {
      if ((element ?? null) === (value ?? null)) return true
    } else if (typeof element === 'string' && typeof value === 'string') {
      if (globMatch(element, value)) return true
    } else if (deepEqual(element, value) || weakEqual(element, value)) {
      return true
    }
  }
  return false
}

/**
 * Whether two scalars of different types are the same value as a weakly decoding endpoint reads them: the number
 * `1` and the string `"1"`; `true` and `"true"`, `"t"` or `"1"` (Go's `ParseBool`); `true` and any non-zero
 * number. So a policy's `num_uses = ["0"]` or `renewable = ["true"]` holds against the decoded `0` and `true` the
 * Vault API checks, and `num_uses = [1]` against a `"1"` a client sent to a middleware.
 */
function weakEqual(a: unknown, b: unknown): boolean {
  if (typeof a === typeof b) return false
  const [text, other] =
    typeof a === 'string' ? [a, b] : typeof b === 'string' ? [b, a] : [null, null]
  if (text !== null) {
    if (typeof other === 'number') return text.trim() !== '' && Number(text) === other
    if (typeof other === 'boolean') return parseGoBool(text) === other
    return false
  }
  if (typeof a === 'number' && typeof b === 'boolean') return (a !== 0) === b
  if (typeof a === 'boolean' && typeof b === 'number') return (b !== 0) === a
  return false
}

/**
 * Vault's `strutil.GlobbedStringsMatch`: a leading and/or trailing `*` matches any suffix, prefix or substring.
 * A pattern shorter than two characters matches only itself, so `"*"` alone matches only `"*"`, as in Vault.
 */
export function globMatch(pattern: string, value: string): boolean {
  if (pattern.length < 2) return pattern === value
  const leading = pattern.startsWith('*')
  const trailing = pattern.endsWith('*')
  if (leading && trailing) return value.includes(pattern.slice(1, -1))
  if (leading) return value.endsWith(pattern.slice(1))
  if (trailing) return value.startsWith(pattern.slice(0, -1))
  return pattern === value
}

/** Structural equality of JSON-like values; the policy side is at most 64 levels deep, which bounds the recursion. */
function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    return a.every((item, index) => deepEqual(item, b[index]))
  }
  if (Array.isArray(b)) return false
  const keysA = Object.keys(a)
  if (keysA.length !== Object.keys(b).length) return false
  return keysA.every(
    (key) =>
      Object.hasOwn(b, key) &&
      deepEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
  )
}
