/**
 * Expiry and renewal math: tokentree's counterpart of Vault's `CalculateTTL`. Pure: `now` is passed in.
 *
 * The effective maximum lifetime is the smaller of the store's `maxTtl` and the token's `explicitMaxTtl`. A
 * periodic token gets its period (capped by that maximum) on creation and on every renewal, and is limited in
 * total lifetime only by `explicitMaxTtl`, so it can be renewed for as long as its holder keeps renewing. Any other
 * token gets the requested TTL (or the default), and can never outlive `creationTime` + the maximum. Exceeding a
 * cap shortens the TTL and adds a warning, as in Vault; only a token already past its maximum is refused.
 */
import { formatGoDuration } from './duration.js'
import { TokenStoreError } from './errors.js'
import type { Seconds, TokenRecord, UnixMillis } from './types.js'

/** The store-wide limits. */
export interface TtlLimits {
  /** TTL of a token created without one. @remarks Seconds. */
  readonly defaultTtl: Seconds
  /** Longest lifetime of any non-periodic token, measured from its creation. @remarks Seconds. */
  readonly maxTtl: Seconds
}

/** A granted TTL and the warnings that explain how it was shortened. */
export interface GrantedTtl {
  /** `0` means the token never expires. @remarks Seconds. */
  readonly ttl: Seconds
  readonly warnings: string[]
}

/** What a new token asked for. */
export interface TtlRequest {
  readonly ttl: Seconds
  readonly explicitMaxTtl: Seconds
  readonly period: Seconds
  /** Whether the token holds `root`: with no TTL, period or explicit max, such a token never expires. */
  readonly root: boolean
}

/** What a new token gets: its TTL, and the explicit max TTL to store with it. */
export interface CreationTtl extends GrantedTtl {
  /** The requested explicit max TTL, capped by the store's `maxTtl` unless the token is periodic. @remarks Seconds. */
  readonly explicitMaxTtl: Seconds
}

/**
 * The TTL a new token gets. As in Vault's `handleCreateCommon`, an explicit max TTL above the store's `maxTtl` is
 * capped to it with a warning (except for a periodic token, whose period it limits), for root tokens too: a root
 * token asking for no TTL but an explicit max TTL gets that capped value as its TTL.
 */
export function creationTtl(request: TtlRequest, limits: TtlLimits): CreationTtl {
  const { ttl, period, root } = request
  const warnings: string[] = []
  let explicitMaxTtl = request.explicitMaxTtl
  if (explicitMaxTtl > limits.maxTtl && period === 0) {
    warnings.push(
      `Explicit max TTL of ${quoted(explicitMaxTtl)} is greater than system/mount allowed value; value is being capped to ${quoted(limits.maxTtl)}`,
    )
    explicitMaxTtl = limits.maxTtl
  }
  if (root && ttl === 0 && period === 0) return { ttl: explicitMaxTtl, explicitMaxTtl, warnings }
  const max = effectiveMax(explicitMaxTtl, limits.maxTtl)
  if (period > 0) return { ttl: capPeriod(period, max, warnings), explicitMaxTtl, warnings }
  return { ttl: cap(ttl > 0 ? ttl : limits.defaultTtl, max, warnings), explicitMaxTtl, warnings }
}

/**
 * The TTL a renewal grants at `now`: the period for a periodic token; otherwise `increment`, or without one the
 * TTL granted last. Either way it is capped so that the token does not outlive its maximum lifetime.
 *
 * @throws {@link TokenStoreError} `not_renewable` when the token is past its maximum lifetime.
 */
export function renewalTtl(
  record: Pick<TokenRecord, 'ttl' | 'period' | 'explicitMaxTtl' | 'creationTime'>,
  increment: Seconds,
  now: UnixMillis,
  limits: TtlLimits,
): GrantedTtl {
  const warnings: string[] = []
  const max = effectiveMax(record.explicitMaxTtl, limits.maxTtl)
  let ttl: Seconds
  let lifetime: Seconds | null
  if (record.period > 0) {
    ttl = capPeriod(record.period, max, warnings)
    lifetime = record.explicitMaxTtl > 0 ? record.explicitMaxTtl : null
  } else {
    ttl = increment > 0 ? increment : record.ttl > 0 ? record.ttl : limits.defaultTtl
    lifetime = max
  }
  if (lifetime === null) return { ttl, warnings }
  const left = Math.floor((record.creationTime + lifetime * 1000 - now) / 1000)
  if (left <= 0)
    throw new TokenStoreError('not_renewable', 'Token is past its max TTL and cannot be renewed')
  return { ttl: cap(ttl, left, warnings), warnings }
}

function effectiveMax(explicitMaxTtl: Seconds, maxTtl: Seconds): Seconds {
  return explicitMaxTtl > 0 && explicitMaxTtl < maxTtl ? explicitMaxTtl : maxTtl
}

function cap(ttl: Seconds, max: Seconds, warnings: string[]): Seconds {
  if (ttl <= max) return ttl
  warnings.push(
    `TTL of ${quoted(ttl)} exceeded the effective max_ttl of ${quoted(max)}; TTL value is capped accordingly`,
  )
  return max
}

function capPeriod(period: Seconds, max: Seconds, warnings: string[]): Seconds {
  if (period <= max) return period
  warnings.push(
    `Period of ${quoted(period)} exceeded the effective max_ttl of ${quoted(max)}; Period value is capped accordingly`,
  )
  return max
}

/** A duration as Vault's warnings quote one (Go's `%q` of a `time.Duration`): `"768h0m0s"`. */
function quoted(seconds: Seconds): string {
  return `"${formatGoDuration(seconds)}"`
}
