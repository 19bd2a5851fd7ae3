/**
 * The framework-free half of `requireCapability()`: turn a request (method, path, query, body, headers) into one
 * `store.authorize` call, or into the 401/403 answer.
 *
 * @packageDocumentation
 */
import type { IncomingHttpHeaders } from 'node:http'

import type { AuthorizeOptions } from '../access.js'
import type { AclOperation } from '../acl/types.js'
import type { TokenStore } from '../token-store.js'
import type { TokenInfo } from '../types.js'
import { TokenStoreError } from '../errors.js'
import { isPlainObject } from '../option-object.js'
import {
  PERMISSION_DENIED_MESSAGE,
  errorResult,
  readToken,
  resolveReadOptions,
  type HttpResult,
  type TokenReadOptions,
} from './bearer.js'
import {
  TokenRefusal,
  authRefusal,
  renderRefusal,
  scopeRefusal,
  type ErrorFormat,
  type ErrorFormatOptions,
  type ScopeOptions,
} from './error-format.js'
import { parseGoBool } from '../go-bool.js'
import { authFailure } from './guard.js'

/**
 * Options of `requireCapability()`. `errorFormat` and `scope` default to those of a `tokenAuth()` that ran before it
 * on the request, else `vault` and none.
 */
export interface RequireCapabilityOptions
  extends TokenReadOptions, ErrorFormatOptions, ScopeOptions {
  /**
   * A prefix of the request path that is not part of the ACL path: where the API is mounted (`/api/v1`). A request
   * outside it is refused (403). With Express's `app.use('/api', ...)`, the path the middleware sees is already
   * relative to the mount, and this is not needed.
   * @default ''
   */
  readonly mount?: string
  /**
   * Put before the path the ACL sees, so that one policy language covers several APIs: with `pathPrefix: 'api/'`,
   * `GET /users/7` is checked as `read` on `api/users/7`.
   * @default ''
   */
  readonly pathPrefix?: string
  /**
   * The operation of a POST. Vault decides between `create` and `update` by whether the resource exists, which a
   * generic middleware cannot know: a POST is `create` by default (the REST habit of POST to a collection), or
   * what is given here; with several, any one of them suffices (`['create', 'update']`).
   * @default 'create'
   */
  readonly post?: AclOperation | readonly AclOperation[]
  /**
   * Pass the request's parameters to the ACL, so that policies' `allowed_parameters`, `denied_parameters` and
   * `required_parameters` apply: every value the handler may read for a name (each repeat in the query string, the
   * framework's parsed query, a body a parser already read), a name with several checked as the list of them.
   * @default true
   */
  readonly parameters?: boolean
  /**
   * Also require `sudo` on the path, as Vault's root-protected endpoints do.
   * @default false
   */
  readonly sudo?: boolean
  /**
   * Whether the router in front of the handlers matches paths case-sensitively. Policies match paths
   * case-sensitively, as Vault's do, while Express's and Koa's routers ignore case unless told otherwise
   * (`app.set('case sensitive routing', true)`, `express.Router({ caseSensitive: true })`, `@koa/router`'s
   * `sensitive`). So by default a request must be allowed on its path as sent **and** lower-cased: `GET
   * /Admin/users` does not slip past a `deny` on `api/admin/*` to the handler of `/admin/users`. Write the rules of
   * such routes in lower case; with a case-sensitive router, pass `true` to check the path as sent only.
   * @default false
   */
  readonly caseSensitive?: boolean
  /**
   * Treat `GET ?list=true` as a `list`, as Vault's HTTP API does. Only for routes whose handlers answer such a
   * request with a listing: a handler that ignores the query would serve a `read` to a token that may only list.
   * Off, a GET is a `read` whatever its query; the `LIST` method is a `list` either way.
   * @default false
   */
  readonly listQuery?: boolean
}

/** A request, as the adapters hand it over. */
export interface CapabilityRequest {
  readonly method: string
  /** The path, without the query string, not yet URI-decoded. */
  readonly path: string
  readonly query: URLSearchParams
  /**
   * The query as the framework parsed it for the handlers (Express's `req.query`, Koa's `ctx.query`), if any: its
   * values are checked with the raw query's, so that a parser reading `role[]=admin` as `role` is covered.
   */
  readonly parsedQuery?: unknown
  /** What a body parser produced, if any. */
  readonly body: unknown
  readonly headers: IncomingHttpHeaders
}

/** The outcome: the token (authorized, one use spent), or the refusal and its answer in the request's format. */
export type CapabilityOutcome =
  | { readonly ok: true; readonly token: TokenInfo }
  | { readonly ok: false; readonly refusal: TokenRefusal; readonly result: HttpResult }

