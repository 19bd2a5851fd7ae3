/**
 * The `logger` store option: where a `TokenStore` writes its own messages (background sweep failures, listener
 * failures, the subscription to other instances' revocations failing and recovering).
 *
 * @packageDocumentation
 */
import { invalidRequest } from './errors.js'
import type { NoticeGap } from './storage/storage.js'

/**
 * One logging method. pino's (`(fields, message)`) and `console`'s (`(...data)`) both fit: the store always calls
 * it as `(fields, message)`, with `fields.err` holding the error, if any (pino's error key).
 */
export type LogMethod = (fields: Readonly<Record<string, unknown>>, message: string) => void

/**
 * A logger for the store's own messages: any object with `debug`, `info`, `warn` and `error`, such as a pino
 * logger, `console`, or a wrapper around another library. Messages never contain a token id; they may carry an
 * accessor.
 */
export interface Logger {
  /** Detail for debugging. */
  readonly debug: LogMethod
  /** A normal event worth noting: the subscription recovered. */
  readonly info: LogMethod
  /** Something failed and will be retried: the subscription to other instances' revocations. */
  readonly warn: LogMethod
  /** Something failed in the background: an expiry sweep, an event listener. */
  readonly error: LogMethod
}

/** The levels of a {@link Logger}, in increasing severity. */
export type LogLevel = keyof Logger

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error']

/** Logged at `error` when a background task (expiry sweep, event listener) fails; `fields.err` is the error. */
export const BACKGROUND_FAILED = 'tokentree: a background task failed'

/** Logged at `warn` when subscribing to other instances' revocations fails; a retry follows after `fields.delay` ms. */
export const SUBSCRIBE_FAILED = 'tokentree: subscribing to revocations failed; retrying'

/** Logged at `info` when subscribing succeeds after `fields.failures` failed attempts. */
export const SUBSCRIBE_RECOVERED = 'tokentree: subscribed to revocations again'

/** Logged at `error` when revocation notices were lost (`fields.lost`, `fields.atMost`). */
export const NOTICES_LOST = 'tokentree: revocation notices were lost'

/**
 * Checks the `logger` option.
 *
 * @throws {@link TokenStoreError} `invalid_request` when it is not an object with the four methods.
 */
export function checkLogger(value: unknown): Logger | undefined {
  if (value === undefined) return undefined
  if (
    typeof value !== 'object' ||
    value === null ||
    !LEVELS.every((level) => typeof (value as Record<string, unknown>)[level] === 'function')
  ) {
    throw invalidRequest('Expected `logger` to have debug, info, warn and error methods')
  }
  return value as Logger
}

/**
 * Writes one message. A logger that throws is ignored: logging must never break the store nor loop back into it.
 */
export function log(
  logger: Logger,
  level: LogLevel,
  message: string,
  fields: Readonly<Record<string, unknown>> = {},
): void {
  try {
    logger[level]({ component: 'tokentree', ...fields }, message)
  } catch {
    // Nothing sensible is left to tell.
  }
}

/** The subscription's logging handlers: failures at `warn` with the retry delay, recovery at `info`, gaps at `error`. */
export function subscriptionLogging(logger: Logger): {
  retrying: (error: unknown, failures: number, delay: number) => void
  recovered: (failures: number) => void
  gap: (gap: NoticeGap) => void
} {
  return {
    retrying: (error, failures, delay) => {
      log(logger, 'warn', SUBSCRIBE_FAILED, { err: error, failures, delay })
    },
    recovered: (failures) => {
      log(logger, 'info', SUBSCRIBE_RECOVERED, { failures })
    },
    gap: (gap) => {
      log(logger, 'error', NOTICES_LOST, { lost: gap.lost, atMost: gap.atMost })
    },
  }
}
