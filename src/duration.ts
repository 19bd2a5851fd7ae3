/**
 * Duration input → whole seconds: the one parser behind every duration a caller passes (TTLs, explicit max TTLs,
 * periods, renew increments, role and lease durations, store limits, and the same fields over HTTP).
 *
 * It reads what Vault's `parseutil.ParseDurationSecond` reads: a bare integer (number or digit string) is seconds;
 * `<integer>d` is days; anything else is a Go `time.ParseDuration` string: one or more `<decimal><unit>` segments
 * with units `ns`, `us` (`µs`, `μs`), `ms`, `s`, `m`, `h`, such as `'1h30m'` or `'1.5h'`. Nothing else is a
 * duration (`'5Ms'`, `'1y'`, `'1w'`, `'2 days'`, `'1d12h'`).
 *
 * Where Vault silently drops a fraction of a second (`'500ms'` becomes 0, which means "no TTL given"), this refuses
 * any non-zero duration that is not a whole number of seconds: a caller asking for 500 ms must not get a token that
 * never expires, or the default TTL.
 */
import { describeValue, invalidRequest } from './errors.js'
import type { Duration, Seconds } from './types.js'

/** Longest duration accepted: 100 years. Anything longer is almost certainly a unit mistake. */
const MAX_DURATION_SECONDS: Seconds = 100 * 365 * 24 * 60 * 60

/** Longest duration string read at all: a longer one is not a duration a person wrote. */
const MAX_DURATION_TEXT = 100

/** An integer written as a string, read as seconds (Go's `strconv.ParseInt` accepts a sign). */
const INTEGER = /^[+-]?\d+$/

/** Whole days, Vault's one addition to Go's units: digits and `d`, nothing else. */
const DAYS = /^([+-]?\d+)d$/

/** A Go duration: an optional sign, then one or more `<decimal><unit>` segments (`1h30m`, `1.5h`, `.5s`). */
const GO_DURATION = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/

/** One segment of a Go duration. */
const GO_SEGMENT = /(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/g

/** Nanoseconds in each of Go's units. */
const UNIT_NANOS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  μs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
}

const NANOS_PER_SECOND = 1_000_000_000n
const NANOS_PER_MILLI = 1_000_000n
const SECONDS_PER_DAY = 86_400n
const MAX_NANOS = BigInt(MAX_DURATION_SECONDS) * NANOS_PER_SECOND

/**
 * Parses a duration to whole seconds.
 *
 * @param value - Seconds as an integer or digit string, or a duration string (`'30m'`, `'1h30m'`, `'7d'`).
 * @param field - The option name, for the error message.
 * @throws {@link TokenStoreError} `invalid_request` when the value is not a duration Vault reads, is negative, is
 * not a whole number of seconds (`'500ms'`, `'1.5s'`), or is longer than 100 years.
 */
export function parseDuration(value: Duration, field: string): Seconds {
  const nanos = parseNanos(value, field)
  if (nanos % NANOS_PER_SECOND !== 0n) {
    throw invalidRequest(
      `Expected \`${field}\` to be a whole number of seconds (0, or at least 1s), got ${describeValue(value)}`,
    )
  }
  return Number(nanos / NANOS_PER_SECOND)
}

/**
 * Parses a duration as {@link parseDuration} does, but to milliseconds and allowing fractions of a second
 * (`'500ms'`): for moving a virtual clock, not for TTLs. Anything finer than a millisecond is dropped.
 *
 * @throws {@link TokenStoreError} `invalid_request` as {@link parseDuration}, except for fractions of a second.
 */
export function parseDurationMillis(value: Duration, field: string): number {
  return Number(parseNanos(value, field) / NANOS_PER_MILLI)
}

/** Nanoseconds in a duration, checked to be non-negative and at most 100 years. */
function parseNanos(value: Duration, field: string): bigint {
  let nanos: bigint | null
  if (typeof value === 'number') {
    nanos = Number.isSafeInteger(value) ? BigInt(value) * NANOS_PER_SECOND : null
  } else if (typeof value === 'string') {
    nanos = parseText(value)
  } else {
    throw invalidRequest(
      `Expected \`${field}\` to be seconds or a duration string, got ${describeValue(value)}`,
    )
  }
  if (nanos === null || nanos < 0n) {
    throw invalidRequest(
      `Expected \`${field}\` to be whole seconds or a duration such as '30m', '1h30m' or '7d' (units ns, us, ms, s, m, h, d), got ${describeValue(value)}`,
    )
  }
  if (nanos > MAX_NANOS) {
    throw invalidRequest(
      `Expected \`${field}\` to be at most 100 years, got ${nanos / NANOS_PER_SECOND} seconds`,
    )
  }
  return nanos
}

/** Nanoseconds in a duration string, or `null` when it is not one Vault reads. */
function parseText(text: string): bigint | null {
  if (text === '') return 0n
  if (text.length > MAX_DURATION_TEXT) return null
  if (INTEGER.test(text)) return BigInt(text) * NANOS_PER_SECOND
  const days = DAYS.exec(text)
  if (days !== null) return BigInt(days[1] ?? '') * SECONDS_PER_DAY * NANOS_PER_SECOND
  if (!GO_DURATION.test(text)) return null
  let total = 0n
  for (const [, whole = '', fraction = '', unit = ''] of text.matchAll(GO_SEGMENT)) {
    // Go refuses a segment with neither digits before nor after the point ('.s'); the pattern already does.
    const unitNanos = UNIT_NANOS[unit] ?? 0n
    const scale = 10n ** BigInt(fraction.length)
    // As Go does: the fraction's nanoseconds are truncated, not rounded.
    total +=
      BigInt(whole === '' ? '0' : whole) * unitNanos +
      (BigInt(fraction === '' ? '0' : fraction) * unitNanos) / scale
  }
  return text.startsWith('-') ? -total : total
}

/**
 * Whole seconds as Go's `time.Duration` prints them, as Vault's messages quote durations: `768h0m0s`, `1m30s`,
 * `45s`, `0s`.
 */
export function formatGoDuration(seconds: Seconds): string {
  const hours = Math.floor(seconds / 3600)
  const minutes = Math.floor((seconds % 3600) / 60)
  const rest = seconds % 60
  if (hours > 0) return `${hours}h${minutes}m${rest}s`
  if (minutes > 0) return `${minutes}m${rest}s`
  return `${rest}s`
}
