/**
 * How the middleware answers a refused request: Vault's `{ "errors": [...] }` or RFC 6750's bearer-token errors,
 * or the host's own `onError`. Framework-free: the Express and Koa adapters only write the result out.
 *
 * @packageDocumentation
 */
import { TokenStoreError, type TokenStoreErrorCode } from '../errors.js'
import {
  HTTP_STATUS,
  MISSING_TOKEN_MESSAGE,
  PERMISSION_DENIED_MESSAGE,
  errorResult,
  type HttpResult,
} from './bearer.js'

/**
 * The shape of the middleware's error answers.
 *
 * - `vault` (default): Vault's `{ "errors": [message] }`; no token is 401, a bad token or a missing policy 403.
 * - `rfc6750`: OAuth 2.0 bearer-token errors (RFC 6750 §3): no token is 401 with a bare `WWW-Authenticate: Bearer`
 *   challenge, a bad token 401 with `Bearer error="invalid_token"`, a missing policy or capability 403 with
 *   `Bearer error="insufficient_scope"`; the body is `{ "error": ..., "error_description": ... }`.
 */
export type ErrorFormat = 'vault' | 'rfc6750'

/** The error formats, in the order they are documented. */
export const ERROR_FORMATS: readonly ErrorFormat[] = Object.freeze(['vault', 'rfc6750'])

/** RFC 6750's JSON error body, as the `rfc6750` format writes it. */
export interface BearerErrorBody {
  /** An RFC 6750 error code (`invalid_token`, `insufficient_scope`, `invalid_request`) or a `TokenStoreError` code. */
  readonly error: string
  /** A human-readable description. It never contains a token. */
  readonly error_description: string
}

/**
 * Why the middleware refused a request.
 *
 * - `missing_token`: the request carries no token;
 * - `invalid_token`: the token is unknown, expired, revoked or out of uses (never told apart, so a client cannot
 *   probe which tokens exist);
 * - `insufficient_scope`: the token lacks a required policy or capability;
 * - `error`: the check itself failed (storage unavailable, or an unexpected error); see `cause`.
 */
export type RefusalReason = 'missing_token' | 'invalid_token' | 'insufficient_scope' | 'error'

/**
 * The error handed to a middleware's `onError`: a {@link TokenStoreError} that also says why the request was
 * refused and which status the chosen format would answer with. Its message never contains a token.
 */
export class TokenRefusal extends TokenStoreError {
  /**
   * @param reason - Why the request was refused.
   * @param status - The status the configured `errorFormat` answers with.
   * @param code - The underlying error code.
   * @param message - A message without secrets.
   */
  constructor(
    readonly reason: RefusalReason,
    readonly status: number,
    code: TokenStoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options)
  }
}

/** Options shared by `tokenAuth()` and `tokenErrorHandler()` that shape error answers. */
export interface ErrorFormatOptions {
  /**
   * The shape of error answers; see {@link ErrorFormat}.
   * @default 'vault'
   */
  readonly errorFormat?: ErrorFormat
}

/**
 * Options of `tokenErrorHandler()`. Each one not given is that of the `tokenAuth()` (or `requireCapability()`) that
 * ran on the request, else the default.
 */
export interface TokenErrorHandlerOptions extends ErrorFormatOptions, ScopeOptions {}

/**
 * The `scope` option of `tokenAuth()`, `requirePolicies()` and `requireCapability()`: under the `rfc6750` format,
 * every `WWW-Authenticate: Bearer` challenge they send names it (RFC 6750 §3), so that a client learns which scope
 * (here: which policies) to ask its token for. The Vault format ignores it.
 */
export interface ScopeOptions {
  /**
   * Space-separated scope tokens for the challenge's `scope="..."` attribute, in RFC 6749's syntax (printable ASCII
   * without `"` and `\`), such as `'deploy'` or `'reports:read reports:write'`. A guard without one uses that of the
   * `tokenAuth()` before it.
   */
  readonly scope?: string
}

/** RFC 6749 §3.3: `scope = scope-token *( SP scope-token )`, each token `1*( %x21 / %x23-5B / %x5D-7E )`. */
const SCOPE_SYNTAX = /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/

/**
 * Checks `scope` once, when a middleware is built.
 *
 * @throws TypeError for anything but RFC 6749 scope syntax.
 */
export function resolveScope(scope: unknown): string | undefined {
  if (scope === undefined) return undefined
  if (typeof scope !== 'string' || !SCOPE_SYNTAX.test(scope)) {
    throw new TypeError(
      "Expected `scope` to be space-separated scope tokens without quotes or backslashes, such as 'deploy admin'",
    )
  }
  return scope
}

/** RFC 6750 descriptions: fixed texts, so a client never learns why a token failed nor sees it echoed. */
const INVALID_TOKEN_DESCRIPTION = 'The access token is missing, invalid, expired or revoked'
const INSUFFICIENT_SCOPE_DESCRIPTION = 'The access token lacks a required policy or capability'
const INTERNAL_DESCRIPTION = 'internal error'

