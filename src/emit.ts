/**
 * Listener isolation: one listener's failure must not reach the store's caller nor the listeners after it.
 */
import type { EventEmitter } from 'eventemitter3'

/**
 * Calls each listener of `event` in its own try/catch; a throw, or a returned promise that rejects, goes to
 * `onFailure`. eventemitter3's `emit` stops at the first throw, so this does what `emit` does with its public API
 * only: it takes the listeners registered when the event is emitted (`listeners(event)`), removes the `once` ones
 * before calling them (`removeListener(event, fn, undefined, true)` removes only `once` registrations), and calls
 * each with the emitter as `this`, as `emit` does for a listener added without a context.
 */
export function emitIsolated(
  emitter: EventEmitter,
  event: string,
  payload: unknown,
  onFailure: (error: unknown) => void,
): void {
  const listeners = emitter.listeners(event) as ((...args: unknown[]) => unknown)[]
  if (listeners.length === 0) return
  for (const listener of listeners) emitter.removeListener(event, listener, undefined, true)
  for (const listener of listeners) {
    try {
      const result = listener.call(emitter, payload)
      if (isPromiseLike(result)) result.then(undefined, onFailure)
    } catch (error) {
      onFailure(error)
    }
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  )
}
