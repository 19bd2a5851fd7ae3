/**
 * The framework-free half of the `tokenAuth` and `requirePolicies` middleware: turn request headers into a
 * `TokenInfo` (one `authenticate` call) or into the 401/403 answer.
 *
 * @packageDocumentation
 */
import type { IncomingHttpHeaders } from 'node:http'

import { TokenStoreError } from '../errors.js'
import { authenticateNow, type TokenStore } from '../token-store.js'
import type { TokenInfo } from '../types.js'
import {
  MISSING_TOKEN_MESSAGE,
  PERMISSION_DENIED_MESSAGE,
  errorResult,
  errorToResult,
  readToken,
  resolveReadOptions,
  type HttpResult,
  type TokenReadOptions,
} from './bearer.js'
import {
  authRefusal,
  renderRefusal,
  resolveErrorFormat,
  resolveScope,
  type ErrorFormatOptions,
  type ScopeOptions,
  type TokenRefusal,
} from './error-format.js'

/** Options of `tokenAuth()`. */
export interface TokenAuthOptions extends TokenReadOptions, ErrorFormatOptions, ScopeOptions {
  /**
   * Let requests without any token through, with no token attached. A token that is present but bad is still
   * refused.
   * @default false
   */
  readonly optional?: boolean
  /**
   * Whether checking the token spends one of its uses. `true` calls `store.authenticate` (Vault's behaviour for a
   * request); `false` calls `store.lookup` instead, which does **not** charge a limited-use token (`numUses`), so
   * such a token then works for any number of requests: use it only for routes that merely read who is calling.
   * @default true
   */
  readonly spendUse?: boolean
}

/** The outcome of {@link authenticateHeaders}: the token (or `null` when optional and absent), or the refusal. */
export type GuardOutcome =
  | { readonly ok: true; readonly token: TokenInfo | null }
  | { readonly ok: false; readonly result: HttpResult; readonly refusal: TokenRefusal }

/** A checked `tokenAuth` configuration. */
export interface TokenGuard {
  /**
   * Authenticates the request carrying these headers: exactly one `authenticate` call when a token is present. The
   * outcome comes synchronously when there is nothing to wait for (no token, or a MemoryStorage), so that the
   * adapters can call `next()` without a promise hop; otherwise as a promise, which never rejects.
   */
  (headers: IncomingHttpHeaders): GuardOutcome | Promise<GuardOutcome>
}

/** The outcome of an optional `tokenAuth()` on a request without a token: one frozen object for all of them. */
const NO_TOKEN: GuardOutcome = Object.freeze({ ok: true, token: null })

/**
 * Builds the check behind `tokenAuth()`: reads the token, calls `store.authenticate` once (using one use), and
 * answers 401 when there is no token and 403 when it is bad. The answers never contain the token.
 *
 * @throws TypeError at build time for malformed options.
 */
export function createTokenGuard(store: TokenStore, options: TokenAuthOptions = {}): TokenGuard {
  const read = resolveReadOptions(options)
  const optional = options.optional ?? false
  const format = resolveErrorFormat(options.errorFormat)
  const scope = resolveScope(options.scope)
  const spendUse = options.spendUse ?? true
  if (typeof spendUse !== 'boolean') throw new TypeError('Expected `spendUse` to be a boolean')
  const challenge = read.sources.includes('bearer')
  const refuse = (error: unknown): GuardOutcome => {
    const refusal = authRefusal(error, format)
    return { ok: false, refusal, result: renderRefusal(refusal, format, challenge, scope) }
  }
  const admit = (token: TokenInfo): GuardOutcome => ({ ok: true, token })
  const admitFound = (found: TokenInfo | null): GuardOutcome =>
    found === null
      ? refuse(new TokenStoreError('invalid_token', PERMISSION_DENIED_MESSAGE))
      : { ok: true, token: found }
  return (headers) => {
    const token = readToken(headers, read)
    if (token === null) return optional ? NO_TOKEN : refuse(undefined)
    if (!spendUse) return store.lookup(token).then(admitFound, refuse)
    let info: TokenInfo | Promise<TokenInfo>
    try {
      info = authenticateNow(store, token)
    } catch (error) {
      return refuse(error)
    }
    return info instanceof Promise ? info.then(admit, refuse) : admit(info)
  }
}

/**
 * The answer to a failed `authenticate`: Vault's 403 `permission denied` for a bad token (whatever the reason, so
 * a client cannot probe which tokens exist), the status table's answer for anything else (503 for storage).
 */
export function authFailure(error: unknown): HttpResult {
  if (
    error instanceof TokenStoreError &&
    (error.code === 'invalid_token' || error.code === 'invalid_request')
  ) {
    return errorResult(403, PERMISSION_DENIED_MESSAGE)
  }
  return errorToResult(error)
}

/** Options of `requirePolicies()`, given after the policy names: `requirePolicies('admin', { scope: 'admin' })`. */
export type RequirePoliciesOptions = ScopeOptions

/** `requirePolicies()`'s arguments: policy names, then optionally an options object. */
export type RequirePoliciesArguments =
  [...policies: string[], options: RequirePoliciesOptions] | string[]

/**
 * Splits `requirePolicies()`'s arguments into the names and the options (a trailing object), checking the scope.
 *
 * @throws TypeError at build time for a malformed scope.
 */
export function splitPolicyArguments(args: RequirePoliciesArguments): {
  policies: readonly string[]
  scope: string | undefined
} {
  const last: unknown = args.at(-1)
  if (typeof last !== 'object' || last === null)
    return { policies: args as string[], scope: undefined }
  return {
    policies: args.slice(0, -1) as string[],
    scope: resolveScope((last as RequirePoliciesOptions).scope),
  }
}

/**
 * Builds the check behind `requirePolicies()`: the token must hold every named policy, or `root`. Names are
 * compared as Vault stores them: trimmed and lower-cased.
 *
 * @throws TypeError at build time when no name is given or a name is not a non-empty string.
 */
export function createPolicyCheck(
  policies: readonly string[],
): (token: TokenInfo | null | undefined) => HttpResult | null {
  if (policies.length === 0) throw new TypeError('Expected at least one policy name')
  const required = policies.map((name) => {
    const clean = typeof name === 'string' ? name.trim().toLowerCase() : ''
    if (clean === '') throw new TypeError('Expected policy names to be non-empty strings')
    return clean
  })
  return (token) => {
    // No tokenAuth before this check (or an optional one that found no token): fail closed.
    if (token == null) return errorResult(401, MISSING_TOKEN_MESSAGE)
    const held: unknown = token.policies
    // `req.token` is the host's to overwrite: a string's `includes('root')` would match `'rootless'`. Fail closed.
    if (!Array.isArray(held)) return errorResult(403, PERMISSION_DENIED_MESSAGE)
    if (held.includes('root')) return null
    // A plain loop, not `required.every(…)`: that allocates a closure over `held` on every request.
    for (const name of required) {
      if (!held.includes(name)) return errorResult(403, PERMISSION_DENIED_MESSAGE)
    }
    return null
  }
}