/**
 * Checks `errorFormat` once, when a middleware is built.
 *
 * @throws TypeError for an unknown format.
 */
export function resolveErrorFormat(format: unknown): ErrorFormat {
  if (format === undefined) return 'vault'
  if (!ERROR_FORMATS.includes(format as ErrorFormat)) {
    throw new TypeError(`Expected \`errorFormat\` to be one of ${ERROR_FORMATS.join(', ')}`)
  }
  return format as ErrorFormat
}

/**
 * Turns a failed `authenticate` or `lookup` (or an absent token, `error === undefined`) into a {@link TokenRefusal}.
 * A bad token is `invalid_token` whatever the reason; storage failures keep their code with the cause attached.
 */
export function authRefusal(error: unknown, format: ErrorFormat): TokenRefusal {
  if (error === undefined) {
    return new TokenRefusal('missing_token', 401, 'permission_denied', MISSING_TOKEN_MESSAGE)
  }
  if (
    error instanceof TokenStoreError &&
    (error.code === 'invalid_token' || error.code === 'invalid_request')
  ) {
    const status = format === 'rfc6750' ? 401 : 403
    return new TokenRefusal('invalid_token', status, 'invalid_token', PERMISSION_DENIED_MESSAGE)
  }
  return errorRefusal(error)
}

/**
 * The refusal of a token that lacks a required policy or capability: 403 in both formats. `cause`: the store's
 * error, whose message says why (for the host's logs; the answer never carries it).
 */
export function scopeRefusal(cause?: unknown): TokenRefusal {
  return new TokenRefusal(
    'insufficient_scope',
    403,
    'permission_denied',
    PERMISSION_DENIED_MESSAGE,
    cause === undefined ? undefined : { cause },
  )
}

/**
 * The refusal behind a guard's Vault-shaped answer (`requirePolicies`, `requireCapability`): 401 is a missing
 * token, 403 a missing policy or capability, anything else a failed check with that status.
 */
export function refusalOf(result: HttpResult): TokenRefusal {
  if (result.status === 401) return authRefusal(undefined, 'vault')
  if (result.status === 403) return scopeRefusal()
  const body = result.body as { errors?: unknown } | undefined
  const message = Array.isArray(body?.errors) ? String(body.errors[0]) : INTERNAL_DESCRIPTION
  const code = (Object.keys(HTTP_STATUS) as TokenStoreErrorCode[]).find(
    (key) => HTTP_STATUS[key] === result.status,
  )
  return new TokenRefusal('error', result.status, code ?? 'storage_unavailable', message)
}

/** A refusal because the check itself failed: a `TokenStoreError` keeps its code and status, anything else is 500. */
function errorRefusal(error: unknown): TokenRefusal {
  if (error instanceof TokenStoreError) {
    return new TokenRefusal('error', HTTP_STATUS[error.code], error.code, error.message, {
      cause: error,
    })
  }
  return new TokenRefusal('error', 500, 'storage_unavailable', INTERNAL_DESCRIPTION, {
    cause: error,
  })
}

/**
 * The answer to a refusal in the chosen format. `challenge` adds the bare `WWW-Authenticate: Bearer` to a Vault
 * `missing_token` answer (when the middleware reads bearer tokens); the `rfc6750` format always challenges, naming
 * `scope` when given.
 */
export function renderRefusal(
  refusal: TokenRefusal,
  format: ErrorFormat,
  challenge = true,
  scope?: string,
): HttpResult {
  if (format === 'vault') {
    const result = errorResult(refusal.status, refusal.message)
    return refusal.reason === 'missing_token' && challenge
      ? { ...result, headers: { 'www-authenticate': 'Bearer' } }
      : result
  }
  switch (refusal.reason) {
    case 'missing_token':
      // RFC 6750 §3.1: a request without credentials gets a challenge without an error code.
      return bearerResult(401, bearerChallenge(null, scope), 'invalid_token', MISSING_TOKEN_MESSAGE)
    case 'invalid_token':
      return bearerResult(
        401,
        bearerChallenge('invalid_token', scope),
        'invalid_token',
        INVALID_TOKEN_DESCRIPTION,
      )
    case 'insufficient_scope':
      return bearerResult(
        403,
        bearerChallenge('insufficient_scope', scope),
        'insufficient_scope',
        INSUFFICIENT_SCOPE_DESCRIPTION,
      )
    case 'error':
      return {
        status: refusal.status,
        body: {
          error: refusal.status >= 500 ? 'server_error' : refusal.code,
          error_description: refusal.message,
        } satisfies BearerErrorBody,
      }
  }
}

/**
 * The answer to an error thrown by a route, for `tokenErrorHandler()`: a {@link TokenStoreError} gets the status of
 * its code ({@link HTTP_STATUS}; `invalid_token` is 401 and `permission_denied` is `insufficient_scope` under
 * `rfc6750`, their challenges naming `scope` when given) and a body that never echoes a token; anything else is
 * `null` (not ours to answer).
 */
