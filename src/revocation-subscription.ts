/**
 * A `TokenStore`'s subscription to the revocations other instances write to shared storage: started with the
 * store, retried with backoff while storage is unreachable, and resumed from where it stood, so that no notice is
 * missed or delivered twice.
 *
 * @packageDocumentation
 */
import { backoffDelay } from './backoff.js'
import { TokenStoreError } from './errors.js'
import type { Timers } from './expiration.js'
import type { NoticeGap, StorageNotice, Storage } from './storage/storage.js'

/** Retries of a failed subscription: full jitter over a cap that doubles from 1 s up to 30 s. */
const SUBSCRIBE_BACKOFF = { first: 1_000, max: 30_000 }

/** What the subscription tells its store. */
export interface RevocationSubscriptionHandlers {
  /** A notice from another instance. */
  readonly notice: (notice: StorageNotice) => void
  /** Each time a subscription starts (first, or after a failure). */
  readonly started?: () => void
  /** A failed attempt, or notices lost: for the store's `error` event. */
  readonly failed: (error: unknown) => void
  /** A failed attempt, with the number of failures so far and the wait in ms before the next: for the logger. */
  readonly retrying?: (error: unknown, failures: number, delay: number) => void
  /** Subscribed again after `failures` failed attempts: for the logger. */
  readonly recovered?: (failures: number) => void
  /** Notices lost: for the logger. */
  readonly gap?: (gap: NoticeGap) => void
}

/**
 * Where a store's subscription to other instances' notices stands:
 * - `unsupported`: the storage does not subscribe (it is not shared, as `MemoryStorage`): there is nothing to follow.
 * - `subscribing`: an attempt is under way (the first, or a retry).
 * - `subscribed`: notices are followed.
 * - `down`: the last attempt failed; a retry is scheduled (or, with `timers: false`, waits for `ready()`).
 * - `closed`: the store is closed.
 */
export type SubscriptionState = 'unsupported' | 'subscribing' | 'subscribed' | 'down' | 'closed'

/**
 * Follows the storage's revocation notices from the moment it is constructed. The first attempt asks the storage
 * for every notice written since then (`since`, this process's monotonic clock), however late it succeeds; a
 * later attempt resumes after the last notice passed (`after`). Between failed attempts a timer waits, with
 * backoff and jitter; {@link ready} attempts at once instead.
 */
export class RevocationSubscription {
  readonly #storage: Storage
  readonly #timers: Timers | null
  readonly #handlers: RevocationSubscriptionHandlers
  /** `performance.now()` when the store was created: the first notice due is the first written from then. */
  readonly #since = performance.now()
  /** The number of the last notice passed, once a subscription has stood somewhere. */
  #position: number | null = null
  #stop: (() => Promise<void>) | null = null
  #attempt: Promise<void> | null = null
  #lastError: unknown = null
  #failures = 0
  #retry: unknown = null
  #closed = false

  constructor(storage: Storage, timers: Timers | null, handlers: RevocationSubscriptionHandlers) {
    this.#storage = storage
    this.#timers = timers
    this.#handlers = handlers
    if (storage.subscribe !== undefined) this.#attempt = this.#run()
  }

  /** Where the subscription stands now. */
  get state(): SubscriptionState {
    if (this.#closed) return 'closed'
    if (this.#storage.subscribe === undefined) return 'unsupported'
    if (this.#stop !== null) return 'subscribed'
    return this.#attempt === null ? 'down' : 'subscribing'
  }

  /**
   * Resolves once notices are followed (at once for storage that does not subscribe). While they are not, it
   * attempts to subscribe now (or joins the attempt under way) and rejects with that attempt's error.
   */
  async ready(): Promise<void> {
    if (this.#storage.subscribe === undefined || this.#stop !== null) return
    if (this.#closed) {
      throw new TokenStoreError(
        'storage_unavailable',
        'The store is closed: it follows no revocations',
      )
    }
    if (this.#attempt === null) {
      this.#cancelRetry()
      this.#attempt = this.#run()
    }
    await this.#attempt
    if (!this.#isSubscribed()) throw asStoreError(this.#lastError)
  }

  /** Stops following; cancels a pending retry and waits for an attempt under way. */
  async close(): Promise<void> {
    this.#closed = true
    this.#cancelRetry()
    await this.#attempt
    const stop = this.#stop
    this.#stop = null
    await stop?.()
  }

  async #run(): Promise<void> {
    const subscribe = this.#storage.subscribe?.bind(this.#storage)
    if (subscribe === undefined) return
    try {
      const position = this.#position
      const stop = await subscribe(this.#handlers.notice, {
        ...(position === null ? { since: this.#since } : { after: position }),
        onPosition: (seq) => {
          this.#position = seq
        },
        onGap: (gap) => {
          this.#handlers.gap?.(gap)
          this.#handlers.failed(gapError(gap))
        },
      })
      if (this.#failures > 0) this.#handlers.recovered?.(this.#failures)
      this.#failures = 0
      this.#handlers.started?.()
      // close() may have run while this awaited.
      if (this.#isClosed()) await stop()
      else this.#stop = stop
    } catch (error) {
      this.#lastError = error
      this.#handlers.failed(error)
      this.#scheduleRetry(error)
    } finally {
      this.#attempt = null
    }
  }

  #scheduleRetry(error: unknown): void {
    if (this.#closed || this.#timers === null) return
    const delay = backoffDelay(this.#failures, SUBSCRIBE_BACKOFF)
    this.#failures += 1
    this.#handlers.retrying?.(error, this.#failures, delay)
    this.#retry = this.#timers.setTimeout(() => {
      this.#retry = null
      this.#attempt ??= this.#run()
      return this.#attempt
    }, delay)
  }

  #cancelRetry(): void {
    if (this.#retry !== null) this.#timers?.clearTimeout(this.#retry)
    this.#retry = null
  }

  /** Re-reads the flag: a plain read after an await is wrongly narrowed to its value before the await. */
  #isClosed(): boolean {
    return this.#closed
  }

  /** Re-reads the field, for the same reason. */
  #isSubscribed(): boolean {
    return this.#stop !== null
  }
}

/** The error for notices lost: the count, and that the `revoked` events for them will never come. */
function gapError(gap: NoticeGap): TokenStoreError {
  if (gap.reset === true) {
    return new TokenStoreError(
      'storage_unavailable',
      "The storage's notice log started over (its numbers went back: the storage lost its data, or was restored from an older copy): notices written before that and not yet read were lost, so no revoked event will be emitted for those from other instances; this store reads the log from its new start",
    )
  }
  const count = gap.atMost ? `Up to ${gap.lost}` : String(gap.lost)
  return new TokenStoreError(
    'storage_unavailable',
    // The count may include this store's own notices (a revocation of its own that outran the log): their events
    // were emitted when it deleted them, so only other instances' can be missing.
    `${count} revocation notice(s) were lost: the storage's notice log no longer held them when this store reached for them, so no revoked event will be emitted for those from other instances (raise noticeLogLength, or shorten the outage)`,
  )
}

function asStoreError(error: unknown): TokenStoreError {
  if (error instanceof TokenStoreError) return error
  return new TokenStoreError(
    'storage_unavailable',
    'Could not subscribe to the revocations of other instances',
    { cause: error },
  )
}
