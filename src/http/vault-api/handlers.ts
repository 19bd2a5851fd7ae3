/**
 * The Vault-compatible API as one framework-free function: a parsed request in, a status and JSON body out. The
 * Express and Koa routers and the dev server are thin adapters over {@link handleVaultRequest}.
 *
 * Order of checks, so that a bad request never changes the store: method and path (404/405), body size (413),
 * JSON and field types (400), and only then the calling token (401/403, spending one use), the access rule
 * (403), and the endpoint itself.
 *
 * @packageDocumentation
 */
import { invalidRequest } from '../../errors.js'
import type { TokenStore } from '../../token-store.js'
import {
  MISSING_TOKEN_MESSAGE,
  PERMISSION_DENIED_MESSAGE,
  errorResult,
  errorToResult,
  readToken,
  resolveReadOptions,
  type HttpResult,
  type TokenReadOptions,
} from '../bearer.js'
import { accessFailure, aclRequest } from './acl-access.js'
import { DEFAULT_BODY_LIMIT, asObject, parseJsonObject } from './body.js'
import { decodeFields, parseBool } from './fields.js'
import type { LogicalOperation, Route } from './route.js'
import { LEASE_PARAM_ROUTES, LEASE_ROUTES } from './lease-routes.js'
import { LIST_PARAM_ROUTES, LIST_ROUTES } from './list-routes.js'
import { POLICY_PARAM_ROUTES, POLICY_ROUTES } from './policy-routes.js'
import { ROLE_PARAM_ROUTES, ROLE_ROUTES } from './role-routes.js'
import { PARAM_ROUTES, health } from './sys-routes.js'
import { CREATE_WITH_ROLE, TOKEN_ROUTES } from './token-routes.js'
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
    return health(request.query, new Date())
  }
  const operation = logicalOperation(request.method, request.query)
  // Vault routes a listing as a folder: `LIST auth/token/accessors` is `auth/token/accessors/`.
  const match = matchRoute(operation === 'list' && !path.endsWith('/') ? `${path}/` : path)
  if (operation === null) return methodNotAllowed()
  if (match === null) return errorResult(404, 'unsupported path')
  const { route, param } = match
  if (!route.ops.includes(operation)) return methodNotAllowed()

  let input: Record<string, unknown> = {}
  if (operation === 'update') {
    const { body } = request
    if (body.kind === 'too_large') {
      return { ...errorResult(413, 'request body too large'), headers: { connection: 'close' } }
    }
    input = body.kind === 'text' ? parseJsonObject(body.text) : asObject(body.value)
  }
  const fields = decodeFields(input, route.fields)

  const callerToken = readToken(request.headers, options.token)
  if (callerToken === null) return errorResult(401, MISSING_TOKEN_MESSAGE)
  const hook = options.authorize
  const access =
    hook === null ? await aclRequest(store, route, path, operation, param, input) : null
  let caller
  try {
    caller =
      access === null
        ? await store.authenticate(callerToken)
        : await store.authorize(callerToken, access)
  } catch (error) {
    return accessFailure(error)
  }
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
  return route.run({ store, fields, caller, callerToken, param, query: request.query, operation })
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

function methodNotAllowed(): HttpResult {
  return errorResult(405, 'unsupported operation')
}
