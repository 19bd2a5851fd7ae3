/**
 * createTestStore: a TokenStore on a virtual clock, as a fixture for a host app's own tests.
 */
import type { TokenStoreOptions } from '../options.js'
import { TokenStore } from '../token-store.js'
import type { UnixMillis } from '../types.js'
import { ManualClock } from './manual-clock.js'

/** Options of {@link createTestStore}: a store's options, less the clock and timers, which the fixture supplies. */
export interface TestStoreOptions extends Omit<TokenStoreOptions, 'clock' | 'timers'> {
  /** Where the virtual clock starts. @default 2030-01-01T00:00:00Z */
  readonly start?: Date | UnixMillis
}

/** What {@link createTestStore} returns. */
export interface TestStore {
  /** A store whose time and expiration timer run on `clock`. */
  readonly store: TokenStore
  /** Moves the store's time: `await clock.advance('2h')` also revokes what expires meanwhile. */
  readonly clock: ManualClock
}

/**
 * Creates a `TokenStore` on a virtual clock, with no real timer: expirations happen when the test advances the
 * clock, and nothing is left running when the test ends. Works under any test runner (node:test, Vitest, Jest).
 *
 * @example
 * ```ts
 * import { createTestStore } from 'tokentree/testing'
 *
 * const { store, clock } = createTestStore()
 * const { clientToken } = await store.create({ ttl: '1h' })
 * await clock.advance('2h')
 * await store.lookup(clientToken) // null: expired and revoked
 * ```
 */
export function createTestStore(options: TestStoreOptions = {}): TestStore {
  const { start, ...storeOptions } = options
  const clock = new ManualClock(start)
  const store = new TokenStore({ ...storeOptions, clock: clock.now, timers: clock })
  return { store, clock }
}
