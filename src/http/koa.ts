/**
 * `tokentree/koa`: Koa middleware over a {@link TokenStore}.
 *
 * - {@link tokenAuth} authenticates the request's token (one use) and puts its `TokenInfo` on `ctx.state.token`;
 * - {@link requireCapability} authorizes each request against the token's ACL policies (one `authorize` call);
 * - {@link requirePolicies} guards a route by policy name;
 * - {@link vaultRouter} serves Vault's `/v1/auth/token/*` API, so Vault clients can talk to the app.
 *
 * Koa is an optional peer dependency; this module only imports its types.
 *
 * @packageDocumentation
 * @module tokentree/koa
 */
import type { Context, Middleware } from 'koa'

import type { TokenStore } from '../token-store.js'
import type { TokenInfo } from '../types.js'
import type { HttpResult } from './bearer.js'
import {
  createCapabilityGuard,
  type RequireCapabilityOptions as CapabilityOptions,
} from './capability.js'
import {
  createErrorOptionsRegistry,
  refusalOf,
  renderRefusal,
  renderThrown,
  resolveErrorFormat,
  resolveOwnErrorOptions,
  resolveScope,
  type TokenErrorHandlerOptions,
  type OwnErrorOptions,
  type TokenRefusal,
} from './error-format.js'
import {
  createPolicyCheck,
  createTokenGuard,
  splitPolicyArguments,
  type GuardOutcome,
  type RequirePoliciesArguments,
  type TokenAuthOptions as GuardOptions,
} from './guard.js'
import { handleVaultRequest, resolveApiOptions } from './vault-api/handlers.js'
import { resultHeaders, toApiRequest } from './vault-api/node.js'
import type { VaultApiOptions } from './vault-api/types.js'

export {
  DEFAULT_TOKEN_SOURCES,
  HTTP_STATUS,
  type HttpResult,
  type TokenReadOptions,
  type TokenSource,
  type VaultErrorBody,
} from './bearer.js'
export type { RequirePoliciesArguments, RequirePoliciesOptions } from './guard.js'
export type { AclOperation } from '../acl/types.js'
export {
  TokenRefusal,
  type BearerErrorBody,
  type ErrorFormat,
  type ErrorFormatOptions,
  type RefusalReason,
  type ScopeOptions,
  type TokenErrorHandlerOptions,
} from './error-format.js'
export {
  defaultAuthorize,
  type AuthorizeRequest,
  type VaultApiOptions,
  type VaultOperation,
} from './vault-api/types.js'

declare module 'koa' {
  interface DefaultState {
    /**
     * The token that authenticated this request, set by `tokenAuth()` from `tokentree/koa`. Absent on routes
     * without it, and when `tokenAuth({ optional: true })` found no token.
     */
    token?: TokenInfo
  }
}

/** The state `tokenAuth()` guarantees to the middleware after it: `ctx.state.token` is set. */
export interface TokenState {
  /** The token that authenticated this request. */
  token: TokenInfo
}

/**
 * Answers a refused request instead of the built-in answer: `error` says why (`reason`) and which status the
 * configured format would use (`status`); it never contains the token. Throw to hand it to the error handling.
 */
export type TokenErrorCallback = (error: TokenRefusal, ctx: Context) => void | Promise<void>

/** Options of {@link tokenAuth}. */
export interface TokenAuthOptions extends GuardOptions {
  /**
   * Answers refusals (no token, bad token, missing policy in a later `requirePolicies`, a failed check) in the
   * host's own way instead of the `errorFormat` answer.
   */
  readonly onError?: TokenErrorCallback
}

/** The error options `tokenAuth()` left on each request context, for the guards and the error handler. */
const REQUEST_ERRORS = createErrorOptionsRegistry<TokenErrorCallback>()

/**
 * Authenticates each request's token and puts its `TokenInfo` on `ctx.state.token`.
 *
 * The token is read from `X-Vault-Token`, `Authorization: Bearer …` or the `token` cookie (see `sources`), and
 * `store.authenticate` is called once, so each request spends one use of a limited-use token. A request without
 * a token gets 401 (with `WWW-Authenticate: Bearer`), a bad token 403, both with Vault's
 * `{ "errors": [...] }` body, which never contains the token. Typed as `Middleware<TokenState>`, so
 * `app.use(tokenAuth(store))` gives the middleware after it a non-optional `ctx.state.token`.
 *
 * @throws TypeError at once for malformed options.
 * @example Protect a route
 * ```ts
 * import Koa from 'koa'
 * import { TokenStore } from 'tokentree'
 * import { tokenAuth, requirePolicies } from 'tokentree/koa'
 *
 * const store = new TokenStore()
 * const app = new Koa()
 *   .use(tokenAuth(store))
 *   .use(requirePolicies('reader'))
 *   .use((ctx) => {
 *     ctx.body = { accessor: ctx.state.token.accessor }
 *   })
 * ```
 */
