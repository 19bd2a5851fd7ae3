/**
 * The Vault-compatible API as one framework-free function: a parsed request in, a status and JSON body out. The
 * Express and Koa routers and the dev server are thin adapters over {@link handleVaultRequest}.
 *
 * Order of checks, as in Vault: the HTTP method (405), body size (413), JSON and field types (400), all without
 * spending a use; then the calling token (403 when missing or bad; one use spent), the path and operation
 * (404/405: an unrouted request has spent its use, as in Vault), the access rule (403), and the endpoint itself.
 *
 * @packageDocumentation
 */
import { invalidRequest } from '../../errors.js'
import type { TokenStore } from '../../token-store.js'
import {
  PERMISSION_DENIED_MESSAGE,
  errorResult,
  errorToResult,
  readToken,
  resolveReadOptions,
  type HttpResult,
  type TokenReadOptions,
} from '../bearer.js'
import { accessFailure, aclRequest } from './acl-access.js'
import { DEFAULT_BODY_LIMIT, asObject, parseBodyText } from './body.js'
import { decodeFields, parseBool } from './fields.js'
import type { LogicalOperation, Route } from './route.js'
import { LEASE_PARAM_ROUTES, LEASE_ROUTES } from './lease-routes.js'
import { LIST_PARAM_ROUTES, LIST_ROUTES } from './list-routes.js'
import { POLICY_PARAM_ROUTES, POLICY_ROUTES } from './policy-routes.js'
import { ROLE_PARAM_ROUTES, ROLE_ROUTES } from './role-routes.js'
import { PARAM_ROUTES, health } from './sys-routes.js'
import { CREATE_WITH_ROLE, TOKEN_ROUTES } from './token-routes.js'
import {
  isWrappingCaller,
  refuseWrapTtl,
  requestedWrapTtl,
  wrapAnswer,
} from './response-wrapping.js'
import { WRAPPING_ROUTES } from './wrapping-routes.js'
import { type ApiRequest, type AuthorizeRequest, type VaultApiOptions } from './types.js'

/** Vault's clients send the token in a header; see {@link VaultApiOptions.token}. */
const API_TOKEN_SOURCES: TokenReadOptions = { sources: ['x-vault-token', 'bearer'] }

/** Base path of the token auth method's routes. */
const TOKEN_BASE = 'auth/token/'

/** Every route with a fixed path, by its path below the mount prefix. */
const EXACT_ROUTES: ReadonlyMap<string, Route> = new Map([
  ...Object.entries(TOKEN_ROUTES).map(([name, route]) => [`${TOKEN_BASE}${name}`, route] as const),
  ...ROLE_ROUTES,
  ...LEASE_ROUTES,
  ...LIST_ROUTES,
  ...WRAPPING_ROUTES,
  ...POLICY_ROUTES,
])

/**
 * Every route whose path ends with a parameter (a role name, a lease id or a prefix), by the base the parameter
 * follows. No base is a prefix of another, so the order does not matter.
 */
const PARAM_BASES: ReadonlyMap<string, Route> = new Map([
  [`${TOKEN_BASE}create/`, CREATE_WITH_ROLE],
  ...ROLE_PARAM_ROUTES,
  ...PARAM_ROUTES,
  ...LEASE_PARAM_ROUTES,
  ...LIST_PARAM_ROUTES,
  ...POLICY_PARAM_ROUTES,
])

/** Checked {@link VaultApiOptions}. */
export interface ResolvedApiOptions {
  /** Mount prefix without trailing `/` (`''` for the root). */
  readonly prefix: string
  /** Largest body, in bytes. */
  readonly bodyLimit: number
  /** Where to read the calling token. */
  readonly token: Required<TokenReadOptions>
  /** The host's access rule, or `null` for the ACL (the token's policies). */
  readonly authorize: ((request: AuthorizeRequest) => boolean | Promise<boolean>) | null
}

/**
 * Checks the API options once, when a router is built.
 *
 * @throws TypeError for a malformed prefix, body limit or token source.
 */
