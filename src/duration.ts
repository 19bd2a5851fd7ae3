/**
 * Duration input → whole seconds. The only module that imports `ms`.
 *
 * Vault reads a bare number, or a string of digits, as seconds, and otherwise a Go duration such as `1h30m`
 * (plus `d` for days). `ms` reads `'90'` as milliseconds and cannot parse compound strings, so this module splits
 * compound strings into segments and lets `ms` convert each.
 */
import ms from 'ms'

import { describeValue, invalidRequest } from './errors.js'
import type { Duration, Seconds } from './types.js'

/** Longest duration accepted: 100 years. Anything longer is almost certainly a unit mistake. */
const MAX_DURATION_SECONDS: Seconds = 100 * 365 * 24 * 60 * 60

/** A Go-style compound duration: one or more `<number><unit>` segments, e.g. `1h30m` or `1.5h`. */
const COMPOUND_DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$/

/** One segment of a compound duration. */
const DURATION_SEGMENT = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g

/** A string of digits only: seconds, as in Vault. */
const DIGITS = /^\d+$/

/** A bare number that is not all digits ('1.5', '-3', '.5'): Vault refuses it; `ms` would read milliseconds. */
const BARE_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i

/**
 * Parses a duration to whole seconds (fractions of a second are dropped, as Vault does).
 *
 * @param value - Seconds as a number or digit string, or a duration string (`'30m'`, `'1h30m'`, `'7d'`, `'2 days'`).
 * @param field - The option name, for the error message.
 * @throws {@link TokenStoreError} `invalid_request` when the value is not a non-negative duration of at most 100 years.
 */
export function parseDuration(value: Duration, field: string): Seconds {
  return Math.floor(parseDurationMillis(value, field) / 1000)
}

/**
 * Parses a duration as {@link parseDuration} does, to milliseconds, keeping fractions of a second (`'500ms'`).
 *
 * @throws {@link TokenStoreError} `invalid_request` as {@link parseDuration}.
 */
export function parseDurationMillis(value: Duration, field: string): number {
  let millis: number
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw invalidRequest(
        `Expected \`${field}\` to be a non-negative whole number of seconds, got ${describeValue(value)}`,
      )
    }
    millis = value * 1000
  } else if (typeof value === 'string') {
    millis = parseDurationString(value.trim(), field)
  } else {
    throw invalidRequest(
      `Expected \`${field}\` to be seconds or a duration string, got ${describeValue(value)}`,
    )
  }
  if (millis > MAX_DURATION_SECONDS * 1000) {
    throw invalidRequest(
      `Expected \`${field}\` to be at most 100 years, got ${Math.floor(millis / 1000)} seconds`,
    )
  }
  return millis
}

/** Milliseconds in a duration string. */
function parseDurationString(text: string, field: string): number {
  if (text === '') return 0
  if (DIGITS.test(text)) return Number(text) * 1000
  let millis = 0
  if (BARE_NUMBER.test(text)) millis = Number.NaN
  else if (COMPOUND_DURATION.test(text)) {
    for (const [segment] of text.matchAll(DURATION_SEGMENT)) millis += ms(segment as ms.StringValue)
  } else if (text.length <= 100) {
    // Long forms such as '2 days' or '1.5 hours'. ms returns undefined for anything else, though typed `number`.
    const parsed: unknown = ms(text as ms.StringValue)
    millis = typeof parsed === 'number' ? parsed : Number.NaN
  } else {
    millis = Number.NaN
  }
  if (!Number.isFinite(millis) || millis < 0) {
    throw invalidRequest(
      `Expected \`${field}\` to be seconds or a duration such as '30m' or '1h30m', got ${describeValue(text)}`,
    )
  }
  return millis
}
