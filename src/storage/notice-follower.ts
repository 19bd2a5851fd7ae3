/**
 * Follows a numbered log of revocation notices for the shared-storage adapters (Redis, PostgreSQL). Internal: not
 * exported from any package entry.
 *
 * @packageDocumentation
 */
import { backoffDelay, type Backoff } from '../backoff.js'
import { NOTICE_START_MARGIN, type NoticeGap, type StorageNotice } from './storage.js'

/** Notices read per batch. */
const NOTICE_BATCH = 500

/** The delay before each retry of a failed read, until one succeeds. */
const RETRY_BACKOFF: Backoff = { first: 100, max: 2000 }
/** The least delay before a retry, in ms, whatever the jitter draws: a storage that fails at once is not spun on. */
const RETRY_FLOOR = 50

/** One entry of a notice log: its number, and its notice or `null` to skip it (this instance's own, unreadable). */
export interface NoticeEntry {
  readonly seq: number
  readonly notice: StorageNotice | null
  /**
   * For a skipped entry that stands for several numbered notices (a batch this instance wrote itself): the number
   * of the first, so that the numbers it covers are not taken for lost ones. Defaults to `seq`.
   */
  readonly first?: number
  /**
   * Set on an entry that says the log started over (its numbers went back below the cursor): `seq` is 0, and the
   * entries after it are numbered from the log's start.
   */
  readonly reset?: boolean
}

/** Options of {@link NoticeFollower}. */
export interface NoticeFollowerOptions {
  /**
   * Reads at most `limit` entries numbered after `cursor`, oldest first. A rejection is retried after a backoff
   * delay, and at the next wake-up or poll if that comes first.
   */
  readonly readBatch: (cursor: number, limit: number) => Promise<readonly NoticeEntry[]>
  /** Receives each notice read, once and in order. */
  readonly listener: (notice: StorageNotice) => void
  /** Told the number of each entry passed, so that a later follower can start from there. */
  readonly onAdvance: (seq: number) => void
  /** How often, in milliseconds, the log is read without a wake-up. */
  readonly pollInterval: number
  /**
   * Told when the log skips numbers after the cursor: the notices in between were trimmed before they were read.
   * The adapters number their notices without gaps, so a skip is always a loss.
   */
  readonly onGap?: ((gap: NoticeGap) => void) | undefined
}

/**
 * Follows a numbered log from a cursor, delivering each notice once and in order. Wake-ups ({@link wake}) that
 * arrive while a read runs coalesce into one more read, and a timer reads as well, as the backstop for a wake-up
 * lost (a dropped connection) or never sent (a database that cannot notify).
 *
 * A read that fails is retried on its own, after a backoff delay, until one succeeds: the wake-up that prompted it
 * was spent, and none may follow when the part of the storage that failed comes back (a Redis Cluster master the
 * wake-ups do not go through), so without the retry its notices would wait for the poll.
 *
 * Wake-ups before {@link start} are ignored, so the adapter can wire its notifications up before it knows where
 * the log ends; the first read follows `start`.
 */
export class NoticeFollower {
  readonly #options: NoticeFollowerOptions
  #cursor = 0
  #started = false
  #stopped = false
  #running: Promise<void> | null = null
  /** Set when a wake-up arrives during a read: one more read follows. */
  #again = false
  #poll: NodeJS.Timeout | undefined
  /** The retry of a failed read, when one is due. */
  #retry: NodeJS.Timeout | undefined
  /** Reads failed in a row. */
  #failures = 0

  constructor(options: NoticeFollowerOptions) {
    this.#options = options
  }

  /** Whether {@link stop} was called. */
  get stopped(): boolean {
    return this.#stopped
  }

  /** Starts reading after `cursor`: now, on each wake-up, and every poll interval. */
  start(cursor: number): void {
    this.#cursor = cursor
    this.#started = true
    this.#options.onAdvance(cursor)
    this.#poll = setInterval(this.wake, this.#options.pollInterval)
    this.#poll.unref()
    this.wake()
  }

