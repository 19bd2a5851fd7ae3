/**
 * The events a `TokenStore` emits. Payloads carry accessors, never token ids.
 *
 * @packageDocumentation
 */
import type { TokenStoreErrorCode } from './errors.js'
import type { Accessor, RevokeReason } from './types.js'

/** The public `TokenStore` methods that emit an `audit` event, named as the methods are. */
export type AuditOperation =
  | 'create'
  | 'createRoot'
  | 'lookup'
  | 'lookupAccessor'
  | 'authenticate'
  | 'renew'
  | 'renewAccessor'
  | 'revoke'
  | 'revokeOrphan'
  | 'revokeAccessor'
  | 'revokePrefix'
  | 'revokeExpired'

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

/** Payload of the `revoked` event. */
export type RevokedEvent = TokenRevokedEvent

/**
 * The events of a `TokenStore`, for eventemitter3's typed `on`/`once`/`off`.
 *
 * Listeners run synchronously, in the order they were added. A listener that throws, or returns a promise that
 * rejects, does not disturb the store or the other listeners: its error is emitted as `error`.
 */
export interface TokenStoreEvents {
  /** Every public operation, once, when it settles. */
  audit: [event: AuditEvent]
  /** Every revoked token, once. */
  revoked: [event: RevokedEvent]
  /** A listener of another event threw or rejected. Without an `error` listener, the error becomes a process warning. */
  error: [error: unknown]
}
