/**
 * Where `RedisStorage` keys live: one key space (the key prefix) on a single Redis, or one per tree shard plus a
 * global one on Redis Cluster. A key space is the prefix `P` its keys start with; the scripts take it as
 * `ARGV[1]` and compute every key from it, so the same scripts serve both layouts.
 *
 * Sharded, shard `s` is `<prefix>{<s>}` and the global space (roles, policies and their notices) is
 * `<prefix>{g}`: the `{…}` is a Redis Cluster hash tag, so all keys of a space hash to one slot, and a script
 * reading or writing only its space's keys runs on one node, atomically.
 *
 * @packageDocumentation
 */
import { TokenStoreError } from '../../errors.js'
import { MAX_TREE_SHARDS, shardOfId, shardOfLeaseId } from '../../tree-shard.js'

/** The hash tag of the global key space. */
const GLOBAL_TAG = 'g'

/** The key spaces of one storage. */
export class KeySpaces {
  /** The number of tree shards, or `null` for the single-space layout. */
  readonly shards: number | null
  /** Every token space: the prefix alone, or one per shard in shard order. */
  readonly tokenSpaces: readonly string[]
  /** Where roles and policies live: the prefix alone, or the global space. */
  readonly global: string
  /** Every space with a notice stream: the token spaces, then the global one when it is apart. */
  readonly noticeSpaces: readonly string[]

  /**
   * @throws `TokenStoreError` `invalid_request` for a shard count out of range, or a sharded prefix holding `{` or
   *   `}` (it would change the hash tag).
   */
  constructor(prefix: string, shards: number | null) {
    this.shards = shards
    if (shards === null) {
      this.tokenSpaces = [prefix]
      this.global = prefix
      this.noticeSpaces = [prefix]
      return
    }
    if (!Number.isSafeInteger(shards) || shards < 1 || shards > MAX_TREE_SHARDS) {
      throw new TokenStoreError(
        'invalid_request',
        `Expected \`shards\` to be an integer from 1 to ${MAX_TREE_SHARDS}, got ${shards}`,
      )
    }
    if (/[{}]/.test(prefix)) {
      throw new TokenStoreError(
        'invalid_request',
        `Expected a \`keyPrefix\` without \`{\` or \`}\` on sharded storage (the shard is the hash tag), got ${JSON.stringify(prefix)}`,
      )
    }
    this.tokenSpaces = Array.from({ length: shards }, (_, s) => `${prefix}{${s}}`)
    this.global = `${prefix}{${GLOBAL_TAG}}`
    this.noticeSpaces = [...this.tokenSpaces, this.global]
  }

  /** The space of a hashed token id or an accessor. */
  ofId(id: string): string {
    return this.shards === null
      ? (this.tokenSpaces[0] as string)
      : (this.tokenSpaces[shardOfId(id, this.shards)] as string)
  }

  /** The space of a lease id. */
  ofLease(id: string): string {
    return this.shards === null
      ? (this.tokenSpaces[0] as string)
      : (this.tokenSpaces[shardOfLeaseId(id, this.shards)] as string)
  }
}
