/**
 * Public and stored shapes of tokentree's tokens.
 *
 * @packageDocumentation
 */

declare const brand: unique symbol

/** A duration in whole seconds, the unit of every TTL that tokentree accepts or reports. */
export type Seconds = number

/** A point in time as milliseconds since the Unix epoch, as returned by `Date.now()`. */
export type UnixMillis = number

/**
 * A duration as accepted from callers, read as Vault reads it: a whole number of seconds, a string of digits (`'90'`,
 * read as seconds), whole days (`'7d'`), or a Go duration string such as `'30m'`, `'1h30m'` or `'1.5h'` (units `ns`,
 * `us`, `µs`, `ms`, `s`, `m`, `h`). A non-zero duration must come to a whole number of seconds: `'500ms'` and
 * `'1.5s'` are refused with `invalid_request`, as is any other unit (`'1y'`, `'1w'`, `'5Ms'`).
 */
export type Duration = number | string

/**
 * A token id exactly as issued to a client. It is a secret: it is returned once, by `create`, and never stored.
 */
export type TokenId = string & { readonly [brand]: 'TokenId' }

/**
 * The keyed hash (HMAC-SHA-256) of a token id: the only form in which a token id reaches storage. Storage methods
 * accept nothing else, so handing a plain token id to storage fails to compile.
 */
export type HashedTokenId = string & { readonly [brand]: 'HashedTokenId' }

/** A token's accessor: a second, non-secret handle that can look up and revoke a token but not use it. */
export type Accessor = string

/**
 * Why a token was revoked, as reported by the `revoked` event.
 *
 * - `explicit`: `revoke` or `revokeAccessor` named it.
 * - `parent`: an ancestor was revoked; every descendant of a revoked token gets this reason.
 * - `orphan`: `revokeOrphan` named it (its children were kept).
 * - `prefix`: `revokePrefix` matched its path.
 * - `expired`: its TTL ran out.
 * - `uses_exhausted`: `authenticate` used its last use.
 */
export type RevokeReason =
  'explicit' | 'parent' | 'orphan' | 'prefix' | 'expired' | 'uses_exhausted'

/**
 * The stored form of a token: a plain, JSON-safe object. Storage adapters persist it as is.
 *
 * Times are absolute (`UnixMillis`), so adapters never need a clock.
 */
export interface TokenRecord {
  /** The keyed hash of the token id. */
  readonly id: HashedTokenId
  /** The token's accessor. */
  readonly accessor: Accessor
  /** The hashed id of the parent token, or `null` for an orphan. */
  readonly parent: HashedTokenId | null
  /** Sanitized policy names (sorted, lowercase, deduplicated). */
  readonly policies: readonly string[]
  /** The source path the token was created at, e.g. `auth/token/create` or `auth/github/login`. */
  readonly path: string
  /** Caller-supplied metadata, passed through to audit consumers. */
  readonly metadata: Readonly<Record<string, string>>
  /** Human-readable name, e.g. `token-ci`. */
  readonly displayName: string
  /** Uses left; `0` means unlimited (or, together with `revoking: 'uses_exhausted'`, none left). */
  readonly numUses: number
  /** When the token was created. */
  readonly creationTime: UnixMillis
  /** The TTL granted at creation; `0` for a token that never expires. @remarks Seconds. */
  readonly creationTtl: Seconds
  /** The TTL granted by the latest creation or renewal; `0` for a token that never expires. @remarks Seconds. */
  readonly ttl: Seconds
  /** When the token stops working, or `null` if it never expires. */
  readonly expiresAt: UnixMillis | null
  /** Hard limit on the token's lifetime from `creationTime`; `0` for none. @remarks Seconds. */
  readonly explicitMaxTtl: Seconds
  /** For a periodic token, the TTL every renewal resets to; `0` otherwise. @remarks Seconds. */
  readonly period: Seconds
  /** Whether `renew` may extend the token. */
  readonly renewable: boolean
  /** When the token was last renewed, or `null` if never. */
  readonly lastRenewalTime: UnixMillis | null
  /**
   * `null` while the token is live. Once set, the token and its whole subtree are unusable, and a revocation is
   * under way (or was cut off and will be finished by the next revocation or sweep) for the reason given.
   */
  readonly revoking: RevokeReason | null
  /** The role the token was created against; absent when none. Renewal re-reads it. */
  readonly role?: string
  /**
   * For a wrapping token only: the value it holds, sealed (AES-256-GCM under a key derived from the store's secret
   * and the wrapping token id, so it cannot be opened without the token). Stored and deleted with the record;
   * adapters keep it as an opaque string. Absent for every other token.
   */
  readonly wrapped?: string
}

