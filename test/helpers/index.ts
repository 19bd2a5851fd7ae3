/**
 * Shared test helpers: a store on a virtual clock, a storage wrapper that records and can fail calls, and
 * assertions on `TokenStoreError` codes. Not a test file itself (no `.test` suffix).
 */
import assert from 'node:assert/strict'

import {
  MemoryStorage,
  TokenStore,
  TokenStoreError,
  type AuditEvent,
  type HashedTokenId,
  type RevokedEvent,
  type Storage,
  type TokenRecord,
  type TokenStoreErrorCode,
  type TokenStoreOptions,
} from '../../src/index.js'

/** An arbitrary fixed start, so that tests never depend on the real time. */
export const START = Date.UTC(2030, 0, 1)

/** A virtual clock in milliseconds: `advance` moves it by seconds. */
export class VirtualClock {
  now: number = START

  readonly read = (): number => this.now

  advance(seconds: number): void {
    this.now += seconds * 1000
  }
}

/** A store on a virtual clock over a fresh (or given) `MemoryStorage`. */
export interface Harness {
  readonly store: TokenStore
  readonly memory: MemoryStorage
  readonly clock: VirtualClock
}

/**
 * Builds a store whose time only moves when the test moves it. The expiration timer is off (`timers: false`):
 * nothing is revoked behind the test's back, so expired tokens are deleted only by `revokeExpired()`.
 */
export function harness(
  options: Omit<TokenStoreOptions, 'clock'> = {},
  clock = new VirtualClock(),
): Harness {
  const memory = options.storage instanceof MemoryStorage ? options.storage : new MemoryStorage()
  const store = new TokenStore({ timers: false, storage: memory, ...options, clock: clock.read })
  return { store, memory, clock }
}

/** Asserts that `promise` rejects with a `TokenStoreError` of `code`, and returns the error. */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: TokenStoreErrorCode,
): Promise<TokenStoreError> {
  let caught: unknown = undefined
  await assert.rejects(promise, (error: unknown) => {
    caught = error
    return true
  })
  assert.ok(caught instanceof TokenStoreError, `expected a TokenStoreError, got ${String(caught)}`)
  assert.equal(caught.code, code, `expected code ${code}, got ${caught.code}: ${caught.message}`)
  return caught
}

/** Asserts that `fn` throws synchronously a `TokenStoreError` of `code`. */
export function throwsWith(fn: () => unknown, code: TokenStoreErrorCode): TokenStoreError {
  let caught: unknown = undefined
  assert.throws(fn, (error: unknown) => {
    caught = error
    return true
  })
  assert.ok(caught instanceof TokenStoreError, `expected a TokenStoreError, got ${String(caught)}`)
  assert.equal(caught.code, code)
  return caught
}

/** Records every `audit` event, in order. */
export function recordAudit(store: TokenStore): AuditEvent[] {
  const events: AuditEvent[] = []
  store.on('audit', (event) => {
    events.push(event)
  })
  return events
}

/** Records every `error` event (listener failures), in order. */
export function recordErrors(store: TokenStore): unknown[] {
  const errors: unknown[] = []
  store.on('error', (error) => {
    errors.push(error)
  })
  return errors
}

/** Records every `revoked` event of kind `token`. */
export function recordRevoked(store: TokenStore): Array<Extract<RevokedEvent, { kind: 'token' }>> {
  const events: Array<Extract<RevokedEvent, { kind: 'token' }>> = []
  store.on('revoked', (event) => {
    if (event.kind === 'token') events.push(event)
  })
  return events
}

/** Lets pending promise callbacks (a rejected listener's, for instance) run. No timers involved. */
export async function flushMicrotasks(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve()
}

/** Methods of `Storage` that write. Bad input must reach none of them. */
export const WRITE_METHODS: ReadonlySet<string> = new Set([
  'insertToken',
  'useToken',
  'renewToken',
  'markRevoking',
  'orphanChildren',
  'deleteToken',
  'insertLease',
  'renewLease',
  'deleteLease',
])

