/**
 * Tree shards: the rules that keep one token tree in one place of a partitioned storage (Redis Cluster), while
 * different trees spread over all of them.
 *
 * A storage that declares `treeShards: n` (see `Storage.treeShards`) keeps each tree in one of `n` shards, and
 * must find the shard from what it is handed alone: hashed ids, accessors and lease ids. So every one of those
 * carries its shard as one base64url character, which `TokenStore` puts there when it mints them:
 *
 * - a token id `hvs.<32 characters>`: the first character after `hvs.` (the rest stays random: 186 bits);
 * - the hashed id the storage keys a token by: that character, then the HMAC of the token id;
 * - an accessor (24 characters): its first character;
 * - a lease id `<path>/<24 characters>`: the first character after the last `/`.
 *
 * A new tree (a root, or an orphan) draws its shard at random; a child takes its parent's, and a lease its
 * token's. A custom token id keeps whatever shard its text names (its fifth character when it starts with `hvs.`,
 * else the first character of its HMAC), since a lookup has only that text to go by.
 *
 * Pure functions, apart from the random draws.
 *
 * @packageDocumentation
 */
import { randomInt } from 'node:crypto'

import { SERVICE_TOKEN_PREFIX, randomString } from './crypto.js'
import { invalidRequest } from './errors.js'
import type { Accessor, HashedTokenId, LeaseId, TokenId } from './types.js'

/** The 64 characters of base64url, in order: shard `n` is written as the `n`-th. */
const SHARD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** Most shards a storage may declare: one character names a shard. */
export const MAX_TREE_SHARDS = SHARD_ALPHABET.length

/** Random bytes in a token id and an accessor, as `crypto.ts` draws them (32 and 24 characters). */
const TOKEN_ID_BYTES = 24
const ACCESSOR_BYTES = 18
const LEASE_SUFFIX_BYTES = 18

/**
 * The shard a character names, among `count`. Any character maps to some shard (a character outside base64url by
 * its code), so an id from elsewhere (a test's, a guess) is looked up in one definite shard, and is simply not
 * found there.
 */
export function shardOfChar(char: string, count: number): number {
  const index = SHARD_ALPHABET.indexOf(char)
  return (index === -1 ? char.charCodeAt(0) || 0 : index) % count
}

/** The shard of a hashed token id or an accessor: its first character. */
export function shardOfId(id: string, count: number): number {
  return shardOfChar(id.charAt(0), count)
}

/** The shard of a lease id: the first character after its last `/`. */
export function shardOfLeaseId(id: string, count: number): number {
  return shardOfChar(id.charAt(id.lastIndexOf('/') + 1), count)
}

/** The character that names `shard`. */
export function shardChar(shard: number): string {
  const char = SHARD_ALPHABET.charAt(shard)
  if (char === '') throw new RangeError(`No shard ${shard}: at most ${MAX_TREE_SHARDS} shards`)
  return char
}

/**
 * The hashed id of a token under tree shards: the character naming the token id's shard, then `hmac`. A minted id
 * names its shard after `hvs.`; any other text (a custom id) takes the first character of its own HMAC, which is
 * as evenly spread.
 */
export function shardedHash(tokenId: string, hmac: string): HashedTokenId {
  const named =
    tokenId.startsWith(SERVICE_TOKEN_PREFIX) && tokenId.length > SERVICE_TOKEN_PREFIX.length
      ? tokenId.charAt(SERVICE_TOKEN_PREFIX.length)
      : hmac.charAt(0)
  return (named + hmac) as HashedTokenId
}

/**
 * Mints ids, accessors and lease ids that carry their tree's shard, for a storage of `count` shards. A child's
 * and a lease's shard come from the hashed id they hang under.
 */
export class TreeShards {
  /** How many shards the storage has. */
  readonly count: number

  constructor(count: number) {
    if (!Number.isSafeInteger(count) || count < 1 || count > MAX_TREE_SHARDS) {
      throw new RangeError(`Expected 1 to ${MAX_TREE_SHARDS} tree shards, got ${count}`)
    }
    this.count = count
  }

  /** The shard of a new token: its parent's, or a random one for a new tree. */
  shardFor(parent: HashedTokenId | null): number {
    return parent === null ? randomInt(this.count) : shardOfId(parent, this.count)
  }

  /** The shard a hashed id (or accessor) lives in. */
  shardOf(id: string): number {
    return shardOfId(id, this.count)
  }

  /** A new token id in `shard`. */
  tokenId(shard: number): TokenId {
    return (SERVICE_TOKEN_PREFIX + withShard(randomString(TOKEN_ID_BYTES), shard)) as TokenId
  }

  /** A new accessor for the token with hashed id `id`, in its shard. */
  accessor(id: HashedTokenId): Accessor {
    return withShard(randomString(ACCESSOR_BYTES), this.shardOf(id))
  }

  /** A new lease id under `path` for the token with hashed id `token`, in its shard. */
  leaseId(path: string, token: HashedTokenId): LeaseId {
    return `${path}/${withShard(randomString(LEASE_SUFFIX_BYTES), this.shardOf(token))}`
  }
}

/**
 * The minter for a storage's declared `treeShards`, or `null` when it declares none.
 *
 * @throws `TokenStoreError` `invalid_request` when the storage declares a number of shards out of range.
 */
export function treeShardsOf(storage: { readonly treeShards?: number }): TreeShards | null {
  const count = storage.treeShards
  if (count === undefined) return null
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_TREE_SHARDS) {
    throw invalidRequest(
      `Expected the storage's \`treeShards\` to be an integer from 1 to ${MAX_TREE_SHARDS}, got ${String(count)}`,
    )
  }
  return new TreeShards(count)
}

/** `random` with its first character replaced by the one naming `shard`. */
function withShard(random: string, shard: number): string {
  return shardChar(shard) + random.slice(1)
}
