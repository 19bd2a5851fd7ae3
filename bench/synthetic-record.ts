/**
 * The synthetic token records the storage-level benches load straight into a storage.
 */
import { createHash } from 'node:crypto'

import type { HashedTokenId, TokenRecord, UnixMillis } from '../src/types.js'

/** A synthetic stored token: the storage never sees a real token id, only this hashed-id stand-in. */
export function syntheticRecord(
  id: string,
  parent: string | null,
  expiresAt: UnixMillis | null,
  now: UnixMillis,
): TokenRecord {
  return {
    id: id as HashedTokenId,
    // Random-looking, as a real accessor is: accessors that sort in the order tokens are made (or expire) would let
    // an index ordered by accessor (Redis's listing) be walked in order, which real tokens never allow.
    accessor: `acc-${createHash('sha256').update(id).digest('base64url').slice(0, 24)}`,
    parent: parent as HashedTokenId | null,
    policies: ['default'],
    path: 'auth/token/create',
    metadata: {},
    displayName: 'token',
    numUses: 0,
    creationTime: now,
    creationTtl: expiresAt === null ? 0 : 3600,
    ttl: expiresAt === null ? 0 : 3600,
    expiresAt,
    explicitMaxTtl: 0,
    period: 0,
    renewable: true,
    lastRenewalTime: null,
    revoking: null,
  }
}
