/**
 * tokentree: Vault's token model (policies, use limits, TTLs and revocable token trees) for Node services.
 *
 * @packageDocumentation
 * @module tokentree
 */
export {
  TokenStore,
  type AccessorAuth,
  type TidyReport,
  type TokenPolicies,
  type TokenRoles,
} from './token-store.js'
export type { PolicyEntry } from './policy-store.js'
export type { AuthorizeOptions } from './access.js'
export type {
  AclOperation,
  Capability,
  CapabilityName,
  PolicyDocument,
  PolicyPathRule,
} from './acl/types.js'
export type { RoleTokenType, TokenRole, TokenRoleOptions, TokenType } from './roles.js'
export { TokenStoreError, type TokenStoreErrorCode } from './errors.js'
export { MemoryStorage } from './storage/memory.js'
export type {
  DeletedToken,
  ExpiredSweep,
  InsertLeaseResult,
  InsertResult,
  NoticeGap,
  RenewUpdate,
  PolicyNotice,
  RevocationNotice,
  Storage,
  StorageNotice,
  StorageTidyResult,
  SubscribeOptions,
  SubtreeDeletion,
  TokenListPage,
  TokenListQuery,
} from './storage/storage.js'
export { NOTICE_START_MARGIN } from './storage/storage.js'
export type { CreateLeaseOptions, LeaseGrant, LeaseInfo } from './lease.js'
export type { TokenList, TokenListOptions } from './listing.js'
export {
  MAX_WRAP_TTL,
  MIN_WRAP_TTL,
  RESPONSE_WRAPPING_POLICY,
  type WrapInfo,
  type WrapOptions,
  type WrappingLookup,
} from './wrapping.js'
export type { Timers } from './expiration.js'
export {
  DEFAULT_SHUTDOWN_TIMEOUT,
  closeGracefully,
  type CloseGracefullyOptions,
  type CloseGracefullyResult,
} from './shutdown.js'
export type { SubscriptionState } from './revocation-subscription.js'
export {
  NOTICE_CHANNEL,
  SWEEP_CHANNEL,
  type NoticeMessage,
  type SweepMessage,
} from './background-channels.js'
export type { LogLevel, LogMethod, Logger } from './logger.js'
export {
  TRACED_OPERATIONS,
  TRACING_CHANNEL_PREFIX,
  operationChannel,
  type OperationChannel,
  type OperationChannelSubscribers,
  type OperationEventChannel,
  type OperationContext,
} from './tracing.js'
export type { CreateRootOptions, CreateTokenOptions, TokenStoreOptions } from './options.js'
export type { Secret, SecretOption } from './secrets.js'
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
