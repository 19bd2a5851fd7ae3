/**
 * The operations a `TokenStore` has under way, so that `close()` can wait for them: a revocation cut off by a
 * storage closed under it would leave its tree marked but not deleted, and the `revoked` events of the tokens it
 * had still to delete would come only from a later sweep, possibly in another process.
 *
 * @packageDocumentation
 */

/**
 * Counts running operations and, once {@link drain} is called, resolves when those that started before it have
 * settled. Operations that start after `drain()` are not counted, so a caller that keeps calling cannot hold
 * `close()` open forever. A counter, not a set of promises: it costs the hot path two integer updates.
 */
export class InFlight {
  #running = 0
  #draining = false
  #drained: Promise<void> | null = null
  #idle: (() => void) | null = null

  /** An operation starts: `true` if it is counted (call {@link leave} when it settles), `false` once draining. */
  enter(): boolean {
    if (this.#draining) return false
    this.#running += 1
    return true
  }

  /** A counted operation settled. */
  leave(): void {
    this.#running -= 1
    if (this.#running === 0) this.#idle?.()
  }

  /** Stops counting new operations; resolves once every counted one has settled. The same promise each call. */
  drain(): Promise<void> {
    this.#draining = true
    this.#drained ??=
      this.#running === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            this.#idle = resolve
          })
    return this.#drained
  }
}
