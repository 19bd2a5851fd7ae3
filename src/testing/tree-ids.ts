/**
 * Random ids for the conformance suite's records, shaped as `TokenStore` mints them for a storage with tree shards
 * (`Storage.treeShards`): a token's hashed id, its accessor, its children's ids and its leases' ids all start
 * (the lease id: after its last `/`) with the same character, which names the tree's shard. A storage without
 * shards ignores that character, so the suite uses these ids for every storage.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto'

import type { HashedTokenId, TokenRecord } from '../types.js'

/** `length` random base64url characters; the first one is `shard`'s first character when given. */
export function treeString(length: number, shard?: string): string {
  const random = randomBytes(length).toString('base64url').slice(0, length)
  return shard === undefined || shard === '' ? random : shard.charAt(0) + random.slice(1)
}

/** A random stand-in for an HMAC (43 characters, as `TokenStore` produces), in the shard `shard` names. */
export function treeHashedId(shard?: string): HashedTokenId {
  return treeString(43, shard) as HashedTokenId
}

/**
 * The id and accessor of a new record with these overrides: each one given is kept; the others are random, in
 * the shard the given id, accessor or parent (in that order) names, so a child lands in its parent's shard.
 */
export function treeIdentity(
  overrides: Partial<TokenRecord>,
): Pick<TokenRecord, 'id' | 'accessor'> {
  const shard = overrides.id ?? overrides.accessor ?? overrides.parent ?? treeString(1)
  return {
    id: overrides.id ?? treeHashedId(shard),
    accessor: overrides.accessor ?? treeString(24, shard),
  }
}
