/**
 * Shapes shared by the framework-free Vault API core and its adapters.
 *
 * @packageDocumentation
 */
import type { IncomingHttpHeaders } from 'node:http'

import type { TokenInfo } from '../../types.js'
import type { TokenReadOptions } from '../bearer.js'

/**
 * An operation of the Vault-compatible API, named after its path below `auth/token/` (or `sys/`), or, where one
 * path serves several, after what it does: `read-role`, `write-role` and `delete-role` for
 * `auth/token/roles/:name`, `create-with-role` for `auth/token/create/:name`, and `lookup-lease`, `renew-lease` and
 * `revoke-lease` for `sys/leases/*`; `wrap`, `unwrap` and `rewrap` for `sys/wrapping/*` (asked only when the
 * caller is not the wrapping token itself: a wrapping token may always unwrap or rewrap itself, and
 * `sys/wrapping/lookup` needs no token). What {@link VaultApiOptions.authorize} is asked about.
 */
export type VaultOperation =
  | 'create'
  | 'create-orphan'
  | 'lookup'
  | 'lookup-self'
  | 'lookup-accessor'
  | 'renew'
  | 'renew-self'
  | 'renew-accessor'
  | 'revoke'
  | 'revoke-self'
  | 'revoke-orphan'
  | 'revoke-accessor'
  | 'tidy'
  | 'list-accessors'
  | 'list-leases'
  | 'list-roles'
  | 'read-role'
  | 'write-role'
  | 'delete-role'
  | 'create-with-role'
  | 'lookup-lease'
  | 'renew-lease'
  | 'revoke-lease'
  | 'revoke-prefix'
  | 'revoke-force'
  | 'wrap'
  | 'unwrap'
  | 'rewrap'
  | 'lookup-wrapping'
  | 'list-policies'
  | 'read-policy'
  | 'write-policy'
  | 'delete-policy'
  | 'capabilities'
  | 'capabilities-self'
  | 'capabilities-accessor'

/** What an {@link VaultApiOptions.authorize} hook is asked. */
export interface AuthorizeRequest {
  /** The operation requested. */
  readonly operation: VaultOperation
  /** The calling token, already authenticated (one use spent, as Vault spends it even on a denied request). */
  readonly caller: TokenInfo
  /** The role named in the path, for `*-role` operations and `create-with-role` (`auth/token/create/:role`). */
  readonly role?: string
  /** The lease named in the request, for `lookup-lease`, `renew-lease` and `revoke-lease`. */
  readonly leaseId?: string
}

/** Options of the Vault-compatible API (`vaultRouter()` and the dev server). */
export interface VaultApiOptions {
  /**
   * Where the API is mounted: requests outside it are passed on (`next()`). Vault's clients call `/v1/...`.
   * @default '/v1'
   */
  readonly prefix?: string
  /**
   * Largest accepted request body, in bytes; a larger one is answered 413. Vault's own limit is 32 MiB; token
   * requests are a few hundred bytes, policies and wrapped values can be tens of kilobytes.
   * @default 1048576 (1 MiB)
   */
  readonly bodyLimit?: number
  /**
   * Where the API reads the calling token. Vault reads `X-Vault-Token` and `Authorization: Bearer`; the cookie is
   * left out by default because a cookie-authenticated JSON API invites cross-site request forgery.
   * @default { sources: ['x-vault-token', 'bearer'] }
   */
  readonly token?: TokenReadOptions
  /**
   * A host's own access rule, in place of the ACL. Without it (the default), every endpoint is authorized as Vault
   * authorizes it: one `store.authorize` call on the request's path with the caller's policies, `sudo` for Vault's
   * root-protected endpoints, `root` passing everything (see docs/policies-enforcement.md). With it, the token is
   * authenticated and the hook decides; return `false` to answer 403. The hook cannot lift the rules Vault keeps
   * even for ACL holders: `revoke-orphan`, `revoke-prefix`, `no_parent`, a custom `id` and `period` need a `root`
   * token, and the child-policy rules of `create` and `create-orphan` (and a role's rules for
   * `create-with-role`) always apply. {@link defaultAuthorize} is the rule tokentree used before policies.
   * @default the ACL
   */
  readonly authorize?: (request: AuthorizeRequest) => boolean | Promise<boolean>
}

/** A request in framework-neutral form, as the adapters hand it to the core. */
export interface ApiRequest {
  /** The HTTP method, upper case. */
  readonly method: string
  /** The path below the mount prefix, without leading `/`, not yet URI-decoded: `auth/token/create`. */
  readonly path: string
  /** The query string, without `?`. */
  readonly query: URLSearchParams
  /** The request headers (lower-case names, as node:http gives them). */
  readonly headers: IncomingHttpHeaders
  /**
   * The body: raw text to parse as JSON, an object a body parser already produced, or a size error the adapter
   * hit while reading it.
   */
  readonly body: RequestBody
}

/** A request body as the adapter found it. */
export type RequestBody =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'parsed'; readonly value: unknown }
  | { readonly kind: 'too_large' }
  /** Read before the API by a middleware that handed nothing on: refused (400), never taken as empty. */
  | { readonly kind: 'already_read' }

/**
 * The access rule tokentree applied before it enforced policies, for hosts that pass it as `authorize` to keep it:
 *
 * - `root` may do anything;
 * - any valid token may act on itself (`*-self`), create children (`create`), create orphans within its own
 *   policies (`create-orphan`), and look up, renew or revoke a token whose id it presents (holding an id already
 *   gives every power over that token);
 * - any valid token may look up and renew a lease whose id it presents, as Vault's `default` policy grants
 *   (`sys/leases/lookup`, `sys/leases/renew`); revoking a lease needs `root`, as it is not in that policy;
 * - `LIST sys/leases/lookup/:prefix` and `sys/leases/revoke-force/:prefix` need `root` (sudo in Vault);
 * - `auth/token/tidy` needs `root` (sudo in Vault);
 * - operations by accessor and `LIST auth/token/accessors` need `root`, since accessors are not secret (they
 *   appear in audit logs) and would otherwise let any token revoke any other;
 * - policies (`sys/policy*`, `sys/policies/acl*`), `sys/capabilities` and `sys/capabilities-accessor` need `root`;
 *   `sys/capabilities-self` is open to any token;
 * - token roles (read, write, delete, list) and creating against a role need `root`: a role's allowed policies
 *   are granted whatever the caller holds, so letting any token use any role would hand every role's policies
 *   to every token. Allow chosen callers in `authorize`, which is told the role's name.
 */
export function defaultAuthorize(request: AuthorizeRequest): boolean {
  if (request.caller.policies.includes('root')) return true
  switch (request.operation) {
    case 'lookup-accessor':
    case 'renew-accessor':
    case 'revoke-accessor':
    case 'list-accessors':
    case 'tidy':
    case 'revoke-orphan':
    case 'revoke-prefix':
    case 'revoke-force':
    case 'list-leases':
    case 'list-roles':
    case 'read-role':
    case 'write-role':
    case 'delete-role':
    case 'create-with-role':
    case 'revoke-lease':
    case 'list-policies':
    case 'read-policy':
    case 'write-policy':
    case 'delete-policy':
    case 'capabilities':
    case 'capabilities-accessor':
      return false
    default:
      return true
  }
}
