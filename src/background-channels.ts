/**
 * Diagnostics channels for a `TokenStore`'s background work, which no caller awaits and so no operation channel
 * (`tokentree:<operation>`) covers: the expiration manager's sweeps, and the notices other instances write to
 * shared storage. `tokentree/otel` turns them into metrics; an APM or a test may subscribe by name too.
 *
 * As with the operation channels, nothing is built or published while a channel has no subscriber, and no message
 * holds a token id.
 *
 * @packageDocumentation
 */
import { channel } from 'node:diagnostics_channel'

import { TokenStoreError } from './errors.js'
import type { RevokedEvent } from './events.js'
import type { StorageNotice } from './storage/storage.js'
import type { UnixMillis } from './types.js'

/** Name of the channel that gets a {@link SweepMessage} after each sweep of the expiration manager. */
export const SWEEP_CHANNEL = 'tokentree:sweep'

/** Name of the channel that gets a {@link NoticeMessage} for each notice received from another instance. */
export const NOTICE_CHANNEL = 'tokentree:notice'

/**
 * Published on `tokentree:sweep` when a sweep of the expiration manager's timer settles. Explicit calls of
 * `store.revokeExpired()` are not sweeps: they have their operation channel, `tokentree:revokeExpired`.
 */
export interface SweepMessage {
  /** The store that swept. */
  readonly store: object
  /** The expiry the timer was aimed at, by the store's clock: the sweep is late by `startTime − due`. */
  readonly due: UnixMillis
  /** When the sweep started, by the store's clock. */
  readonly startTime: UnixMillis
  /** How long the sweep took, in milliseconds, by `performance.now()` (not the store's clock, which may be virtual). */
  readonly duration: number
  /** `ok`, or `error` when revoking what was due failed (it is retried with backoff). */
  readonly outcome: 'ok' | 'error'
  /** What expired on its own and was revoked (tokens and leases; a subtree's descendants not counted); 0 on error. */
  readonly revoked: number
  /** The error, on failure: a `TokenStoreError`, whose message never contains a token. */
  readonly error?: TokenStoreError
}

/**
 * Published on `tokentree:notice` when a notice written by another instance of a shared storage arrives, before
 * the store acts on it (emits `revoked`, or drops a cached policy).
 */
export interface NoticeMessage {
  /** The store that received it. */
  readonly store: object
  /** What the notice is about. */
  readonly kind: StorageNotice['kind']
  /**
   * When the writing instance made the change, by its clock. The receipt's lag, `receivedAt − time`, includes any
   * skew between the two instances' clocks.
   */
  readonly time: UnixMillis
  /** When this store received it, by its clock. */
  readonly receivedAt: UnixMillis
  /** The `revoked` event the store is about to emit for it (the same object); `null` for a policy notice. */
  readonly event: RevokedEvent | null
}

const SWEEPS = channel(SWEEP_CHANNEL)
const NOTICES = channel(NOTICE_CHANNEL)

/**
 * Runs one sweep, `revokeDue`, and publishes its {@link SweepMessage} when anyone listens. Rejects as `revokeDue`
 * does.
 */
export async function traceSweep(
  store: object,
  due: UnixMillis,
  clock: () => UnixMillis,
  revokeDue: () => Promise<number>,
): Promise<number> {
  if (!SWEEPS.hasSubscribers) return revokeDue()
  const startTime = clock()
  const started = performance.now()
  const message = (fields: Pick<SweepMessage, 'outcome' | 'revoked' | 'error'>): SweepMessage => ({
    store,
    due,
    startTime,
    duration: performance.now() - started,
    ...fields,
  })
  let revoked: number
  try {
    revoked = await revokeDue()
  } catch (error) {
    const failure =
      error instanceof TokenStoreError
        ? error
        : new TokenStoreError('storage_unavailable', 'The expiry sweep failed', { cause: error })
    SWEEPS.publish(message({ outcome: 'error', revoked: 0, error: failure }))
    throw error
  }
  SWEEPS.publish(message({ outcome: 'ok', revoked }))
  return revoked
}

/** Publishes the {@link NoticeMessage} of a notice just received, when anyone listens. */
export function publishNotice(
  store: object,
  notice: StorageNotice,
  event: RevokedEvent | null,
  clock: () => UnixMillis,
): void {
  if (!NOTICES.hasSubscribers) return
  const message: NoticeMessage = {
    store,
    kind: notice.kind,
    time: notice.time,
    receivedAt: clock(),
    event,
  }
  NOTICES.publish(message)
}
