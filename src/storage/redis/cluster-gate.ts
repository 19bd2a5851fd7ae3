/**
 * When `RedisStorage` sends a command through an ioredis `Cluster`.
 *
 * A `Cluster` with no connection keeps every command in its offline queue until it reconnects, however long that
 * takes, and then runs them: during an outage of the whole cluster a call would hang rather than fail with
 * `storage_unavailable` (a single `Redis` connection ends the wait after `maxRetriesPerRequest`), and would take
 * effect minutes later, after its caller gave up. So the storage sends nothing while the cluster has lost its
 * connections (reconnecting, closed): such a call fails at once and never runs. Before the cluster was first ready
 * (a storage made with a cluster that is still connecting), a call is sent, and waits at most `startupWait` ms.
 *
 * @packageDocumentation
 */
import type { Cluster } from 'ioredis'

/** Why a call was not sent, or gave up waiting for the cluster's first connection. */
export class ClusterNotReadyError extends Error {
  constructor(status: string) {
    super(`Redis Cluster is not ready (${status})`)
    this.name = 'ClusterNotReadyError'
  }
}

/** The states of a `Cluster` before its first connection, in which a command waits for it. */
const STARTING = new Set(['wait', 'connecting', 'connect'])

/** Sends commands through one `Cluster` only when they can be answered (see the module's comment). */
export class ClusterGate {
  readonly #cluster: Cluster
  readonly #startupWait: number
  #wasReady: boolean

  /**
   * @param startupWait - How long a call made before the cluster's first connection waits for it, in ms.
   */
  constructor(cluster: Cluster, startupWait: number) {
    this.#cluster = cluster
    this.#startupWait = startupWait
    this.#wasReady = cluster.status === 'ready'
    if (!this.#wasReady) {
      cluster.once('ready', () => {
        this.#wasReady = true
      })
    }
  }

  /** Runs `send` now, or rejects with {@link ClusterNotReadyError} without running it (see the module's comment). */
  send<T>(send: () => Promise<T>): Promise<T> {
    const status = this.#cluster.status
    if (status === 'ready') return send()
    if (this.#wasReady || !STARTING.has(status)) {
      return Promise.reject(new ClusterNotReadyError(status))
    }
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new ClusterNotReadyError(this.#cluster.status))
      }, this.#startupWait)
      send().then(
        (value) => {
          clearTimeout(timer)
          resolve(value)
        },
        (error: unknown) => {
          clearTimeout(timer)
          reject(error instanceof Error ? error : new Error(String(error)))
        },
      )
    })
  }
}
