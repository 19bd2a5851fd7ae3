/**
 * The expiration manager's timer: one timer aimed at the next expiry, never a poll over everything stored.
 *
 * Whenever something is stored that expires earlier than the timer's aim, the timer is re-aimed. When it fires,
 * the store sweeps what is due (cost: the number expiring) and the timer is aimed at the next expiry the storage
 * reports. Timers are injectable, so a virtual clock can drive them in tests; real ones are unref'd, so the timer
 * never keeps a process alive.
 */
import { backoffDelay } from './backoff.js'
import type { UnixMillis } from './types.js'

/** The two timer functions the store needs; `ManualClock` from `tokentree/testing` implements them virtually. */
export interface Timers {
  /** Calls `callback` after `delay` ms. If it returns a promise, a virtual clock awaits it. */
  setTimeout(callback: () => unknown, delay: number): unknown
  /** Cancels a timer returned by `setTimeout`. */
  clearTimeout(handle: unknown): void
}

/** Node's timers, unref'd. */
export const REAL_TIMERS: Timers = {
  setTimeout(callback, delay) {
    const handle = setTimeout(callback, delay)
    handle.unref()
    return handle
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout)
  },
}

/** Longest delay `setTimeout` accepts (about 24.8 days); a later aim is reached in several hops. */
const MAX_DELAY = 2 ** 31 - 1

/**
 * Waits before retrying a sweep that failed (storage down): full jitter over a cap that doubles from 5 s up to
 * 5 min with each failure in a row, so that many instances do not retry in step.
 */
const RETRY_BACKOFF = { first: 5_000, max: 300_000 }

/** Keeps one timer aimed at the next expiry. */
export class ExpiryScheduler {
  readonly #timers: Timers
  readonly #clock: () => UnixMillis
  /** Revokes what is due (the timer was aimed at `due`); resolves to the next expiry, or `null`. */
  readonly #sweep: (due: UnixMillis) => Promise<UnixMillis | null>
  readonly #onError: (error: unknown) => void
  #handle: unknown = null
  #aim: UnixMillis | null = null
  #running: Promise<void> | null = null
  /** Sweeps failed in a row, for the retry's backoff. */
  #failures = 0
  /** The earliest expiry reported while a sweep ran: aimed at once it ends, so sweeps never overlap. */
  #aimAfterSweep: UnixMillis | null = null
  #closed = false

  constructor(
    timers: Timers,
    clock: () => UnixMillis,
    sweep: (due: UnixMillis) => Promise<UnixMillis | null>,
    onError: (error: unknown) => void,
  ) {
    this.#timers = timers
    this.#clock = clock
    this.#sweep = sweep
    this.#onError = onError
  }

  /** Something now expires at `at`: re-aim if that is earlier than the current aim. */
  expiresAt(at: UnixMillis): void {
    if (this.#closed) return
    if (this.#running !== null) {
      this.#aimAfterSweep = this.#aimAfterSweep === null ? at : Math.min(this.#aimAfterSweep, at)
      return
    }
    if (this.#aim !== null && this.#aim <= at) return
    this.#arm(at)
  }

  /** Stops the timer and waits for a sweep in progress. */
  async close(): Promise<void> {
    this.#closed = true
    this.#disarm()
    await this.#running
  }

  #arm(at: UnixMillis): void {
    this.#disarm()
    this.#aim = at
    const delay = Math.min(Math.max(at - this.#clock(), 0), MAX_DELAY)
    this.#handle = this.#timers.setTimeout(() => this.#fire(), delay)
  }

  #disarm(): void {
    if (this.#handle !== null) this.#timers.clearTimeout(this.#handle)
    this.#handle = null
    this.#aim = null
  }

  #fire(): Promise<void> {
    // The aim is always set while a timer is armed; the clock is only a fallback for the type.
    const due = this.#aim ?? this.#clock()
    this.#handle = null
    this.#aim = null
    const running = this.#run(due)
    this.#running = running
    return running
  }

  async #run(due: UnixMillis): Promise<void> {
    let next: UnixMillis | null
    try {
      next = await this.#sweep(due)
      this.#failures = 0
    } catch (error) {
      this.#onError(error)
      next = this.#clock() + backoffDelay(this.#failures, RETRY_BACKOFF)
      this.#failures += 1
    }
    const reported = this.#aimAfterSweep
    this.#aimAfterSweep = null
    this.#running = null
    if (next !== null) this.expiresAt(next)
    if (reported !== null) this.expiresAt(reported)
  }
}
