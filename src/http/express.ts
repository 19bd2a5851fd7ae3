/**
 * `tokentree/express`: Express middleware over a {@link TokenStore}.
 *
 * - {@link tokenAuth} authenticates the request's token (one use) and puts its `TokenInfo` on `req.token`;
 * - {@link requireCapability} authorizes each request against the token's ACL policies (one `authorize` call);
 * - {@link requirePolicies} guards a route by policy name;
 * - {@link vaultRouter} serves Vault's `/v1/auth/token/*` API, so Vault clients (node-vault, hvac, the `vault`
 *   CLI) can talk to the app.
 *
 * Express is an optional peer dependency; this module only imports its types.
 *
 * @packageDocumentation
 * @module tokentree/express
 */
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express'

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
import { setRequestToken } from './request-token.js'
import { handleVaultRequest, resolveApiOptions } from './vault-api/handlers.js'
import { toApiRequest, writeResult } from './vault-api/node.js'
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

declare global {
  // Express's own extension point for request properties (`Express.Request`), shared by v4 and v5 types.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /**
       * The token that authenticated this request, set by `tokenAuth()` from `tokentree/express`. Absent on
       * routes without it, and when `tokenAuth({ optional: true })` found no token.
       */
      token?: TokenInfo
    }
  }
}

/**
 * Answers a refused request instead of the built-in answer: `error` says why (`reason`) and which status the
 * configured format would use (`status`); it never contains the token. Call `next(error)` to hand it on.
 */
export type TokenErrorCallback = (
  error: TokenRefusal,
  req: Request,
  res: Response,
  next: NextFunction,
) => void | Promise<void>

/** Options of {@link tokenAuth}. */
export interface TokenAuthOptions extends GuardOptions {
  /**
   * Answers refusals (no token, bad token, missing policy in a later `requirePolicies`, a failed check) in the
   * host's own way instead of the `errorFormat` answer. A throw or rejection goes to `next`.
   */
  readonly onError?: TokenErrorCallback
}

/** The error options `tokenAuth()` left on each request, for the guards and the error handler after it. */
const REQUEST_ERRORS = createErrorOptionsRegistry<TokenErrorCallback>()

/**
 * Authenticates each request's token and attaches its `TokenInfo` as `req.token`.
 *
 * The token is read from `X-Vault-Token`, `Authorization: Bearer …` or the `token` cookie (see `sources`), and
 * `store.authenticate` is called once, so each request spends one use of a limited-use token. A request without
 * a token gets 401 (with `WWW-Authenticate: Bearer`), a bad token 403, both with Vault's
 * `{ "errors": [...] }` body, which never contains the token.
 *
 * @throws TypeError at once for malformed options.
 * @example Protect a route
 * ```ts
 * import express from 'express'
 * import { TokenStore } from 'tokentree'
 * import { tokenAuth, requirePolicies } from 'tokentree/express'
 *
 * const store = new TokenStore()
 * const app = express()
 * app.get('/whoami', tokenAuth(store), (req, res) => {
 *   res.json({ accessor: req.token?.accessor, policies: req.token?.policies })
 * })
 * app.post('/deploy', tokenAuth(store), requirePolicies('deploy'), (req, res) => res.sendStatus(204))
 * ```
 */
