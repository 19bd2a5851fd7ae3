/**
 * A fault-injecting `Storage`: a Proxy over any storage that counts the calls made while armed and, at the k-th,
 * fails it (throws before it reaches storage, as a refused connection does), fails it after it ran (the write
 * happened but the reply was lost), or stalls it (a promise that settles only when released).
 */
import type { Storage } from 'tokentree'

export type FaultMode = 'fail' | 'fail-after' | 'stall'

/** The error a faulty call throws: a plain driver-style error, which the store must wrap. */
export class InjectedFault extends Error {
  constructor(method: string, call: number) {
    super(`injected fault in ${method} (call ${call})`)
  }
}

export class FaultyStorage {
  readonly storage: Storage
  /** Methods called since `arm`, in order. */
  readonly calls: string[] = []
  /** What each call since `arm` resolved to (absent for calls that failed), in order of completion. */
  readonly results: Array<{ method: string; result: unknown }> = []
  #armed = false
  #at = 0
  #from = 0
  #mode: FaultMode = 'fail'
  #release: (() => void) | null = null
  #reached: (() => void) | null = null
  /** Resolves when the stalled call is reached. */
  stalled: Promise<void> = Promise.resolve()

  constructor(readonly inner: Storage) {
    this.storage = new Proxy(inner, {
      get: (target, property, receiver) => {
        const value: unknown = Reflect.get(target, property, receiver)
        if (typeof value !== 'function' || property === 'close' || property === 'subscribe') {
          return typeof value === 'function' ? (value.bind(target) as unknown) : value
        }
        const method = String(property)
        const fn = value as (...args: unknown[]) => Promise<unknown>
        return async (...args: unknown[]): Promise<unknown> => {
          if (!this.#armed) return fn.apply(target, args)
          this.calls.push(method)
          const n = this.calls.length
          const record = async (promise: Promise<unknown>): Promise<unknown> => {
            const result = await promise
            this.results.push({ method, result })
            return result
          }
          if (n !== this.#at && !(this.#from > 0 && n >= this.#from))
            return record(fn.apply(target, args))
          switch (this.#mode) {
            case 'fail':
              throw new InjectedFault(method, n)
            case 'fail-after':
              await fn.apply(target, args)
              throw new InjectedFault(method, n)
            case 'stall':
              await new Promise<void>((resolve) => {
                this.#release = resolve
                this.#reached?.()
              })
              return fn.apply(target, args)
          }
        }
      },
    })
  }

  /** Counts calls from now on; the `at`-th (1-based) gets `mode`. `at = 0` only counts. */
  arm(at: number, mode: FaultMode = 'fail'): void {
    this.calls.length = 0
    this.results.length = 0
    this.#armed = true
    this.#at = at
    this.#mode = mode
    this.#release = null
    this.stalled = new Promise<void>((resolve) => {
      this.#reached = resolve
    })
  }

  /** Also applies the armed mode to every call from the `from`-th on (storage that stays down). */
  failFrom(from: number): void {
    this.#from = from
  }

  disarm(): void {
    this.#armed = false
    this.#from = 0
  }

  /** Lets a stalled call go on. */
  release(): void {
    this.#release?.()
    this.#release = null
  }
}