export function tokenAuth(
  store: TokenStore,
  options?: TokenAuthOptions & { readonly optional?: false },
): Middleware<TokenState>
/**
 * With `optional: true` (or options only known at run time), a request without a token passes with
 * `ctx.state.token` unset.
 */
export function tokenAuth(
  store: TokenStore,
  options: TokenAuthOptions,
): Middleware<Partial<TokenState>>
export function tokenAuth(
  store: TokenStore,
  options: TokenAuthOptions = {},
): Middleware<Partial<TokenState>> {
  const guard = createTokenGuard(store, options)
  const onError = options.onError
  if (onError !== undefined && typeof onError !== 'function') {
    throw new TypeError('Expected `onError` to be a function')
  }
  const errors = {
    format: resolveErrorFormat(options.errorFormat),
    onError,
    scope: resolveScope(options.scope),
  }
  const proceed = (outcome: GuardOutcome, ctx: TokenAuthContext, next: Next): Promise<unknown> => {
    if (!outcome.ok) {
      if (onError === undefined) {
        send(ctx, outcome.result)
        return Promise.resolve()
      }
      return Promise.resolve(onError(outcome.refusal, ctx))
    }
    if (outcome.token !== null) ctx.state.token = outcome.token
    return next()
  }
  // Not `async`, as Express's: a synchronous outcome (MemoryStorage, or no token) calls next() at once, with no
  // promise hop; a failure still comes back as a rejected promise, as from an async middleware.
  return (ctx, next) => {
    try {
      REQUEST_ERRORS.set(ctx, errors)
      const outcome = guard(ctx.headers)
      return outcome instanceof Promise
        ? outcome.then((settled) => proceed(settled, ctx, next))
        : proceed(outcome, ctx, next)
    } catch (error) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passed on as is, as an async middleware would
      return Promise.reject(error)
    }
  }
}

/** What `tokenAuth()`'s middleware is called with. */
type TokenAuthContext = Parameters<Middleware<Partial<TokenState>>>[0]
type Next = Parameters<Middleware<Partial<TokenState>>>[1]

/**
 * Lets a request through only if its token (from {@link tokenAuth}, which must run first) holds every named
 * policy, or `root`. Otherwise answers 403 (401 when there is no token), in the format (or through the `onError`)
 * of that `tokenAuth()`.
 *
 * @param args - Policy names, compared trimmed and lower-cased as Vault stores them; then optionally
 * {@link RequirePoliciesOptions}: a `scope` for the `rfc6750` challenges, instead of `tokenAuth()`'s.
 * @throws TypeError at once when no name is given, or for a malformed scope.
 * @example
 * ```ts
 * router.delete('/users/:id', tokenAuth(store), requirePolicies('admin'), handler)
 * router.post('/deploy', tokenAuth(store, { errorFormat: 'rfc6750' }), requirePolicies('deploy', { scope: 'deploy' }), handler)
 * ```
 */
export function requirePolicies(...args: RequirePoliciesArguments): Middleware {
  const { policies, scope } = splitPolicyArguments(args)
  const check = createPolicyCheck(policies)
  const own: OwnErrorOptions<TokenErrorCallback> = { format: undefined, onError: undefined, scope }
  return async (ctx, next) => {
    const refusal = check(ctx.state.token)
    if (refusal === null) await next()
    else await refuse(ctx, refusal, own)
  }
}

/** Options of {@link requireCapability}. */
export interface RequireCapabilityOptions extends CapabilityOptions {
  /**
   * Answers refusals in the host's own way instead of the `errorFormat` answer, as {@link TokenAuthOptions.onError}
   * does. By default, that of a `tokenAuth()` that ran before on the request.
   */
  readonly onError?: TokenErrorCallback
}

/**
 * Authorizes each request against its token's ACL policies, in place of {@link tokenAuth}: the method gives the
 * operation (GET read, or list with `listQuery` and `?list=true`, POST `create` unless `post` says otherwise, PUT
 * update, PATCH patch, DELETE delete) and `ctx.path` (below `mount`, after `pathPrefix`; lower-cased too, unless
 * `caseSensitive`) the ACL path, and one `store.authorize` call
 * authenticates the token (one use, spent even when refused) and checks them. The token's `TokenInfo` goes on
 * `ctx.state.token`. 401 without a token, 403 for a bad token or a refusal, 405 for another method.
 *
 * Refusals are answered in `errorFormat` (under `rfc6750` a refusal is 403 `Bearer error="insufficient_scope"`,
 * naming `scope` if given) or through `onError`; each one not given is that of a `tokenAuth()` that ran before on
 * the request, else the default. Without a `tokenAuth()` before, this middleware's options are what a later
 * `requirePolicies()` or `tokenErrorHandler()` follows.
 *
 * @throws TypeError at once for malformed options.
 * @example
 * ```ts
 * app.use(requireCapability(store, { mount: '/v1', pathPrefix: 'api/', errorFormat: 'rfc6750' }))
 * ```
 */
