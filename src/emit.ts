/**
 * Listener isolation: one listener's failure must not reach the store's caller nor the listeners after it.
 */
import { EventEmitter } from 'eventemitter3'

/** eventemitter3's stored form of a listener. */
interface StoredListener {
  fn: (...args: unknown[]) => unknown
  context: unknown
  once: boolean
}

/**
 * Calls each listener of `event` in its own try/catch; a throw, or a returned promise that rejects, goes to
 * `onFailure`. eventemitter3's `emit` stops at the first throw, so this walks its listener table (`_events`,
 * unchanged across eventemitter3 v1–v5) itself, removing `once` listeners before calling them as `emit` does.
 */
export function emitIsolated(
  emitter: EventEmitter,
  event: string,
  payload: unknown,
  onFailure: (error: unknown) => void,
): void {
  const key = EventEmitter.prefixed ? `${EventEmitter.prefixed}${event}` : event
  const table = (
    emitter as unknown as { _events: Record<string, StoredListener | StoredListener[] | undefined> }
  )._events
  const stored = table[key]
  if (stored === undefined) return
  const listeners = Array.isArray(stored) ? [...stored] : [stored]
  for (const listener of listeners) {
    if (listener.once) emitter.removeListener(event, listener.fn, listener.context, true)
    try {
      const result = listener.fn.call(listener.context, payload)
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
