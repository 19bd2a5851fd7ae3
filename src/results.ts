/**
 * Stored records → what the public methods return. Timestamps become `Date`s, the TTL left is computed at `now`.
 */
import type { BatchEntry } from './batch.js'
import type { LeaseGrant, LeaseInfo } from './lease.js'
import type {
  LeaseRecord,
  TokenAuth,
  TokenDetails,
  TokenInfo,
  TokenRecord,
  UnixMillis,
} from './types.js'

/** The `auth` block for a token that was just created or renewed. */
export function toAuth(
  record: TokenRecord,
  clientToken: string,
  warnings: readonly string[],
): TokenAuth {
  const auth: TokenAuth = {
    clientToken,
    accessor: record.accessor,
    policies: record.policies,
    metadata: record.metadata,
    leaseDuration: record.ttl,
    renewable: record.renewable,
    orphan: record.parent === null,
    numUses: record.numUses,
  }
  return warnings.length > 0 ? { ...auth, warnings } : auth
}

/**
 * Everything about a token, with the id the caller presented. Built as one literal: this runs on every
 * `authenticate`, where a spread copy of a second object cost a tenth of the call.
 */
export function toInfo(record: TokenRecord, id: string, now: UnixMillis): TokenInfo {
  return {
    id,
    accessor: record.accessor,
    type: 'service',
    role: record.role ?? null,
    policies: record.policies,
    path: record.path,
    metadata: record.metadata,
    displayName: record.displayName,
    numUses: record.numUses,
    orphan: record.parent === null,
    creationTime: new Date(record.creationTime),
    creationTtl: record.creationTtl,
    expireTime: record.expiresAt === null ? null : new Date(record.expiresAt),
    ttl: record.expiresAt === null ? 0 : secondsLeft(record.expiresAt, now),
    explicitMaxTtl: record.explicitMaxTtl,
    period: record.period,
    renewable: record.renewable,
    issueTime: new Date(record.creationTime),
    lastRenewalTime: record.lastRenewalTime === null ? null : new Date(record.lastRenewalTime),
  }
}

/** Everything about a token but its id, for accessor holders. */
export function toDetails(record: TokenRecord, now: UnixMillis): TokenDetails {
  const { id, ...details } = toInfo(record, '', now)
  return details
}

/** What a batch token's entry says, at `now`. */
export function batchInfo(entry: BatchEntry, id: string, now: UnixMillis): TokenInfo {
  return {
    id,
    accessor: '',
    type: 'batch',
    role: null,
    policies: entry.pol,
    path: entry.path,
    metadata: entry.m,
    displayName: entry.dn,
    numUses: 0,
    orphan: entry.p === null,
    creationTime: new Date(entry.c),
    creationTtl: entry.ttl,
    expireTime: new Date(entry.e),
    ttl: secondsLeft(entry.e, now),
    explicitMaxTtl: 0,
    period: 0,
    renewable: false,
    issueTime: new Date(entry.c),
    lastRenewalTime: null,
  }
}

/** A lease as granted by `createLease` or `renewLease`. */
export function toLeaseGrant(lease: LeaseRecord, warnings: readonly string[]): LeaseGrant {
  const grant: LeaseGrant = {
    leaseId: lease.id,
    leaseDuration: lease.ttl,
    renewable: lease.renewable,
  }
  return warnings.length > 0 ? { ...grant, warnings } : grant
}

/** A lease as `lookupLease` reports it: never its `data`. */
export function toLeaseInfo(lease: LeaseRecord, now: UnixMillis): LeaseInfo {
  return {
    leaseId: lease.id,
    path: lease.path,
    leaseDuration: lease.ttl,
    ttl: secondsLeft(lease.expiresAt, now),
    expireTime: new Date(lease.expiresAt),
    renewable: lease.renewable,
    issueTime: new Date(lease.issueTime),
    lastRenewalTime: lease.lastRenewalTime === null ? null : new Date(lease.lastRenewalTime),
  }
}

function secondsLeft(expiresAt: UnixMillis, now: UnixMillis): number {
  // Rounded, as Vault does: a lease granted 50 s ago by a millisecond still shows 50.
  return Math.max(0, Math.round((expiresAt - now) / 1000))
}
