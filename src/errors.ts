/**
 * The one error class tokentree throws, and its closed set of codes.
 *
 * @packageDocumentation
 */

/**
 * Why an operation failed. The set is closed and each code is stable: match on it, never on the message.
 *
 * - `invalid_token`: the token is unknown, expired, revoked, used up, or has a revoked or expired ancestor.
 *   HTTP 403, as Vault answers a bad token.
 * - `permission_denied`: the calling token may not do this (policy escalation, an orphan, a custom id or a period
 *   without `root`, a limited-use parent creating a child). HTTP 403.
 * - `invalid_request`: malformed input (a bad duration, a fractional `numUses`, policies that are not strings...).
 *   HTTP 400.
 * - `not_renewable`: the token cannot be renewed (created non-renewable, never expires, or at its max TTL).
 *   HTTP 400.
 * - `conflict`: the id or accessor already exists. HTTP 409.
 * - `storage_unavailable`: the storage backend failed; the operation may be retried. HTTP 503.
 * - `storage_misconfigured`: the storage answers but is not set up for this version of tokentree (a PostgreSQL
 *   schema that `migrate()` never ran, or ran for an older version); retrying will not help until an operator
 *   fixes it. HTTP 500.
 */
export type TokenStoreErrorCode =
  | 'invalid_token'
  | 'permission_denied'
  | 'invalid_request'
  | 'not_renewable'
  | 'conflict'
  | 'storage_unavailable'
  | 'storage_misconfigured'

/**
 * The error every tokentree operation rejects with. Its `code` is stable; its message names the field, the rule and
 * what was received, but never a token id or a hash of one (a token-shaped word in a message is replaced by
 * `[redacted]`).
 *
 * @example Telling a bad token from an outage
 * ```ts
 * try {
 *   await store.authenticate(token)
 * } catch (err) {
 *   if (err instanceof TokenStoreError && err.code === 'invalid_token') return deny()
 *   throw err
 * }
 * ```
 */
export class TokenStoreError extends Error {
  override readonly name = 'TokenStoreError'

  /**
   * @param code - The stable error code.
   * @param message - What went wrong, without secrets.
   * @param options - `cause`: the underlying error (for `storage_unavailable`, the driver's error).
   */
  constructor(
    readonly code: TokenStoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(withoutTokens(message), options)
  }
}

/**
 * A service or batch token as it appears in text (its prefix in any case, then at least 8 of its characters),
 * wherever it starts (`x_hvs.…` too): a caller who puts a token where a name belongs (a policy, a role) would
 * otherwise see it echoed by the message that refuses the name, and so would every log the message reaches. A
 * custom id (`create({ id })`) has no shape to find: it is echoed like any name.
 */
const TOKEN_SHAPED = /hv[sb]\.[A-Za-z0-9_-]{8,}/gi

/** `message` with every token-shaped word replaced by `[redacted]`. */
function withoutTokens(message: string): string {
  return message.includes('.') ? message.replace(TOKEN_SHAPED, '[redacted]') : message
}

/** Describes a received value for an error message without echoing it (it may be a secret). */
export function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : `${value}`
  if (typeof value === 'string') return `a string of length ${value.length}`
  return typeof value
}

/**
 * Reads caller input with `read`, reporting anything but a `TokenStoreError` it throws (a getter or Proxy in the
 * options that throws) as `invalid_request`: the input is at fault, not the storage.
 */
export function readInput<T>(read: () => T): T {
  try {
    return read()
  } catch (error) {
    throw inputError(error)
  }
}

/**
 * What {@link readInput} throws for `error`, thrown while reading caller input: a `TokenStoreError` as it is,
 * anything else as `invalid_request`. For the hot paths that read input without a closure.
 */
export function inputError(error: unknown): TokenStoreError {
  if (error instanceof TokenStoreError) return error
  return new TokenStoreError(
    'invalid_request',
    'The options could not be read: reading them threw',
    {
      cause: error,
    },
  )
}

/** Shorthand for the most common error: malformed input. */
export function invalidRequest(message: string): TokenStoreError {
  return new TokenStoreError('invalid_request', message)
}
