/**
 * ManualClock: virtual time and virtual timers, so tests decide when time passes.
 */
import { parseDurationMillis } from '../duration.js'
import { invalidRequest } from '../errors.js'
import type { Timers } from '../expiration.js'
import type { Duration, UnixMillis } from '../types.js'

/** Where a clock starts unless told otherwise: a fixed instant, so test output is repeatable. */
const DEFAULT_START: UnixMillis = Date.UTC(2030, 0, 1)

interface VirtualTimer {
  readonly at: UnixMillis
  readonly order: number
  readonly callback: () => unknown
}

/**
 * A clock that moves only when told to, and implements {@link Timers} on that time: a timer fires when
 * {@link ManualClock.advance} passes its time, and `advance` waits for whatever the timer's callback returns. So
 * `await clock.advance('2h')` also completes every expiry sweep that became due, and no real timer ever runs.
 *
 * @example
 * ```ts
 * import { TokenStore } from 'tokentree'
 * import { ManualClock } from 'tokentree/testing'
 *
 * const clock = new ManualClock()
 * const store = new TokenStore({ clock: clock.now, timers: clock })
 * const { clientToken } = await store.create({ ttl: '1h' })
 * await clock.advance('1h') // the token expires and is revoked, events and all
 * ```
 */
export class ManualClock implements Timers {
  #now: UnixMillis
  readonly #timers = new Map<number, VirtualTimer>()
  #nextHandle = 1

  /** @param start - The starting time. @default 2030-01-01T00:00:00Z */
  constructor(start: Date | UnixMillis = DEFAULT_START) {
    this.#now = toMillis(start)
  }

  /** The current virtual time in ms since the epoch. Bound, so it can be passed as a store's `clock`. */
  readonly now = (): UnixMillis => this.#now

  /** How many virtual timers are waiting to fire. */
  get pendingTimers(): number {
    return this.#timers.size
  }

  /** Schedules `callback` at now + `delay` ms of virtual time. */
  setTimeout(callback: () => unknown, delay: number): number {
    const handle = this.#nextHandle++
    this.#timers.set(handle, { at: this.#now + Math.max(0, delay), order: handle, callback })
    return handle
  }

  /** Cancels a virtual timer. */
  clearTimeout(handle: unknown): void {
    if (typeof handle === 'number') this.#timers.delete(handle)
  }

  /**
   * Moves time forward, firing due timers in time order and awaiting each callback's promise; timers scheduled by
   * those callbacks fire too if they fall within the window.
   *
   * @param duration - Seconds (a number or digit string) or a duration string: `'2h'`, `'1h30m'`, `'500ms'`.
   */
  async advance(duration: Duration): Promise<void> {
    await this.#runUntil(this.#now + parseDurationMillis(duration, 'duration'))
  }

  /** Moves time forward to `time`, as {@link ManualClock.advance} does. Time never moves back. */
  async set(time: Date | UnixMillis): Promise<void> {
    const target = toMillis(time)
    if (target < this.#now) throw invalidRequest('A ManualClock cannot move back in time')
    await this.#runUntil(target)
  }

  async #runUntil(target: UnixMillis): Promise<void> {
    for (let due = this.#firstDue(target); due !== undefined; due = this.#firstDue(target)) {
      const [handle, timer] = due
      this.#timers.delete(handle)
      this.#now = Math.max(this.#now, timer.at)
      await timer.callback()
    }
    this.#now = target
  }

  #firstDue(target: UnixMillis): [number, VirtualTimer] | undefined {
    let first: [number, VirtualTimer] | undefined
    for (const entry of this.#timers) {
      const timer = entry[1]
      if (timer.at > target) continue
      if (
        first === undefined ||
        timer.at < first[1].at ||
        (timer.at === first[1].at && timer.order < first[1].order)
      ) {
        first = entry
      }
    }
    return first
  }
}

function toMillis(time: Date | UnixMillis): UnixMillis {
  const millis = time instanceof Date ? time.getTime() : time
  if (!Number.isFinite(millis)) throw invalidRequest('Expected a valid time')
  return millis
}