export function resolveApiOptions(options: VaultApiOptions = {}): ResolvedApiOptions {
  const prefix = (options.prefix ?? '/v1').replace(/\/+$/, '')
  if (prefix !== '' && !/^\/[A-Za-z0-9._~\-/]*$/.test(prefix)) {
    throw new TypeError("Expected `prefix` to be a path such as '/v1'")
  }
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT
  if (!Number.isSafeInteger(bodyLimit) || bodyLimit < 0) {
    throw new TypeError('Expected `bodyLimit` to be a non-negative integer')
  }
  return {
    prefix,
    bodyLimit,
    token: resolveReadOptions(options.token ?? API_TOKEN_SOURCES),
    authorize: options.authorize ?? null,
  }
}

/**
 * Serves one request of the Vault-compatible API. Never rejects: every failure is an answer, with Vault's
 * `{ "errors": [...] }` body and no token in it.
 */
export async function handleVaultRequest(
  store: TokenStore,
  request: ApiRequest,
  options: ResolvedApiOptions,
): Promise<HttpResult> {
  try {
    return await dispatch(store, request, options)
  } catch (error) {
    return errorToResult(error)
  }
}

async function dispatch(
  store: TokenStore,
  request: ApiRequest,
  options: ResolvedApiOptions,
): Promise<HttpResult> {
  const path = decodePath(request.path)
  if (path === 'sys/health') {
    if (request.method !== 'GET' && request.method !== 'HEAD') return methodNotAllowed()
    refuseWrapTtl(request.headers)
    return health(
      request.query,
      () => new Date(),
      () => store.ping(),
    )
  }
  // Vault's HTTP layer refuses an unknown method before anything else.
  const operation = logicalOperation(request.method, request.query)
  if (operation === null) return methodNotAllowed()
  // Vault routes and authorizes a listing as a folder: `LIST auth/token/accessors` is `auth/token/accessors/`, so a
  // policy's `auth/token/accessors/*` (a deny, say) applies to it.
  const routedPath = operation === 'list' && !path.endsWith('/') ? `${path}/` : path
  const match = matchRoute(routedPath)
  const served = match !== null && match.route.ops.includes(operation)
  const wrapTtl = served ? requestedWrapTtl(request.headers, match.route, operation) : null
  // With X-Vault-Wrap-TTL, an answer with `data` or `auth` is held for a wrapping token and only `wrap_info` sent.
  const answer = async (result: HttpResult): Promise<HttpResult> =>
    wrapTtl === null || match === null
      ? result
      : wrapAnswer(
          store,
          result,
          wrapTtl,
          path,
          match.route.operationFor?.[operation] ?? match.route.operation,
        )

  // The body is read and parsed before the token is used: a body that cannot be parsed spends no use. A read's
  // data is its query string, as Vault's `parseQuery` makes it (`GET auth/token/lookup?token=…`).
  let input: Record<string, unknown> = {}
  if (operation === 'update') {
    const { body } = request
    if (body.kind === 'too_large') {
      return { ...errorResult(413, 'request body too large'), headers: { connection: 'close' } }
    }
    if (body.kind === 'already_read') return errorResult(400, BODY_ALREADY_READ)
    input =
      body.kind === 'text'
        ? parseBodyText(body.text, request.headers['content-type'])
        : asObject(body.value)
  } else if (operation === 'read') {
    input = queryData(request.query)
  }
  const decoded = served
    ? match.route.anyFields === true
      ? { fields: {}, warnings: [] }
      : decodeFields(input, match.route.fields)
    : null
  if (served && decoded !== null && match.route.beforeAuth !== undefined) {
    const presentedToken = readToken(request.headers, options.token)
    const early = await match.route.beforeAuth({
      store,
      fields: decoded.fields,
      presentedToken,
      wrapTtl,
    })
    if (early !== null) return answer(early)
  }

  // As in Vault, the token is checked (and a use spent) before routing: an unknown path or operation costs a
  // use, and a request without a token is refused whatever its path.
  const callerToken = readToken(request.headers, options.token)
  if (callerToken === null) return errorResult(403, PERMISSION_DENIED_MESSAGE)
  const hook = options.authorize
  // Without a host rule, the ACL decides: one `authorize` on the request's own path (a use spent either way).
  const access =
    hook === null && served && decoded !== null
      ? await aclRequest(
          store,
          match.route,
          routedPath,
          operation,
          match.param,
          aclParameters(input, decoded.fields),
        )
      : null
  let caller
  try {
    caller =
      access === null
        ? await store.authenticate(callerToken)
        : await store.authorize(callerToken, access)
  } catch (error) {
    return accessFailure(error)
  }
  // A wrapping token may unwrap, look up or rewrap itself (above), and unwrap another (its policy's one rule in
  // Vault); nothing else, whatever a host's `authorize` hook would say.
  if (isWrappingCaller(caller.policies) && match?.route.operation !== 'unwrap') {
    return errorResult(403, PERMISSION_DENIED_MESSAGE)
  }
  if (match === null) return errorResult(404, 'unsupported path')
  if (decoded === null) return methodNotAllowed()
  const { route, param } = match
  const { fields, warnings } = decoded
  if (hook !== null) {
    // The host's rule instead of the ACL.
    if (route.rootOnly !== undefined && !caller.policies.includes('root')) {
      return errorResult(403, route.rootOnly)
    }
    const subject = route.subject?.(fields, param) ?? {}
    const named = route.operationFor?.[operation] ?? route.operation
    if (!(await hook({ ...subject, operation: named, caller }))) {
      return errorResult(403, PERMISSION_DENIED_MESSAGE)
    }
  }
  const result = await route.run({
    store,
    fields,
    caller,
    callerToken,
    param,
    query: request.query,
    operation,
    input,
    wrapTtl,
  })
  return answer(withWarnings(result, warnings))
}

