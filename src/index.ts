/**
 * tokentree: Vault's token model (policies, use limits, TTLs and revocable token trees) for Node services.
 *
 * @packageDocumentation
 */
export { TokenStore, type AccessorAuth } from './token-store.js'
export { TokenStoreError, type TokenStoreErrorCode } from './errors.js'
export { MemoryStorage } from './storage/memory.js'
export type {
  InsertLeaseResult,
  InsertResult,
  RenewUpdate,
  RevocationNotice,
  Storage,
} from './storage/storage.js'
export type { CreateLeaseOptions, LeaseGrant, LeaseInfo } from './lease.js'
export type { Timers } from './expiration.js'
export type { CreateRootOptions, CreateTokenOptions, TokenStoreOptions } from './options.js'
export type {
  AuditEvent,
  AuditOperation,
  LeaseRevokedEvent,
  RevokedEvent,
  TokenRevokedEvent,
  TokenStoreEvents,
} from './events.js'
export type {
  Accessor,
  Duration,
  HashedTokenId,
  LeaseId,
  LeaseRecord,
  RevokeReason,
  Seconds,
  TokenAuth,
  TokenDetails,
  TokenId,
  TokenInfo,
  TokenRecord,
  UnixMillis,
} from './types.js'