/** A lease's id: its path, `/`, and a random suffix, as in Vault (`aws/creds/deploy/Yq2v…`). */
export type LeaseId = string

/**
 * The stored form of a lease: a record that the host handed out a secret under a token, so that revoking the
 * token tells the host to destroy the secret. A plain, JSON-safe object.
 */
export interface LeaseRecord {
  /** The lease id. */
  readonly id: LeaseId
  /** The hashed id of the token the lease was issued under. */
  readonly token: HashedTokenId
  /** That token's accessor, for events. */
  readonly accessor: Accessor
  /** The secret's path, e.g. `aws/creds/deploy`. */
  readonly path: string
  /** Host data returned in the lease's `revoked` event (e.g. the key id to delete). JSON-safe. */
  readonly data: unknown
  /** When the lease was issued. */
  readonly issueTime: UnixMillis
  /** The TTL granted by the latest issue or renewal. @remarks Seconds. */
  readonly ttl: Seconds
  /** When the lease expires. */
  readonly expiresAt: UnixMillis
  /** Whether `renewLease` may extend it. */
  readonly renewable: boolean
  /** When the lease was last renewed, or `null` if never. */
  readonly lastRenewalTime: UnixMillis | null
}

/**
 * What `create`, `createRoot` and `renew` return: the client token and the lease granted to it, shaped like the
 * `auth` block of Vault's responses.
 */
export interface TokenAuth {
  /** The token id to hand to the client. Shown once: tokentree keeps only its keyed hash. */
  readonly clientToken: string
  /** The token's accessor. */
  readonly accessor: Accessor
  /** The token's policies, sanitized. */
  readonly policies: readonly string[]
  /** The token's metadata. */
  readonly metadata: Readonly<Record<string, string>>
  /** Seconds until the token expires; `0` for a token that never expires. @remarks Seconds. */
  readonly leaseDuration: Seconds
  /** Whether the token can be renewed. */
  readonly renewable: boolean
  /** Whether the token has no parent. */
  readonly orphan: boolean
  /** Uses left; `0` means unlimited. */
  readonly numUses: number
  /**
   * Present when the request was granted in part, e.g. a TTL shortened to the max TTL, as in Vault's `warnings`.
   */
  readonly warnings?: readonly string[]
}

/**
 * Everything about a token except its id: what `lookupAccessor` returns, since an accessor holder must not learn
 * the id. Shaped like the `data` block of Vault's `auth/token/lookup`.
 */
export interface TokenDetails {
  /** The token's accessor; `''` for a batch token, which has none. */
  readonly accessor: Accessor
  /** `service` for stored tokens, `batch` for tokens that carry their own entry. */
  readonly type: 'service' | 'batch'
  /** The role the token was created against, or `null`. */
  readonly role: string | null
  /** The token's policies, sanitized. */
  readonly policies: readonly string[]
  /** The source path the token was created at. */
  readonly path: string
  /** The token's metadata. */
  readonly metadata: Readonly<Record<string, string>>
  /** Human-readable name. */
  readonly displayName: string
  /** Uses left; `0` means unlimited. In the result of the `authenticate` call that used the last use, `0`. */
  readonly numUses: number
  /** Whether the token has no parent. */
  readonly orphan: boolean
  /** When the token was created. */
  readonly creationTime: Date
  /** The TTL granted at creation; `0` if it never expires. @remarks Seconds. */
  readonly creationTtl: Seconds
  /** When the token expires, or `null` if it never does. */
  readonly expireTime: Date | null
  /** Seconds left before the token expires, rounded to the nearest second as Vault does; `0` if it never expires. @remarks Seconds. */
  readonly ttl: Seconds
  /** Hard limit on the token's lifetime from its creation; `0` for none. @remarks Seconds. */
  readonly explicitMaxTtl: Seconds
  /** For a periodic token, the TTL each renewal resets to; `0` otherwise. @remarks Seconds. */
  readonly period: Seconds
  /** Whether the token can be renewed. */
  readonly renewable: boolean
  /** When the token was issued (the same instant as `creationTime`, as in Vault). */
  readonly issueTime: Date
  /** When the token was last renewed, or `null` if never. */
  readonly lastRenewalTime: Date | null
}

/** Everything about a token, including its id: what `lookup` and `authenticate` return. */
export interface TokenInfo extends TokenDetails {
  /** The token id, as the caller presented it. */
  readonly id: string
  /**
   * Set by `authenticate` when this call spent the token's last use: the token has been revoked, and `numUses` is
   * `0`. Vault shows such a token with `num_uses: -1`. Absent otherwise.
   */
  readonly lastUse?: true
}