/** How a refusal is answered on this request: the format and challenge scope, own or inherited. */
export interface RefusalStyle {
  readonly format: ErrorFormat
  readonly scope: string | undefined
}

/** A checked `requireCapability` configuration. */
export type CapabilityGuard = (
  request: CapabilityRequest,
  style: RefusalStyle,
) => Promise<CapabilityOutcome>

/** The refusal of a `?list=` that is malformed or repeated, under `listQuery`. */
const BAD_LIST_QUERY = '`list` must be given at most once, as a boolean'

/** `%2F` (any case) in a request path. */
const ENCODED_SLASH = /%2f/i

/** The refusal of a path with an encoded slash. */
const ENCODED_SLASH_REFUSED = 'an encoded slash (%2F) in the path is not accepted'

/** The refusal of a method that maps to no ACL operation. */
const UNSUPPORTED_OPERATION = 'unsupported operation'

/** Path characters allowed in `mount` and `pathPrefix`. */
const PATH_TEXT = /^[A-Za-z0-9._~\-/+]*$/

/**
 * Builds the check behind `requireCapability()`: reads the token, maps the method and path to an ACL request, and
 * calls `store.authorize` once (one use, spent even when refused). 401 without a token, 403 for a bad token or a
 * refusal, 405 for a method with no ACL operation.
 *
 * @throws TypeError at build time for malformed options.
 */
export function createCapabilityGuard(
  store: TokenStore,
  options: RequireCapabilityOptions = {},
): CapabilityGuard {
  const read = resolveReadOptions(options)
  const mount = trimSlashes(checkText(options.mount ?? '', 'mount'))
  const pathPrefix = checkText(options.pathPrefix ?? '', 'pathPrefix').replace(/^\/+/, '')
  const post = options.post ?? 'create'
  const withParameters = options.parameters ?? true
  const sudo = checkBoolean(options.sudo ?? false, 'sudo')
  const caseSensitive = checkBoolean(options.caseSensitive ?? false, 'caseSensitive')
  const listQuery = checkBoolean(options.listQuery ?? false, 'listQuery')
  const challenge = read.sources.includes('bearer')
  return async (request, style) => {
    const refuse = (refusal: TokenRefusal): CapabilityOutcome => ({
      ok: false,
      refusal,
      result: renderRefusal(refusal, style.format, challenge, style.scope),
    })
    const token = readToken(request.headers, read)
    if (token === null) return refuse(authRefusal(undefined, style.format))
    let listing = false
    if (listQuery) {
      const asked = listingAsked(request.query, request.parsedQuery)
      if (asked === null) {
        return refuse(new TokenRefusal('error', 400, 'invalid_request', BAD_LIST_QUERY))
      }
      listing = asked
    }
    const operation = operationOf(request.method, listing, post)
    if (operation === null) {
      return refuse(new TokenRefusal('error', 405, 'invalid_request', UNSUPPORTED_OPERATION))
    }
    // An encoded slash would split the ACL path where the router does not (Express keeps `a%2Fb` as one segment, a
    // parameter holding `a/b`), so `+` rules would see other segments than the handler's route.
    if (ENCODED_SLASH.test(request.path)) {
      return refuse(new TokenRefusal('error', 400, 'invalid_request', ENCODED_SLASH_REFUSED))
    }
    const relative = relativePath(request.path, mount)
    if (relative === null) return refuse(scopeRefusal())
    // A listing is a folder, as Vault routes it: `LIST /users` is checked on `api/users/`, where `api/users/*` and
    // `api/users/` rules (and a deny on them) apply.
    const path = pathPrefix + relative
    const access: AuthorizeOptions = {
      path: operation === 'list' && !path.endsWith('/') ? `${path}/` : path,
      operation,
      sudo,
      caseSensitive,
      ...(withParameters ? { parameters: parametersOf(request, listQuery) } : {}),
    }
    try {
      return { ok: true, token: await store.authorize(token, access) }
    } catch (error) {
      return refuse(
        error instanceof TokenStoreError && error.code === 'permission_denied'
          ? scopeRefusal(error)
          : authRefusal(error, style.format),
      )
    }
  }
}

/**
 * The answer to a failed `authorize`: Vault's 403 `permission denied` for a refusal (without the policy's
 * reasons, which are for the host's logs), as for a bad token; the status table's answer for anything else.
 */
export function accessFailure(error: unknown): HttpResult {
  if (error instanceof TokenStoreError && error.code === 'permission_denied') {
    return errorResult(403, PERMISSION_DENIED_MESSAGE)
  }
  return authFailure(error)
}

