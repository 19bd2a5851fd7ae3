/**
 * Keeps a dropped PostgreSQL connection from ending the process.
 *
 * pg's pool listens for `error` only on the connections it holds idle. One the server drops while it is checked
 * out (a terminated backend, a failed network) emits `error` with no listener, which Node turns into an uncaught
 * exception; pg-pool's own `pool.query` leaves such windows too. Seen here: six runs of `pg_terminate_backend`
 * against a busy store, six crashed processes. So every connection the pool hands out gets a listener of ours,
 * once. The failure still reaches the statement that was running, which rejects (the storage then reports
 * `storage_unavailable`), and the pool still reports errors on idle connections through its own `error` event.
 *
 * @packageDocumentation
 */

/** A pool that says when it hands a connection out (pg's `acquire` event). */
interface AcquiringPool {
  on(event: 'acquire', listener: (connection: ErrorEmitter) => void): unknown
}

/** A connection that may emit `error`. */
interface ErrorEmitter {
  on(event: 'error', listener: (error: Error) => void): unknown
}

/** The pools already guarded: two storages on one pool add one `acquire` listener between them. */
const guardedPools = new WeakSet()

/** The error of a connection whose statement is told of it anyway: nothing more to do with it here. */
function ignoreDroppedConnection(): void {}

/**
 * Gives every connection `pool` hands out from now on an `error` listener, once. Does nothing for a database
 * that is not an event emitter (PGlite).
 */
export function guardDroppedConnections(pool: object): void {
  if (typeof (pool as Partial<AcquiringPool>).on !== 'function' || guardedPools.has(pool)) return
  guardedPools.add(pool)
  const guarded = new WeakSet()
  ;(pool as AcquiringPool).on('acquire', (connection) => {
    if (guarded.has(connection)) return
    guarded.add(connection)
    connection.on('error', ignoreDroppedConnection)
  })
}