export function tokenAuth(store: TokenStore, options: TokenAuthOptions = {}): RequestHandler {
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
  const answer = (outcome: GuardOutcome, req: Request, res: Response, next: NextFunction): void => {
    if (outcome.ok) {
      if (outcome.token !== null) setRequestToken(req, outcome.token)
      next()
    } else if (onError === undefined) send(res, outcome.result)
    else callOnError(onError, outcome.refusal, req, res, next)
  }
  return (req, res, next) => {
    REQUEST_ERRORS.set(req, errors)
    const outcome = guard(req.headers)
    // A synchronous outcome (MemoryStorage, or no token) goes on at once, as a plain middleware would: no promise hop.
    if (!(outcome instanceof Promise)) answer(outcome, req, res, next)
    else {
      // `.catch`, not a second argument: a throw in `answer` (a host whose request prototype makes `token`
      // read-only) must reach Express's error handling, not become an unhandled rejection and a hung request.
      outcome
        .then((settled) => {
          answer(settled, req, res, next)
        })
        .catch(next)
    }
  }
}

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
 * app.delete('/users/:id', tokenAuth(store), requirePolicies('admin'), handler)
 * app.post('/deploy', tokenAuth(store, { errorFormat: 'rfc6750' }), requirePolicies('deploy', { scope: 'deploy' }), handler)
 * ```
 */
export function requirePolicies(...args: RequirePoliciesArguments): RequestHandler {
  const { policies, scope } = splitPolicyArguments(args)
  const check = createPolicyCheck(policies)
  const own: OwnErrorOptions<TokenErrorCallback> = { format: undefined, onError: undefined, scope }
  return (req, res, next) => {
    const refusal = check(req.token)
    if (refusal === null) next()
    else refuse(req, res, next, refusal, own)
  }
}

/**
 * An Express error handler for the end of the chain: a `TokenStoreError` thrown (or passed to `next`) by a route
 * becomes the status of its code and a body in the chosen format, which never echoes a token. Other errors go on
 * to the next error handler untouched.
 *
 * @param options - `errorFormat`; by default the format of the `tokenAuth()` that ran on the request, else `vault`.
 * `scope`, named in the `rfc6750` challenges of a thrown `invalid_token` or `permission_denied`; by default that of
 * the `tokenAuth()` (or `requireCapability()`) that ran on the request, else none.
 * @throws TypeError at once for an unknown format or a malformed scope.
 * @example
 * ```ts
 * app.post('/tokens', tokenAuth(store, { errorFormat: 'rfc6750' }), async (req, res) => {
 *   res.json(await store.create({ parent: req.get('x-vault-token') })) // Express 5 forwards rejections
 * })
 * app.use(tokenErrorHandler())
 * ```
 */
export function tokenErrorHandler(options: TokenErrorHandlerOptions = {}): ErrorRequestHandler {
  const format =
    options.errorFormat === undefined ? undefined : resolveErrorFormat(options.errorFormat)
  const scope = resolveScope(options.scope)
  return (error: unknown, req, res, next) => {
    const inherited = REQUEST_ERRORS.get(req)
    const result = res.headersSent
      ? null
      : renderThrown(error, format ?? inherited.format, scope ?? inherited.scope)
    if (result === null) next(error)
    else send(res, result)
  }
}

/** Answers a guard's Vault-shaped refusal in the format (or through the `onError`) `tokenAuth()` chose. */
function refuse(
  req: Request,
  res: Response,
  next: NextFunction,
  result: HttpResult,
  own: OwnErrorOptions<TokenErrorCallback>,
): void {
  const { format, onError, scope } = REQUEST_ERRORS.resolve(req, own)
  const refusal = refusalOf(result)
  // The Vault format keeps the guard's own answer as it was; only other formats re-render it.
  if (onError !== undefined) callOnError(onError, refusal, req, res, next)
  else send(res, format === 'vault' ? result : renderRefusal(refusal, format, true, scope))
}

function callOnError(
  onError: TokenErrorCallback,
  refusal: TokenRefusal,
  req: Request,
  res: Response,
  next: NextFunction,
): void {
  try {
    Promise.resolve(onError(refusal, req, res, next)).catch(next)
  } catch (error) {
    next(error)
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
 * update, PATCH patch, DELETE delete) and the path (below `mount`, after `pathPrefix`; lower-cased too, unless
 * `caseSensitive`) the ACL path, and one `store.authorize` call
 * authenticates the token (one use, spent even when refused) and checks them. The token's `TokenInfo` goes on
 * `req.token`. 401 without a token, 403 for a bad token or a refusal, 405 for another method.
 *
 * Refusals are answered in `errorFormat` (under `rfc6750` a refusal is 403 `Bearer error="insufficient_scope"`,
 * naming `scope` if given) or through `onError`; each one not given is that of a `tokenAuth()` that ran before on
 * the request, else the default. Without a `tokenAuth()` before, this middleware's options are what a later
 * `requirePolicies()` or `tokenErrorHandler()` follows.
 *
 * @throws TypeError at once for malformed options.
 * @example Guard an API with policies
 * ```ts
 * await store.policies.write('reader', 'path "api/reports/*" { capabilities = ["read", "list"] }')
 * app.use('/v1', requireCapability(store, { pathPrefix: 'api/', errorFormat: 'rfc6750' }), reportsRouter)
 * // GET /v1/reports/7 is checked as `read` on `api/reports/7`
 * ```
 */
export function requireCapability(
  store: TokenStore,
  options: RequireCapabilityOptions = {},
): RequestHandler {
  const guard = createCapabilityGuard(store, options)
  const own = resolveOwnErrorOptions(options)
  return (req, res, next) => {
    const errors = REQUEST_ERRORS.resolve(req, own)
    const query = new URLSearchParams(
      req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : '',
    )
    const parsed: unknown = req.body
    const request = {
      method: req.method,
      path: req.path,
      query,
      parsedQuery: req.query as unknown,
      body: parsed,
      headers: req.headers,
    }
    guard(request, errors)
      .then((outcome) => {
        if (outcome.ok) {
          setRequestToken(req, outcome.token)
          next()
        } else if (errors.onError === undefined) send(res, outcome.result)
        else callOnError(errors.onError, outcome.refusal, req, res, next)
      })
      .catch(next) // as tokenAuth's: a throw setting `req.token` goes to the error handlers
  }
}

/**
 * Serves Vault's token API (`/v1/auth/token/*`, roles included, `/v1/sys/leases/{lookup,renew,revoke}`,
 * `/v1/sys/leases/revoke-prefix/:prefix` and their older `sys/` paths, `/v1/sys/health`) over the store, answering
 * with Vault's JSON shapes and status codes. Requests outside the prefix pass through to `next()`.
 *
 * Mount it before any body parser (it reads and limits the body itself); if one ran already, its result is used.
 *
 * @throws TypeError at once for malformed options.
 * @example Let Vault clients manage the app's tokens
 * ```ts
 * import express from 'express'
 * import { TokenStore } from 'tokentree'
 * import { vaultRouter } from 'tokentree/express'
 *
 * const store = new TokenStore()
 * const app = express()
 * app.use(vaultRouter(store)) // VAULT_ADDR=http://127.0.0.1:3000 vault token lookup
 * app.listen(3000)
 * ```
 */
export function vaultRouter(store: TokenStore, options: VaultApiOptions = {}): RequestHandler {
  const resolved = resolveApiOptions(options)
  return (req, res, next) => {
    const parsed: unknown = req.body
    toApiRequest(req, req.url, resolved, parsed)
      .then(async (request) => {
        if (request === null) {
          next()
          return
        }
        writeResult(res, await handleVaultRequest(store, request, resolved), request.method)
      })
      .catch(next)
  }
}

function send(res: Response, result: HttpResult): void {
  writeResult(res, result, res.req.method)
}