/**
 * Whether `?list=` asks for a listing, as Vault reads it (Go's `ParseBool`: `true`, `1`, `t`, …; absent or empty:
 * no), or `null` when it is malformed, given more than once, or read otherwise by the framework's query parser
 * (`list[]=true`, `list[0]=1`): a handler could read another value than the check did.
 */
function listingAsked(query: URLSearchParams, parsedQuery: unknown): boolean | null {
  const values = query.getAll('list')
  if (values.length > 1) return null
  for (const key of query.keys()) if (key.startsWith('list[')) return null
  const [value] = values
  if (isPlainObject(parsedQuery) && Object.hasOwn(parsedQuery, 'list')) {
    if (parsedQuery.list !== value) return null
  }
  if (value === undefined || value === '') return false
  return parseGoBool(value) ?? null
}

/**
 * The ACL operation of a request: GET and HEAD read (list when `listing`), POST per the `post` option, PUT
 * update, PATCH patch, DELETE delete, LIST list; `null` for any other method.
 */
export function operationOf(
  method: string,
  listing: boolean,
  post: AclOperation | readonly AclOperation[],
): AclOperation | readonly AclOperation[] | null {
  switch (method.toUpperCase()) {
    case 'GET':
    case 'HEAD':
      return listing ? 'list' : 'read'
    case 'POST':
      return post
    case 'PUT':
      return 'update'
    case 'PATCH':
      return 'patch'
    case 'DELETE':
      return 'delete'
    case 'LIST':
      return 'list'
    default:
      return null
  }
}

/** The decoded path below `mount`, without surrounding `/`; `null` when outside it or malformed. */
function relativePath(path: string, mount: string): string | null {
  let decoded: string
  try {
    decoded = trimSlashes(decodeURIComponent(path))
  } catch {
    return null
  }
  if (mount === '') return decoded
  if (decoded === mount) return ''
  return decoded.startsWith(`${mount}/`) ? decoded.slice(mount.length + 1) : null
}

/**
 * Every value the handler may read for each parameter: the raw query's (each repeated key), the framework's parsed
 * query's and the body's (a parsed object, or each object of an array). A name given once keeps its value; given
 * more than once, or in more
 * than one place, it is checked as the list of them all, so that every value meets `allowed_parameters` and none
 * is in `denied_parameters`: a handler reading `?role=admin&role=viewer`, or the query rather than the body, finds
 * no value the policy did not see.
 */
function parametersOf(request: CapabilityRequest, listQuery: boolean): Record<string, unknown> {
  const values = new Map<string, unknown[]>()
  const add = (key: string, value: unknown): void => {
    // Repeats are kept, not compared away: a comparison with every value before would be quadratic in the request.
    const list = values.get(key)
    if (list === undefined) values.set(key, [value])
    else list.push(value)
  }
  const addEntries = (source: Record<string, unknown>): void => {
    for (const [key, value] of Object.entries(source)) {
      // Nested arrays are flattened (an explicit stack: a body's nesting is the client's to choose), so that a
      // handler flattening `[["admin"], "viewer"]` finds no element the policy did not see.
      const pending: unknown[] = [value]
      while (pending.length > 0) {
        const item = pending.pop()
        if (Array.isArray(item)) for (let i = item.length - 1; i >= 0; i--) pending.push(item[i])
        else add(key, item)
      }
    }
  }
  for (const [key, value] of request.query) add(key, value)
  for (const source of [request.parsedQuery, request.body]) {
    // Only what a parser made of JSON, a form or a query: a Buffer or typed array (`express.raw()`) is content,
    // not parameters (each byte would be one).
    if (isPlainObject(source)) addEntries(source)
    else if (Array.isArray(source)) {
      // An array body (a bulk request) is checked as the entries of each object in it.
      for (const item of source as unknown[]) if (isPlainObject(item)) addEntries(item)
    }
  }
  // `?list=true` chose the operation; it is not a parameter of it.
  if (listQuery) values.delete('list')
  const parameters: Record<string, unknown> = Object.create(null) as Record<string, unknown>
  for (const [key, list] of values) parameters[key] = list.length === 1 ? list[0] : list
  return parameters
}

function checkBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`Expected \`${name}\` to be a boolean`)
  return value
}

function trimSlashes(text: string): string {
  return text.replace(/^\/+|\/+$/g, '')
}

function checkText(value: unknown, name: string): string {
  if (typeof value !== 'string' || !PATH_TEXT.test(value)) {
    throw new TypeError(`Expected \`${name}\` to be a path such as 'api/'`)
  }
  return value
}