export function renderThrown(
  error: unknown,
  format: ErrorFormat,
  scope?: string,
): HttpResult | null {
  if (!(error instanceof TokenStoreError)) return null
  if (error instanceof TokenRefusal) return renderRefusal(error, format, true, scope)
  if (format === 'vault') return errorResult(HTTP_STATUS[error.code], error.message)
  switch (error.code) {
    case 'invalid_token':
      return renderRefusal(authRefusal(error, format), format, true, scope)
    case 'permission_denied':
      return renderRefusal(scopeRefusal(), format, true, scope)
    default:
      return {
        status: HTTP_STATUS[error.code],
        body: { error: error.code, error_description: error.message } satisfies BearerErrorBody,
      }
  }
}

/** `Bearer`, then the error and the scope as RFC 6750 §3 attributes: `Bearer error="...", scope="..."`. */
function bearerChallenge(error: string | null, scope: string | undefined): string {
  const attributes = [
    ...(error === null ? [] : [`error="${error}"`]),
    ...(scope === undefined ? [] : [`scope="${scope}"`]),
  ]
  return attributes.length === 0 ? 'Bearer' : `Bearer ${attributes.join(', ')}`
}

function bearerResult(
  status: number,
  challenge: string,
  error: string,
  description: string,
): HttpResult {
  return {
    status,
    headers: { 'www-authenticate': challenge },
    body: { error, error_description: description } satisfies BearerErrorBody,
  }
}

/** What `tokenAuth()` leaves for the guards after it (`requirePolicies`, `requireCapability`) on one request. */
export interface RequestErrorOptions<Handler> {
  /** The format of refusals. */
  readonly format: ErrorFormat
  /** The host's refusal handler, if any. */
  readonly onError: Handler | undefined
  /** The scope the `rfc6750` challenges name, if any. */
  readonly scope: string | undefined
}

/** A guard's own error options, checked when it was built: each one given wins over the `tokenAuth()` before it. */
export interface OwnErrorOptions<Handler> {
  readonly format: ErrorFormat | undefined
  readonly onError: Handler | undefined
  readonly scope: string | undefined
}

/**
 * Checks a guard's `errorFormat`, `onError` and `scope` once, when it is built; unset ones stay `undefined`, to be
 * inherited per request.
 *
 * @throws TypeError for an unknown format, an `onError` that is not a function, or a malformed scope.
 */
export function resolveOwnErrorOptions<Handler>(
  options: ErrorFormatOptions & ScopeOptions & { readonly onError?: Handler },
): OwnErrorOptions<Handler> {
  const onError = options.onError
  if (onError !== undefined && typeof onError !== 'function') {
    throw new TypeError('Expected `onError` to be a function')
  }
  return {
    format: options.errorFormat === undefined ? undefined : resolveErrorFormat(options.errorFormat),
    onError,
    scope: resolveScope(options.scope),
  }
}

/**
 * Per-request error options, keyed by the framework's request object (Express `req`, Koa `ctx`), so a guard after
 * `tokenAuth()` answers in the same format without options of its own. Weak: nothing outlives the request.
 */
export function createErrorOptionsRegistry<Handler>(): {
  set(request: object, options: RequestErrorOptions<Handler>): void
  get(request: object): RequestErrorOptions<Handler>
  /**
   * The options a guard answers with: its own where given, else those of the `tokenAuth()` before it, else the
   * defaults. When no `tokenAuth()` ran, they are left on the request for the guards and error handler after it.
   */
  resolve(request: object, own: OwnErrorOptions<Handler>): RequestErrorOptions<Handler>
} {
  const byRequest = new WeakMap<object, RequestErrorOptions<Handler>>()
  const fallback: RequestErrorOptions<Handler> = {
    format: 'vault',
    onError: undefined,
    scope: undefined,
  }
  // Whether any entry was ever written: until then, no request can have one, and `set` need not look.
  let written = false
  return {
    set: (request, options) => {
      // The defaults are what `get` answers for a request without an entry, so most apps write nothing per request
      // (a WeakMap insert is a measurable share of a protected route, and so is a lookup: the first one gives the
      // request object an identity hash). An entry an earlier middleware left is still replaced: the last
      // `tokenAuth()` on a request decides.
      if (
        options.format === 'vault' &&
        options.onError === undefined &&
        options.scope === undefined &&
        (!written || !byRequest.has(request))
      ) {
        return
      }
      written = true
      byRequest.set(request, options)
    },
    get: (request) => byRequest.get(request) ?? fallback,
    resolve: (request, own) => {
      const inherited = byRequest.get(request)
      const resolved: RequestErrorOptions<Handler> = {
        format: own.format ?? inherited?.format ?? 'vault',
        onError: own.onError ?? inherited?.onError,
        scope: own.scope ?? inherited?.scope,
      }
      if (inherited === undefined) {
        written = true
        byRequest.set(request, resolved)
      }
      return resolved
    },
  }
}
