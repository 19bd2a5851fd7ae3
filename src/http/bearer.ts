/**
 * Reading a token from a request (`X-Vault-Token`, `Authorization: Bearer`, a cookie), the error code → HTTP status
 * table, and Vault's error body. Framework-free: the Express, Koa and node:http adapters all build on it.
 *
 * @packageDocumentation
 */
import type { IncomingHttpHeaders } from 'node:http'

import { TokenStoreError, type TokenStoreErrorCode } from '../errors.js'

/**
 * Where a request may carry its token.
 *
 * - `x-vault-token`: the `X-Vault-Token` header, as Vault's clients send it.
 * - `bearer`: `Authorization: Bearer <token>` (RFC 6750 §2.1), which Vault also accepts.
 * - `cookie`: a cookie, named by `cookieName` (default `token`), for browser sessions.
 */
export type TokenSource = 'x-vault-token' | 'bearer' | 'cookie'

/** Every source, in the order they are tried: the first one present wins, as Vault prefers `X-Vault-Token`. */
export const DEFAULT_TOKEN_SOURCES: readonly TokenSource[] = Object.freeze([
  'x-vault-token',
  'bearer',
  'cookie',
])

/** Name of the cookie read by the `cookie` source unless `cookieName` says otherwise. */
export const DEFAULT_TOKEN_COOKIE = 'token'

/** How to find the token in a request. */
export interface TokenReadOptions {
  /**
   * The places to look, in order; the first one present wins.
   * @default ['x-vault-token', 'bearer', 'cookie']
   */
  readonly sources?: readonly TokenSource[]
  /**
   * The cookie the `cookie` source reads.
   * @default 'token'
   */
  readonly cookieName?: string
}

/** An HTTP answer in framework-neutral form: what the adapters write out. */
export interface HttpResult {
  /** The status code. */
  readonly status: number
  /** Extra response headers. */
  readonly headers?: Readonly<Record<string, string>>
  /** A JSON-serialisable body; absent for an empty body (204). */
  readonly body?: unknown
}

/** Vault's error body: `{ "errors": [message, ...] }`. */
export interface VaultErrorBody {
  /** Human-readable messages. They never contain a token. */
  readonly errors: readonly string[]
}

/**
 * The HTTP status of each {@link TokenStoreErrorCode}, for every adapter. A new code fails to compile until it has
 * a status here.
 */
export const HTTP_STATUS: Readonly<Record<TokenStoreErrorCode, number>> = Object.freeze({
  invalid_token: 403,
  permission_denied: 403,
  invalid_request: 400,
  not_renewable: 400,
  conflict: 409,
  storage_unavailable: 503,
  storage_misconfigured: 500,
})

/** Vault's message for a request without a token. Answered with 401. */
export const MISSING_TOKEN_MESSAGE = 'missing client token'

/** Vault's message for a bad token or a missing permission. Answered with 403. */
export const PERMISSION_DENIED_MESSAGE = 'permission denied'

/** RFC 6750 §2.1: `Bearer` (any case), one or more spaces, then a token68. */
const BEARER_PATTERN = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i

/** Characters allowed in a cookie name (RFC 6265 token). */
const COOKIE_NAME_PATTERN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** Vault's error body for these messages. */
export function errorBody(...messages: string[]): VaultErrorBody {
  return { errors: messages }
}

/** A JSON error answer with Vault's body. */
export function errorResult(status: number, ...messages: string[]): HttpResult {
  return { status, body: errorBody(...messages) }
}

/**
 * The answer for an error thrown while serving a request: a {@link TokenStoreError} gets its status from
 * {@link HTTP_STATUS} and its message (which never holds a token); anything else is a 500 that reveals nothing.
 */
export function errorToResult(error: unknown): HttpResult {
  if (error instanceof TokenStoreError) return errorResult(HTTP_STATUS[error.code], error.message)
  return errorResult(500, 'internal error')
}

/**
 * Checks token-reading options once, when a middleware is built, so a typo fails at startup and not per request.
 *
 * @throws TypeError for an unknown source, an empty list, or a malformed cookie name.
 */
export function resolveReadOptions(options: TokenReadOptions = {}): Required<TokenReadOptions> {
  const sources = options.sources ?? DEFAULT_TOKEN_SOURCES
  if (sources.length === 0) throw new TypeError('Expected `sources` to name at least one source')
  for (const source of sources) {
    if (!DEFAULT_TOKEN_SOURCES.includes(source)) {
      throw new TypeError(`Expected \`sources\` to hold only ${DEFAULT_TOKEN_SOURCES.join(', ')}`)
    }
  }
  const cookieName = options.cookieName ?? DEFAULT_TOKEN_COOKIE
  if (!COOKIE_NAME_PATTERN.test(cookieName)) {
    throw new TypeError('Expected `cookieName` to be a valid cookie name')
  }
  return { sources: Object.freeze([...sources]), cookieName }
}

/**
 * The token a request carries, from the first of `sources` that is present, or `null` when there is none. An
 * `Authorization` header with another scheme (`Basic …`) is not a token source and is skipped.
 */
export function readToken(
  headers: IncomingHttpHeaders,
  options: Required<TokenReadOptions>,
): string | null {
  for (const source of options.sources) {
    const token = readSource(headers, source, options.cookieName)
    if (token !== null) return token
  }
  return null
}

function readSource(
  headers: IncomingHttpHeaders,
  source: TokenSource,
  cookieName: string,
): string | null {
  switch (source) {
    case 'x-vault-token':
      return nonEmpty(headers['x-vault-token'])
    case 'bearer':
      return parseBearer(headers.authorization)
    case 'cookie':
      return readCookie(headers.cookie, cookieName)
  }
}

/** The token of an `Authorization: Bearer <token>` header, or `null` for another scheme or a malformed value. */
export function parseBearer(header: string | undefined): string | null {
  if (header === undefined) return null
  const match = BEARER_PATTERN.exec(header)
  return match?.[1] ?? null
}

/** The value of the named cookie, URI-decoded, or `null`. */
function readCookie(header: string | undefined, name: string): string | null {
  if (header === undefined) return null
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq === -1 || pair.slice(0, eq).trim() !== name) continue
    let value = pair.slice(eq + 1).trim()
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"'))
      value = value.slice(1, -1)
    try {
      return nonEmpty(decodeURIComponent(value))
    } catch {
      return null
    }
  }
  return null
}

function nonEmpty(value: string | readonly string[] | undefined): string | null {
  if (typeof value !== 'string') return null
  const trimmed = value.trim()
  return trimmed === '' ? null : trimmed
}
