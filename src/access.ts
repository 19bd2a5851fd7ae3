/**
 * The request side of `store.authorize()`: checking what the caller asks, and deciding it against an {@link Acl}.
 * Pure.
 *
 * @packageDocumentation
 */
import type { Acl } from './acl/acl.js'
import type { AclOperation } from './acl/types.js'
import { describeValue, inputError, invalidRequest } from './errors.js'

/** Longest request path accepted. */
const MAX_PATH_LENGTH = 4096

/** The operations a request may ask for. */
const OPERATIONS: ReadonlySet<string> = new Set([
  'create',
  'read',
  'update',
  'patch',
  'delete',
  'list',
])

/** One-operation lists, shared: the common case allocates nothing. */
const CREATE: readonly AclOperation[] = Object.freeze(['create'])
const READ: readonly AclOperation[] = Object.freeze(['read'])
const UPDATE: readonly AclOperation[] = Object.freeze(['update'])
const PATCH: readonly AclOperation[] = Object.freeze(['patch'])
const DELETE: readonly AclOperation[] = Object.freeze(['delete'])
const LIST: readonly AclOperation[] = Object.freeze(['list'])

/**
 * The shared one-operation list of `operation`, or `undefined` when it is not an operation's name. A switch: it
 * compares with six constants, where a lookup in a table by a caller's string is a generic property lookup (and
 * must not find `toString` or `__proto__`).
 */
function single(operation: unknown): readonly AclOperation[] | undefined {
  switch (operation) {
    case 'read':
      return READ
    case 'update':
      return UPDATE
    case 'create':
      return CREATE
    case 'list':
      return LIST
    case 'delete':
      return DELETE
    case 'patch':
      return PATCH
    default:
      return undefined
  }
}

/** What `store.authorize()` checks: the request's path and operation, and optionally its parameters. */
export interface AuthorizeOptions {
  /** The request path below the API root (`secret/data/app`); a leading `/` is ignored. */
  readonly path: string
  /**
   * The operation, checked against the capability of the same name. Several mean "any of them": Vault's token
   * creation endpoints, for instance, accept `create` or `update`.
   */
  readonly operation: AclOperation | readonly AclOperation[]
  /**
   * The request's parameters. When given, the applying rule's `allowed_parameters`, `denied_parameters` and
   * `required_parameters` are enforced on them.
   */
  readonly parameters?: Readonly<Record<string, unknown>>
  /**
   * Also require `sudo` on the path, as Vault does for its root-protected endpoints (`auth/token/accessors`,
   * `sys/leases/revoke-prefix/*`...).
   * @default false
   */
  readonly sudo?: boolean
  /**
   * Whether the path is served by a router that matches it case-sensitively, as policies match paths (and Vault's
   * router). `false` for a router that matches it in any case (Express's and Koa's by default): the request must
   * then be allowed on its path as given **and** on the path lower-cased, so that `GET /Admin/users` does not slip
   * past a `deny` on `admin/*` and reach the handler of `/admin/users`. Write such routes' rules in lower case.
   * (`requireCapability`'s option of the same name defaults to `false`.)
   * @default true
   */
  readonly caseSensitive?: boolean
}

/** A checked {@link AuthorizeOptions}. */
export interface AccessRequest {
  readonly path: string
  /** The lower-cased path, also to be allowed, when the router ignores case and it differs from `path`. */
  readonly foldedPath: string | undefined
  readonly operations: readonly AclOperation[]
  readonly parameters: Readonly<Record<string, unknown>> | undefined
  readonly sudo: boolean
}

/**
 * {@link checkAccessRequest} with what reading the request throws (a getter, a Proxy) reported as `invalid_request`,
 * as `readInput` reports it: without a closure per request.
 *
 * @throws {@link TokenStoreError} `invalid_request` as `checkAccessRequest`, or when reading the request throws.
 */
export function readAccessRequest(request: AuthorizeOptions): AccessRequest {
  try {
    return checkAccessRequest(request)
  } catch (error) {
    throw inputError(error)
  }
}

