/**
 * The events a `TokenStore` emits. Payloads carry accessors, never token ids.
 *
 * @packageDocumentation
 */
import type { TokenStoreErrorCode } from './errors.js'
import type { Accessor, LeaseId, RevokeReason } from './types.js'

/** The public `TokenStore` methods that emit an `audit` event, named as the methods are (`roles.write` for `store.roles.write`). */
export type AuditOperation =
  | 'create'
  | 'createRoot'
  | 'lookup'
  | 'lookupAccessor'
  | 'list'
  | 'authenticate'
  | 'renew'
  | 'renewAccessor'
  | 'revoke'
  | 'revokeOrphan'
  | 'revokeAccessor'
  | 'revokePrefix'
  | 'revokeExpired'
  | 'createLease'
  | 'lookupLease'
  | 'listLeaseKeys'
  | 'renewLease'
  | 'revokeLease'
  | 'roles.write'
  | 'roles.read'
  | 'roles.list'
  | 'roles.delete'
  | 'policies.write'
  | 'policies.read'
  | 'policies.list'
  | 'policies.delete'
  | 'authorize'
  | 'capabilities'
  | 'capabilitiesAccessor'
  | 'tidy'
  | 'wrap'
  | 'unwrap'
  | 'lookupWrapping'
  | 'rewrap'

/** One operation on the store, successful or not: the raw material for the host's audit log. */
export interface AuditEvent {
  /** The method called. */
  readonly operation: AuditOperation
  /** `ok` when the call resolved, `error` when it rejected. */
  readonly outcome: 'ok' | 'error'
  /**
   * The accessor of the token the operation acted on (for `create`, the new token), or `null` when there was none
   * or it is unknown (a bad token presented to `authenticate`).
   */
  readonly accessor: Accessor | null
  /** The error code, when `outcome` is `error`. */
  readonly code?: TokenStoreErrorCode
  /** When the operation started, by the store's clock. */
  readonly time: Date
}

/** A token was revoked. Emitted once per token, after the deletion was written, before the revoking call settles. */
export interface TokenRevokedEvent {
  /** What was revoked. */
  readonly kind: 'token'
  /** The revoked token's accessor. */
  readonly accessor: Accessor
  /** The revoked token's source path. */
  readonly path: string
  /** Why: the revoking operation's cause for the token it named, `parent` for every descendant. */
  readonly reason: RevokeReason
  /** When it was revoked, by the store's clock. */
  readonly time: Date
}

/**
 * A lease was revoked: the host should now destroy the secret it describes. Emitted once per lease, after the
 * deletion was written, before the revoking call settles.
 */
export interface LeaseRevokedEvent {
  /** What was revoked. */
  readonly kind: 'lease'
  /** The lease id. */
  readonly leaseId: LeaseId
  /** The secret's path. */
  readonly path: string
  /** The `data` given to `createLease`: what the host needs to destroy the secret. */
  readonly data: unknown
  /** The accessor of the token the lease was issued under. */
  readonly accessor: Accessor
  /**
   * Why: the token's reason when the lease went with its token; `expired` when the lease itself expired;
   * `explicit` for `revokeLease`; `prefix` for a `revokePrefix` match.
   */
  readonly reason: RevokeReason
  /** When it was revoked, by the store's clock. */
  readonly time: Date
}

/** Payload of the `revoked` event: a token or a lease, told apart by `kind`. */
export type RevokedEvent = TokenRevokedEvent | LeaseRevokedEvent

/**
 * The events of a `TokenStore`, for eventemitter3's typed `on`/`once`/`off`.
 *
 * Listeners run synchronously, in the order they were added. A listener that throws, or returns a promise that
 * rejects, does not disturb the store or the other listeners: its error is emitted as `error`.
 */
export interface TokenStoreEvents {
  /** Every public operation, once, when it settles. */
  audit: [event: AuditEvent]
  /**
   * Every revoked token and lease, once: those this store revoked, and, when the storage is shared and supports
   * `subscribe`, those other instances revoked.
   */
  revoked: [event: RevokedEvent]
  /**
   * A listener of another event threw or rejected, or a background task (the expiry sweep, the subscription to
   * other instances' revocations) failed. Without an `error` listener, the error becomes a process warning.
   */
  error: [error: unknown]
}