/**
 * Adds the field warnings to an answer that has a body to carry them, as Vault does (a 204 stays a 204: Vault adds
 * them only to a response that exists).
 */
function withWarnings(result: HttpResult, warnings: readonly string[]): HttpResult {
  const body = result.body as { warnings?: unknown } | undefined
  if (warnings.length === 0 || typeof body !== 'object' || !('warnings' in body)) return result
  const existing = Array.isArray(body.warnings) ? (body.warnings as string[]) : []
  return { ...result, body: { ...body, warnings: [...existing, ...warnings] } }
}

/**
 * The parameters a policy's rules see: each known field as the endpoint will act on it (decoded: `"t"` is true, `""`
 * is 0, policy names trimmed and lower-cased), so that no spelling of a denied value slips past them; unknown fields
 * as they came. `lease`, the older name of `ttl` on token creation, is also seen as `ttl` when that is not sent.
 */
function aclParameters(
  input: Readonly<Record<string, unknown>>,
  fields: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const parameters: Record<string, unknown> = { ...input, ...fields }
  if (fields.lease !== undefined && fields.ttl === undefined) parameters.ttl = fields.lease
  return parameters
}

/**
 * A GET's query string as request data, as Vault's `parseQuery` reads it: a name given once is its value, given
 * more than once the list of them; `help` is Vault's reserved parameter, left out.
 */
function queryData(query: URLSearchParams): Record<string, unknown> {
  // One pass over the pairs: `getAll` per name would be quadratic in a query of many names.
  const values = new Map<string, string[]>()
  for (const [name, value] of query) {
    if (name === 'help') continue
    const list = values.get(name)
    if (list === undefined) values.set(name, [value])
    else list.push(value)
  }
  const data: Record<string, unknown> = Object.create(null) as Record<string, unknown>
  for (const [name, list] of values) data[name] = list.length === 1 ? list[0] : list
  return data
}

/** Vault's operation for an HTTP method: `GET ?list=true` is LIST, since Node's HTTP parser refuses `LIST`. */
function logicalOperation(method: string, query: URLSearchParams): LogicalOperation | null {
  switch (method) {
    case 'POST':
    case 'PUT':
      return 'update'
    case 'LIST':
      return 'list'
    case 'DELETE':
      return 'delete'
    case 'GET': {
      const list = query.get('list')
      return list !== null && list !== '' && parseBool('list', list) ? 'list' : 'read'
    }
    default:
      return null
  }
}

function matchRoute(path: string): { route: Route; param: string } | null {
  const exact = EXACT_ROUTES.get(path)
  if (exact !== undefined) return { route: exact, param: '' }
  for (const [base, route] of PARAM_BASES) {
    if (path.startsWith(base) && path.length > base.length) {
      return { route, param: path.slice(base.length) }
    }
  }
  return null
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path)
  } catch {
    throw invalidRequest('malformed URL path')
  }
}

/** The refusal of a request whose body a middleware read without handing on what it parsed. */
const BODY_ALREADY_READ =
  'the request body was read before the Vault API, and nothing parsed from it was passed on'

function methodNotAllowed(): HttpResult {
  return errorResult(405, 'unsupported operation')
}
