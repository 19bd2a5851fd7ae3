/**
 * Options arguments must be plain objects: a `Date`, a `Map` or a class instance passed where options belong is a
 * mistake to report, not empty options to accept.
 */
import { describeValue, invalidRequest } from './errors.js'

/**
 * Checks that an options argument is a plain object (`{ ... }`, or one without a prototype) holding only `allowed`
 * keys. A `Date`, a `Map` or a class instance is refused rather than read as empty options.
 *
 * @throws {@link TokenStoreError} `invalid_request` otherwise.
 */
export function checkKeys(options: unknown, allowed: ReadonlySet<string>, what: string): void {
  if (!isPlainObject(options)) {
    throw invalidRequest(`Expected ${what} to be a plain object, got ${describeOptions(options)}`)
  }
  for (const key of Object.keys(options)) {
    if (!allowed.has(key)) throw invalidRequest(`Unknown option \`${key.slice(0, 64)}\` in ${what}`)
  }
}

/** Names what was passed instead of a plain object, without echoing its contents. */
function describeOptions(value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return describeValue(value)
  const name: unknown = (value as { constructor?: { name?: unknown } }).constructor?.name
  return typeof name === 'string' && /^[A-Za-z_$][\w$]{0,63}$/.test(name)
    ? `a ${name}`
    : 'an object'
}

/** Whether `value` is a plain object: `{ ... }`, or an object without a prototype. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}