export function requireCapability(
  store: TokenStore,
  options: RequireCapabilityOptions = {},
): Middleware<TokenState> {
  const guard = createCapabilityGuard(store, options)
  const own = resolveOwnErrorOptions(options)
  return async (ctx, next) => {
    const errors = REQUEST_ERRORS.resolve(ctx, own)
    const parsed: unknown = 'body' in ctx.request ? ctx.request.body : undefined
    const outcome = await guard(
      {
        method: ctx.method,
        path: ctx.path,
        query: new URLSearchParams(ctx.querystring),
        parsedQuery: ctx.query,
        body: parsed,
        headers: ctx.headers,
      },
      errors,
    )
    if (outcome.ok) {
      ctx.state.token = outcome.token
      await next()
    } else if (errors.onError === undefined) send(ctx, outcome.result)
    else await errors.onError(outcome.refusal, ctx)
  }
}

/**
 * A Koa middleware for the top of the stack: a `TokenStoreError` thrown by a later middleware becomes the status of
 * its code and a body in the chosen format, which never echoes a token. Other errors are rethrown untouched.
 *
 * @param options - `errorFormat`; by default the format of the `tokenAuth()` that ran on the request, else `vault`.
 * `scope`, named in the `rfc6750` challenges of a thrown `invalid_token` or `permission_denied`; by default that of
 * the `tokenAuth()` (or `requireCapability()`) that ran on the request, else none.
 * @throws TypeError at once for an unknown format or a malformed scope.
 * @example
 * ```ts
 * const app = new Koa()
 *   .use(tokenErrorHandler())
 *   .use(tokenAuth(store, { errorFormat: 'rfc6750' }))
 *   .use(async (ctx) => {
 *     ctx.body = await store.lookupAccessor(String(ctx.query.accessor)) // a TokenStoreError becomes 400/403/503
 *   })
 * ```
 */
export function tokenErrorHandler(options: TokenErrorHandlerOptions = {}): Middleware {
  const format =
    options.errorFormat === undefined ? undefined : resolveErrorFormat(options.errorFormat)
  const scope = resolveScope(options.scope)
  return async (ctx, next) => {
    try {
      await next()
    } catch (error) {
      const inherited = REQUEST_ERRORS.get(ctx)
      const result = ctx.headerSent
        ? null
        : renderThrown(error, format ?? inherited.format, scope ?? inherited.scope)
      if (result === null) throw error
      send(ctx, result)
    }
  }
}

/** Answers a guard's Vault-shaped refusal in the format (or through the `onError`) `tokenAuth()` chose. */
async function refuse(
  ctx: Context,
  result: HttpResult,
  own: OwnErrorOptions<TokenErrorCallback>,
): Promise<void> {
  const { format, onError, scope } = REQUEST_ERRORS.resolve(ctx, own)
  // The Vault format keeps the guard's own answer as it was; only other formats re-render it.
  if (onError !== undefined) await onError(refusalOf(result), ctx)
  else
    send(ctx, format === 'vault' ? result : renderRefusal(refusalOf(result), format, true, scope))
}

/**
 * Serves Vault's token API (`/v1/auth/token/*`, roles included, `/v1/sys/leases/{lookup,renew,revoke}`,
 * `/v1/sys/leases/revoke-prefix/:prefix` and their older `sys/` paths, `/v1/sys/health`) over the store, answering
 * with Vault's JSON shapes and status codes. Requests outside the prefix pass through to `next()`.
 *
 * Mount it before any body parser (it reads and limits the body itself); if one ran already, its
 * `ctx.request.body` is used.
 *
 * @throws TypeError at once for malformed options.
 * @example
 * ```ts
 * import Koa from 'koa'
 * import { TokenStore } from 'tokentree'
 * import { vaultRouter } from 'tokentree/koa'
 *
 * const store = new TokenStore()
 * new Koa().use(vaultRouter(store)).listen(3000)
 * ```
 */
export function vaultRouter(store: TokenStore, options: VaultApiOptions = {}): Middleware {
  const resolved = resolveApiOptions(options)
  return async (ctx, next) => {
    const parsed: unknown = 'body' in ctx.request ? ctx.request.body : undefined
    const request = await toApiRequest(ctx.req, ctx.url, resolved, parsed)
    if (request === null) {
      await next()
      return
    }
    send(ctx, await handleVaultRequest(store, request, resolved))
  }
}

function send(ctx: Context, result: HttpResult): void {
  ctx.status = result.status
  ctx.set(resultHeaders(result))
  if (result.body !== undefined || result.status === 204) {
    ctx.body = result.body ?? null
    return
  }
  // An empty answer that is not a 204 (`sync=false` revocations answer 202): Koa would turn a `null` body into a
  // 204 and an unset one into the status text, so send an empty string, without the text type Koa gives it.
  ctx.body = ''
  ctx.remove('content-type')
}