/**
 * Checks `store.authorize()`'s request.
 *
 * @throws {@link TokenStoreError} `invalid_request` for a path that is not a string (or is too long), an unknown
 * operation, parameters that are not an object, or a `sudo` that is not a boolean.
 */
export function checkAccessRequest(request: AuthorizeOptions): AccessRequest {
  if (typeof request !== 'object' || (request as unknown) === null) {
    throw invalidRequest(`Expected the request to be an object, got ${describeValue(request)}`)
  }
  const path = checkPath(request.path)
  const operation: unknown = request.operation
  const one = single(operation)
  const listed: readonly unknown[] =
    one ?? (Array.isArray(operation) ? (operation as readonly unknown[]) : [operation])
  if (listed.length === 0) throw invalidRequest('Expected `operation` to name an operation')
  if (one === undefined) {
    for (const item of listed) {
      if (typeof item !== 'string' || !OPERATIONS.has(item)) {
        throw invalidRequest(
          `Expected \`operation\` to be one of ${[...OPERATIONS].join(', ')}, got ${describeValue(item)}`,
        )
      }
    }
  }
  const { parameters } = request
  if (
    parameters !== undefined &&
    (typeof parameters !== 'object' ||
      (parameters as unknown) === null ||
      Array.isArray(parameters))
  ) {
    throw invalidRequest(
      `Expected \`parameters\` to be an object, got ${describeValue(parameters)}`,
    )
  }
  const sudo = request.sudo ?? false
  if (typeof sudo !== 'boolean') {
    throw invalidRequest(`Expected \`sudo\` to be a boolean, got ${describeValue(sudo)}`)
  }
  const caseSensitive = request.caseSensitive ?? true
  if (typeof caseSensitive !== 'boolean') {
    throw invalidRequest(
      `Expected \`caseSensitive\` to be a boolean, got ${describeValue(caseSensitive)}`,
    )
  }
  const folded = caseSensitive ? path : path.toLowerCase()
  // A copy of a caller's list: the ACL trusts what was checked here, and the caller could change its array while
  // the token's use is read from storage.
  const operations = one ?? Object.freeze([...listed] as AclOperation[])
  return { path, foldedPath: folded === path ? undefined : folded, operations, parameters, sudo }
}

/**
 * Checks a path argument (of `authorize` or `capabilities`) and strips its leading `/`.
 *
 * @throws {@link TokenStoreError} `invalid_request` when it is not a string of at most 4096 characters.
 */
export function checkPath(path: unknown): string {
  if (typeof path !== 'string') {
    throw invalidRequest(`Expected \`path\` to be a string, got ${describeValue(path)}`)
  }
  if (path.length > MAX_PATH_LENGTH) {
    throw invalidRequest(
      `Expected \`path\` to be at most ${MAX_PATH_LENGTH} characters, got ${path.length}`,
    )
  }
  return path.charCodeAt(0) === 47 ? path.replace(/^\/+/, '') : path
}

/**
 * Why `acl` refuses `request`, or `null` when it allows it (any one operation, and sudo when asked; on the
 * lower-cased path too, for a case-insensitive router).
 */
export function refusal(acl: Acl, request: AccessRequest): string | null {
  const refused = pathRefusal(acl, request, request.path)
  if (refused !== null || request.foldedPath === undefined) return refused
  return pathRefusal(acl, request, request.foldedPath)
}

function pathRefusal(acl: Acl, request: AccessRequest, path: string): string | null {
  let reason: string | undefined
  for (const operation of request.operations) {
    // `checkAccessRequest` checked the request: `decide` skips `check`'s checks (and allocates no request object).
    const decision = acl.decide(path, operation, request.parameters)
    if (!decision.allowed) {
      reason ??= decision.reason
      continue
    }
    if (request.sudo && !decision.sudo) {
      reason ??= `sudo is required on '${path}'`
      continue
    }
    return null
  }
  return reason === undefined ? 'permission denied' : `permission denied: ${reason}`
}