/** Decides, before each storage call, whether it should fail. */
export type FailureRule = (method: string, callNumber: number, args: readonly unknown[]) => boolean

/**
 * A `Storage` over a `MemoryStorage` that logs every call, keeps every record it sees (for scans and snapshots),
 * and throws a plain `Error` from a call when `failWhen` says so, as a broken backend would.
 *
 * It is a Proxy, so it forwards methods it does not know of (the interface grows; this wrapper need not).
 */
export class SpyStorage {
  readonly inner: MemoryStorage
  readonly storage: Storage
  /** Every call, in order: the method name. */
  readonly calls: string[] = []
  /** Calls per method so far. */
  readonly counts = new Map<string, number>()
  /** Every record passed in or returned, in order (JSON-safe copies). */
  readonly seen: unknown[] = []
  /** Hashed ids of every token ever inserted. */
  readonly ids = new Set<HashedTokenId>()
  failWhen: FailureRule | null = null
  /**
   * How many microtask turns to wait before each call reaches storage: with a varying number, concurrent
   * operations interleave at every storage call, as they would over a network.
   */
  jitter: (() => number) | null = null

  constructor(inner = new MemoryStorage()) {
    this.inner = inner
    const target = inner as unknown as Record<string | symbol, unknown>
    this.storage = new Proxy(inner, {
      get: (_target, property) => {
        const value = target[property]
        if (typeof value !== 'function' || typeof property !== 'string') return value
        const method = value as (...args: unknown[]) => unknown
        return async (...args: unknown[]) => {
          const n = (this.counts.get(property) ?? 0) + 1
          this.counts.set(property, n)
          this.calls.push(property)
          this.#see(args)
          if (property === 'insertToken') this.ids.add((args[0] as TokenRecord).id)
          if (this.failWhen?.(property, n, args) === true) {
            throw new Error(`injected failure in ${property} (call ${n})`)
          }
          for (let turns = this.jitter?.() ?? 0; turns > 0; turns--) await Promise.resolve()
          const result: unknown = await method.apply(inner, args)
          this.#see([result])
          return result
        }
      },
    })
  }

  /** How many write calls were made so far. */
  writes(): number {
    return this.calls.filter((name) => WRITE_METHODS.has(name)).length
  }

  /** Every stored record, by hashed id, as JSON: equal snapshots mean unchanged storage. */
  async snapshot(): Promise<string> {
    const records: Array<[string, TokenRecord | null]> = []
    for (const id of [...this.ids].sort()) records.push([id, await this.inner.getToken(id)])
    return JSON.stringify({ size: this.inner.size, records })
  }

  #see(values: readonly unknown[]): void {
    for (const value of values) {
      if (value !== undefined && value !== null && typeof value !== 'function') {
        this.seen.push(JSON.parse(JSON.stringify(value)) as unknown)
      }
    }
  }
}

/** A deterministic pseudo-random integer source in `[0, bound)`, for reproducible interleavings. */
export function seeded(seed: number, bound: number): () => number {
  let state = seed >>> 0 || 1
  return () => {
    // xorshift32
    state ^= state << 13
    state >>>= 0
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    return state % bound
  }
}

/** A store on a virtual clock over a `SpyStorage`. */
export function spyHarness(options: Omit<TokenStoreOptions, 'clock' | 'storage'> = {}): Harness & {
  spy: SpyStorage
} {
  const spy = new SpyStorage()
  const clock = new VirtualClock()
  const store = new TokenStore({
    timers: false,
    ...options,
    storage: spy.storage,
    clock: clock.read,
  })
  return { store, memory: spy.inner, clock, spy }
}

/** The stored record of a token, found through its accessor (the test cannot hash ids itself). */
export async function storedRecord(storage: Storage, accessor: string): Promise<TokenRecord> {
  const found = await storage.getTokenByAccessor(accessor)
  assert.ok(found, `no stored record for accessor ${accessor}`)
  return found
}

/** Whether the token can still be used: `authenticate` would succeed. Never consumes a use. */
export async function isUsable(store: TokenStore, token: string): Promise<boolean> {
  return (await store.lookup(token)) !== null
}
