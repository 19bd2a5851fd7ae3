/**
 * One shared copy of a string, for the keys the ACL compares requests against. Pure.
 *
 * @packageDocumentation
 */

/**
 * `text` as a flat string of its own, the engine's shared copy where it keeps one (V8 interns property names).
 *
 * Why: a pattern parsed from HCL is a slice of the policy's text, and comparing a request path with a slice goes
 * through the parent string each time; a shared copy is compared in place, and with a path that is itself shared
 * (a string literal, say) by reference alone. A lookup that hits an exact rule costs a third as much. Call it when
 * an ACL is built, never per request.
 *
 * @example
 * ```ts
 * internalized('secret/' + 'app') === 'secret/app' // true: the same characters, whatever the copy
 * ```
 */
export function internalized(text: string): string {
  // A computed key defines an own property even for `__proto__`; `Object.keys` hands back the key as stored.
  return Object.keys({ [text]: 0 })[0] ?? text
}
