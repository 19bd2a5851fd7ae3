/**
 * Stored records for storage-level tests, which write to a storage directly rather than through a store.
 */
import type { HashedTokenId, TokenRecord } from '../../../src/index.js'

/** The creation time of every record {@link rec} builds. */
export const T0 = Date.UTC(2030, 0, 1)

/** A stand-in for the hashed id of the token called `name`. */
export const hid = (name: string): HashedTokenId => `hash-${name}` as HashedTokenId

/** A live, unlimited, non-expiring orphan record, with `fields` over it. */
export function rec(name: string, fields: Partial<TokenRecord> = {}): TokenRecord {
  return {
    id: hid(name),
    accessor: `accessor-${name}`,
    parent: null,
    policies: ['default'],
    path: 'auth/token/create',
    metadata: {},
    displayName: 'token',
    numUses: 0,
    creationTime: T0,
    creationTtl: 0,
    ttl: 0,
    expiresAt: null,
    explicitMaxTtl: 0,
    period: 0,
    renewable: false,
    lastRenewalTime: null,
    revoking: null,
    ...fields,
  }
}
