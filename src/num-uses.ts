/**
 * Use limits (`numUses` of a token, `tokenNumUses` of a role): checked alike, so that every storage accepts what
 * the store accepts. Pure.
 *
 * @packageDocumentation
 */
import { describeValue, invalidRequest } from './errors.js'

/**
 * Largest use limit: 2³¹ − 1, what PostgreSQL's `integer` column holds (a larger one failed there as an outage
 * while memory and Redis took it). No one means more uses than that; `0` means no limit.
 */
export const MAX_NUM_USES = 2_147_483_647

/**
 * Checks a use limit: an integer from 0 (no limit) to {@link MAX_NUM_USES}.
 *
 * @throws {@link TokenStoreError} `invalid_request` for anything else.
 */
export function checkNumUses(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_NUM_USES) {
    throw invalidRequest(
      `Expected \`${field}\` to be an integer from 0 to ${MAX_NUM_USES}, got ${describeValue(value)}`,
    )
  }
  return value
}
