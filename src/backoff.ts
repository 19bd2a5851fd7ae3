/**
 * Retry delays with exponential backoff and full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"):
 * each delay is drawn uniformly between zero and an exponentially growing cap, so that many instances failing at
 * the same moment (a storage restart) spread their retries out instead of retrying in step. Pure: the random
 * source is a parameter.
 *
 * @packageDocumentation
 */

/** The shape of a backoff: its first cap and its longest cap, in milliseconds. */
export interface Backoff {
  /** The cap of the first retry's delay, in milliseconds; it doubles with every failure after. */
  readonly first: number
  /** The longest any delay can be, in milliseconds. */
  readonly max: number
}

/** A source of uniform random numbers in `[0, 1)`, like `Math.random`. */
export type RandomSource = () => number

/**
 * The delay before retry number `attempt` (0 for the first retry after a failure): uniform in
 * `[0, min(max, first × 2^attempt))`, rounded down to whole milliseconds.
 *
 * @param attempt - How many retries came before this one, since the last success.
 * @param backoff - The first and the longest cap.
 * @param random - Uniform in `[0, 1)`; `Math.random` unless a test injects its own.
 */
export function backoffDelay(
  attempt: number,
  backoff: Backoff,
  random: RandomSource = Math.random,
): number {
  // 2 ** 1024 is Infinity, which min() handles; a negative or fractional attempt counts as 0.
  const exponent = Math.max(0, Math.floor(attempt))
  const cap = Math.min(backoff.max, backoff.first * 2 ** exponent)
  const draw = random()
  const unit = draw >= 0 && draw < 1 ? draw : 0
  return Math.floor(unit * cap)
}