  /**
   * Reads the log from the cursor, or, while a read runs, has one more read follow it. Bound, so that it can be
   * handed to event emitters and timers as it is.
   */
  readonly wake = (): void => {
    if (this.#stopped || !this.#started) return
    if (this.#running !== null) {
      this.#again = true
      return
    }
    clearTimeout(this.#retry)
    this.#retry = undefined
    this.#running = (async () => {
      let failed: boolean
      do {
        this.#again = false
        failed = await this.#readOnce().then(
          () => false,
          () => true,
        )
      } while (this.#readAgain())
      this.#failures = failed ? this.#failures + 1 : 0
    })().finally(() => {
      this.#running = null
      if (this.#failures > 0) this.#retryLater()
    })
  }

  /**
   * Stops: no read starts and no notice is delivered after this call. Settles when a read under way has ended. The
   * flag is set and the timer cleared before the first `await`, so the caller may tear its wiring down meanwhile.
   */
  async stop(): Promise<void> {
    this.#stopped = true
    clearInterval(this.#poll)
    clearTimeout(this.#retry)
    await this.#running
  }

  /** Reads again after a delay that grows with each failure in a row (a wake-up before then reads at once). */
  #retryLater(): void {
    if (this.#stopped) return
    const delay = RETRY_FLOOR + backoffDelay(this.#failures - 1, RETRY_BACKOFF)
    this.#retry = setTimeout(this.wake, delay)
    this.#retry.unref()
  }

  /**
   * Whether a wake-up came during the read that just ended. A method, not an inline test: the compiler narrows
   * `#again` to `false` from the assignment above and cannot see the wake-ups that set it during the `await`.
   */
  #readAgain(): boolean {
    return this.#again && !this.#stopped
  }

  /** Reads batches until one comes back short, delivering as it goes. */
  async #readOnce(): Promise<void> {
    const { readBatch, listener, onAdvance, onGap } = this.#options
    for (;;) {
      const entries = await readBatch(this.#cursor, NOTICE_BATCH)
      for (const entry of entries) {
        if (this.#stopped) return
        if (entry.reset === true) {
          onGap?.({ lost: 0, atMost: true, reset: true })
          this.#cursor = entry.seq
          onAdvance(entry.seq)
          continue
        }
        const first = entry.first ?? entry.seq
        if (first > this.#cursor + 1) onGap?.({ lost: first - this.#cursor - 1, atMost: false })
        this.#cursor = entry.seq
        onAdvance(entry.seq)
        if (entry.notice !== null) deliver(listener, entry.notice)
      }
      if (entries.length < NOTICE_BATCH) return
    }
  }
}

function deliver(listener: (notice: StorageNotice) => void, notice: StorageNotice): void {
  try {
    listener(notice)
  } catch (error) {
    // The listener's failure is its own; the subscription carries on.
    process.emitWarning(
      error instanceof Error ? error : new Error(String(error)),
      'TokenStoreListenerError',
    )
  }
}

/**
 * The storage server's time at local moment `since` (a `performance.now()` reading), less
 * {@link NOTICE_START_MARGIN}: `serverNow` was read by a request answered at local moment `receivedAt`, so it was
 * taken at most `receivedAt - since` after `since`. Only this process's monotonic clock and the server's clock are
 * used: no skew between machines enters, only a step of the server's clock in between.
 */
export function serverTimeAt(since: number, serverNow: number, receivedAt: number): number {
  return serverNow - Math.max(0, receivedAt - since) - NOTICE_START_MARGIN
}

/**
 * Where a subscription that starts at `anchor` (server time) begins, from the newest notice written before it
 * (`before`), the oldest notice the log holds, and the newest number: after `before` when the log holds it;
 * after the head when the log is empty; otherwise every notice the log holds is newer than the anchor and those
 * trimmed before them may have been too, a possible loss reported as such.
 */
export function startFromAnchor(
  before: number | null,
  oldest: number | null,
  head: number,
): { cursor: number; gap: NoticeGap | null } {
  if (before !== null) return { cursor: before, gap: null }
  if (oldest === null) return { cursor: head, gap: null }
  const cursor = oldest - 1
  return { cursor, gap: cursor > 0 ? { lost: cursor, atMost: true } : null }
}
