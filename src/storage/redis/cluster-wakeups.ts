/**
 * The pub/sub connection of a `RedisStorage` subscription on Redis Cluster: one plain connection to one master at
 * a time, subscribed to the notice channels. Redis Cluster hands every `PUBLISH` to every node, so one node hears
 * the whole cluster's wake-ups. When the connection ends, the next master is tried after a backoff delay, and once
 * it is subscribed `onReady` runs, so that the followers read what they missed meanwhile.
 *
 * Why not the `Cluster`'s own pub/sub: ioredis's cluster subscriber picks another node the moment its connection
 * ends, without a pause, so while no node can be reached it reconnects in a loop and holds a core (measured here:
 * 31 s of CPU in 25 s with the three nodes of a cluster cut off).
 *
 * @packageDocumentation
 */
import { Redis, type Cluster } from 'ioredis'

import { backoffDelay, type Backoff } from '../../backoff.js'

/** What to do with what the connection hears. */
export interface WakeupHandlers {
  /** A message arrived on `channel`. */
  readonly onMessage: (channel: string) => void
  /** The channels are subscribed again after the connection was lost and re-established. */
  readonly onReady: () => void
}

/** The delay before each attempt after the connection was lost (the next master each time). */
const RETRY_BACKOFF: Backoff = { first: 100, max: 2000 }
/** The least delay between two attempts, in ms, whatever the jitter draws. */
const RETRY_FLOOR = 50

/** The pub/sub connection of one subscription on a `Cluster` (see the module's comment). */
export class ClusterWakeups {
  readonly #cluster: Cluster
  readonly #handlers: WakeupHandlers
  #channels: string[] = []
  #connection: Redis | null = null
  #retry: NodeJS.Timeout | null = null
  /** Failed attempts since the last subscribed connection. */
  #failures = 0
  /** Which master the next attempt goes to (an index into the cluster's current masters). */
  #next = 0
  #closed = false

  constructor(cluster: Cluster, handlers: WakeupHandlers) {
    this.#cluster = cluster
    this.#handlers = handlers
  }

  /**
   * Subscribes to `channels` on one master; rejects when it cannot (the connection is then closed, and nothing
   * is retried).
   */
  async subscribe(channels: readonly string[]): Promise<void> {
    this.#channels = [...channels]
    const connection = this.#connect()
    try {
      await connection.subscribe(...this.#channels)
    } catch (error) {
      this.#closed = true
      connection.disconnect()
      throw error
    }
    this.#watch(connection)
  }

  /** Closes at once (after a failed start); no attempt follows. */
  disconnect(): void {
    this.#stop()?.disconnect()
  }

  /** Unsubscribes and closes the connection; no attempt follows. */
  async close(): Promise<void> {
    const connection = this.#stop()
    if (connection === null) return
    connection.removeAllListeners('message')
    // A connection still trying its node is dropped: QUIT would wait for the node.
    if (connection.status !== 'ready') {
      connection.disconnect()
      return
    }
    await connection.quit().catch(() => {
      connection.disconnect()
    })
  }

  /** Ends the attempts and hands over the connection (if any) to be closed. */
  #stop(): Redis | null {
    this.#closed = true
    if (this.#retry !== null) clearTimeout(this.#retry)
    this.#retry = null
    const connection = this.#connection
    this.#connection = null
    return connection
  }

  /** A connection to the next master, with no reconnection of its own: this class picks where to go next. */
  #connect(): Redis {
    const masters = this.#cluster.nodes('master')
    const node = masters.length === 0 ? undefined : masters[this.#next % masters.length]
    this.#next += 1
    if (node === undefined) throw new Error('Redis Cluster has no master to subscribe on')
    // The reply shape is the storage's default's (RESP2), whatever the cluster's nodes were given.
    const { replyMapping: _replyMapping, ...nodeOptions } = node.options
    const connection = new Redis({
      ...nodeOptions,
      lazyConnect: false,
      readOnly: false,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      retryStrategy: () => null,
    })
    connection.on('error', () => undefined)
    connection.on('message', (channel: string) => {
      this.#handlers.onMessage(channel)
    })
    this.#connection = connection
    return connection
  }

  /** Once `connection` ends, tries the next master after a delay. */
  #watch(connection: Redis): void {
    connection.once('end', () => {
      if (this.#closed || this.#connection !== connection) return
      this.#connection = null
      this.#retryLater()
    })
  }

  #attempt(): void {
    if (this.#closed) return
    let connection: Redis
    try {
      connection = this.#connect()
    } catch {
      // No master known (the cluster client lost its own connections too): try again later.
      this.#retryLater()
      return
    }
    this.#watch(connection)
    connection.subscribe(...this.#channels).then(
      () => {
        if (this.#closed || this.#connection !== connection) return
        this.#failures = 0
        this.#handlers.onReady()
      },
      () => {
        // The connection ends too, and #watch tries the next master.
        connection.disconnect()
      },
    )
  }

  /** The next attempt, after a delay that grows with each failure since the last subscribed connection. */
  #retryLater(): void {
    const delay = RETRY_FLOOR + backoffDelay(this.#failures, RETRY_BACKOFF)
    this.#failures += 1
    this.#retry = setTimeout(() => {
      this.#retry = null
      this.#attempt()
    }, delay)
  }
}
