/**
 * The shape of one Vault API endpoint, and small helpers the endpoints share.
 *
 * @packageDocumentation
 */
import { TokenStoreError, invalidRequest } from '../../errors.js'
import type { TokenStore } from '../../token-store.js'
import type { Seconds, TokenInfo } from '../../types.js'
import type { AclOperation } from '../../acl/types.js'
import type { HttpResult } from '../bearer.js'
import type { DecodedFields, FieldSchema } from './fields.js'
import type { VaultOperation } from './types.js'

/** Vault's request operations, from the HTTP method (`GET ?list=true` and `LIST` are `list`). */
export type LogicalOperation = 'read' | 'update' | 'list' | 'delete'

/** What a request names besides the calling token, for the `authorize` hook. */
export interface RouteSubject {
  /** A role name. */
  readonly role?: string
  /** A lease id. */
  readonly leaseId?: string
}

/** What an authenticated endpoint gets. */
export interface RouteContext<S extends FieldSchema> {
  /** The store served. */
  readonly store: TokenStore
  /** The checked request fields. */
  readonly fields: DecodedFields<S>
  /** The calling token, after the use this request spent. */
  readonly caller: TokenInfo
  /** The calling token's id, as presented. */
  readonly callerToken: string
  /** The rest of the path after a parameterised route's base (the prefix of `sys/leases/revoke-prefix/…`). */
  readonly param: string
  /** The query string. */
  readonly query: URLSearchParams
  /** The operation asked for, for routes that serve several. */
  readonly operation: LogicalOperation
  /** The request body as parsed, before the field checks (what `sys/wrapping/wrap` holds). */
  readonly input: Readonly<Record<string, unknown>>
  /** The TTL of the `X-Vault-Wrap-TTL` header, or `null` when the answer is not to be wrapped. @remarks Seconds. */
  readonly wrapTtl: Seconds | null
}

/** What {@link Route.beforeAuth} gets: the request, before any token was used. */
export interface PreAuthContext<S extends FieldSchema> {
  /** The store served. */
  readonly store: TokenStore
  /** The checked request fields. */
  readonly fields: DecodedFields<S>
  /** The token the request carries (`X-Vault-Token` or bearer), not yet authenticated, or `null`. */
  readonly presentedToken: string | null
  /** As {@link RouteContext.wrapTtl}. @remarks Seconds. */
  readonly wrapTtl: Seconds | null
}

/** One authenticated endpoint. */
export interface Route<S extends FieldSchema = FieldSchema> {
  /** The name the `authorize` hook sees. */
  readonly operation: VaultOperation
  /** Other names for some of the operations it serves (`read-role` for a read of `auth/token/roles/:name`). */
  readonly operationFor?: Partial<Readonly<Record<LogicalOperation, VaultOperation>>>
  /** The operations it serves; others get 405. */
  readonly ops: readonly LogicalOperation[]
  /** The fields it accepts; others get 400. */
  readonly fields: S
  /** Vault's sudo-only endpoints: refused to non-root tokens whatever `authorize` says, with this message. */
  readonly rootOnly?: string
  /**
   * Accept any fields, unchecked (`sys/wrapping/wrap` holds whatever it is sent): they reach `run` as `input`, and
   * `fields` is empty.
   */
  readonly anyFields?: boolean
  /**
   * Serves the request before the calling token is authenticated, or resolves to `null` to go on with the usual
   * authentication, access rule and `run`. For the `sys/wrapping/*` endpoints, where the presented token may be the
   * wrapping token itself, which authenticating would spend.
   */
  beforeAuth?(context: PreAuthContext<S>): Promise<HttpResult | null>
  /** Vault's root-protected endpoints: the ACL must also grant `sudo` on the path. */
  readonly sudo?: boolean
  /**
   * The ACL operations a write (POST or PUT) may use, any one sufficing: `['create', 'update']` for Vault's token
   * creation endpoints. Without it, a write is `update`, or with {@link Route.exists}, `create` or `update`.
   */
  readonly writeOperations?: readonly AclOperation[]
  /**
   * Vault's existence check: whether the resource a write names exists, making the write an `update` (else a
   * `create`), as Vault decides for token roles.
   */
  exists?(store: TokenStore, param: string): Promise<boolean>
  /**
   * The name the store will act on, for a route whose store call normalises its parameter (policy names are
   * trimmed and lower-cased): the ACL is asked about the path with this name in place of the one sent, so that a
   * rule on `sys/policy/admin` also governs `sys/policy/ADMIN`.
   */
  aclParam?(param: string): string
  /** What the request names, passed on to the `authorize` hook. */
  subject?(fields: DecodedFields<S>, param: string): RouteSubject
  /** Serves the request. Store errors it throws are answered from the status table. */
  run(context: RouteContext<S>): Promise<HttpResult>
}

/** Declares a route, keeping its field types for `run`. */
export function route<S extends FieldSchema>(definition: Route<S>): Route {
  return definition
}

/**
 * A required string field.
 *
 * @throws {@link TokenStoreError} `invalid_request` with Vault's message when it is absent or empty.
 */
export function required(value: string | undefined, message: string): string {
  if (value === undefined || value === '') throw invalidRequest(message)
  return value
}

/**
 * Runs a store call about a token named in the request (not the caller). Vault answers an unknown target with
 * 400, keeping 403 for a bad calling token, so `invalid_token` becomes `invalid_request` with Vault's message.
 */
export async function aboutTarget<T>(call: Promise<T>, message: string): Promise<T> {
  try {
    return await call
  } catch (error) {
    if (error instanceof TokenStoreError && error.code === 'invalid_token') {
      throw invalidRequest(message)
    }
    throw error
  }
}
