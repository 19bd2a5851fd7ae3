/**
 * The store's secrets, rotatable: `[current, ...previous]`. The current secret hashes every new token id and seals
 * every new batch token; the older ones are still honoured for tokens issued under them, until they are dropped
 * from the list, which retires those tokens. See docs/secrets.md for the rotation procedure.
 *
 * A presented token is tried under the current secret first, and under an older one only when it was not found
 * under the ones before: a token issued under the current secret costs exactly what it did without rotation, and
 * one issued under an older secret at most one extra hash (and storage read) per older secret.
 */
import { BatchTokenCodec, type BatchEntry } from './batch.js'
import { TokenHasher, constantTimeBytesEqual, newSecret } from './crypto.js'
import { describeValue, invalidRequest } from './errors.js'
import { shardedHash } from './tree-shard.js'
import type { HashedTokenId } from './types.js'

/** One secret: a string (its UTF-8 bytes) or bytes, at least 32 bytes long. */
export type Secret = string | Uint8Array

/** The `secret` option: one secret, or `[current, ...previous]`. */
export type SecretOption = Secret | readonly Secret[]

/** Shortest accepted secret, in bytes. */
export const MIN_SECRET_BYTES = 32

/** Most secrets in a list: each older one can cost a hash per unknown token presented. */
const MAX_SECRETS = 8

/**
 * Checks the `secret` option into its list of secrets as bytes, current first. Without one, a random secret, for
 * storage that lives no longer than the process.
 *
 * @throws {@link TokenStoreError} `invalid_request` for a secret shorter than 32 bytes or of another type, an empty
 * or overlong list, or a secret listed twice.
 */
export function normalizeSecrets(option: unknown): Uint8Array[] {
  if (option === undefined) return [newSecret()]
  const list: readonly unknown[] = Array.isArray(option) ? option : [option]
  if (list.length === 0 || list.length > MAX_SECRETS) {
    throw invalidRequest(
      `Expected \`secret\` to be a secret or a list of 1 to ${MAX_SECRETS} secrets, got ${list.length}`,
    )
  }
  const secrets = list.map((item, index) => secretBytes(item, Array.isArray(option) ? index : null))
  for (let i = 0; i < secrets.length; i++) {
    for (let j = i + 1; j < secrets.length; j++) {
      if (constantTimeBytesEqual(secrets[i] as Uint8Array, secrets[j] as Uint8Array)) {
        throw invalidRequest(
          `Expected the secrets in \`secret\` to differ: ${i} and ${j} are equal`,
        )
      }
    }
  }
  return secrets
}

function secretBytes(secret: unknown, index: number | null): Uint8Array {
  const field = index === null ? '`secret`' : `\`secret[${index}]\``
  const bytes =
    typeof secret === 'string'
      ? Buffer.from(secret, 'utf8')
      : secret instanceof Uint8Array
        ? Uint8Array.from(secret)
        : null
  if (bytes === null || bytes.byteLength < MIN_SECRET_BYTES) {
    throw invalidRequest(
      `Expected ${field} to be a string or Uint8Array of at least ${MIN_SECRET_BYTES} bytes, got ${
        bytes === null ? describeValue(secret) : `${bytes.byteLength} bytes`
      }`,
    )
  }
  return bytes
}

/** Hashes token ids and seals batch tokens under the current secret; finds them under older ones too. */
export class SecretRing {
  readonly #hashers: readonly TokenHasher[]
  readonly #codecs: readonly BatchTokenCodec[]
  readonly #sharded: boolean

  /**
   * @param secrets - Current first, as {@link normalizeSecrets} returns them.
   * @param sharded - Whether the storage has tree shards: each hash then starts with the token's shard character
   *   (see `tree-shard.ts`).
   */
  constructor(secrets: readonly Uint8Array[], sharded = false) {
    this.#hashers = secrets.map((secret) => new TokenHasher(secret))
    this.#codecs = secrets.map((secret) => new BatchTokenCodec(secret))
    this.#sharded = sharded
  }

  /** Whether there are older secrets to try after the current one. */
  get rotated(): boolean {
    return this.#hashers.length > 1
  }

  /** The token id's keyed hash under the current secret: the storage key of a new token. */
  hash(id: string): HashedTokenId {
    return this.#hashWith(0, id)
  }

  /** The token id's hashes under the older secrets, newest first, each computed only when asked for. */
  *olderHashes(id: string): Generator<HashedTokenId, void, undefined> {
    for (let index = 1; index < this.#hashers.length; index++) yield this.#hashWith(index, id)
  }

  #hashWith(index: number, id: string): HashedTokenId {
    const hmac = (this.#hashers[index] as TokenHasher).hash(id)
    return this.#sharded ? shardedHash(id, hmac) : hmac
  }

  /** A new batch token carrying `entry`, sealed under the current secret. */
  seal(entry: BatchEntry): string {
    return (this.#codecs[0] as BatchTokenCodec).seal(entry)
  }

  /** The entry of a batch token sealed under any of the secrets, or `null`; tried current first. */
  open(token: string): BatchEntry | null {
    for (const codec of this.#codecs) {
      const entry = codec.open(token)
      if (entry !== null) return entry
    }
    return null
  }
}
