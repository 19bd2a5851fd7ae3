/**
 * Graceful shutdown: close the HTTP server, then the store, then the storage, then the drivers, in that order,
 * so that every revocation a request or a sweep began is finished and reported before its storage goes away.
 *
 * @packageDocumentation
 */
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http'
import type { Server as HttpsServer } from 'node:https'

import { invalidRequest } from './errors.js'
import type { Storage } from './storage/storage.js'
import type { TokenStore } from './token-store.js'

/** How long {@link closeGracefully} lets in-flight requests run by default before it cuts their connections. */
export const DEFAULT_SHUTDOWN_TIMEOUT = 10_000

/**
 * How often idle keep-alive connections are closed while in-flight requests finish: a connection whose request
 * was answered after `server.close()` would otherwise stay open until its keep-alive timeout (5 s by default).
 */
const IDLE_SWEEP_INTERVAL = 50

/** What to close, in the order {@link closeGracefully} closes it. */
export interface CloseGracefullyOptions {
  /**
   * The HTTP(S) server in front of the store, as `app.listen()` (Express, Koa) or `http.createServer()` returns
   * it. Closed first: it stops accepting connections, and the requests under way finish.
   */
  readonly server?: HttpServer | HttpsServer
  /** The store: closed once no request is left (see {@link TokenStore.close}). */
  readonly store: TokenStore
  /**
   * The storage the store was given, if it has a `close` (Redis and PostgreSQL do: it stops their subscriptions,
   * and a `RedisStorage` that opened its own connection quits it). Closed after the store.
   */
  readonly storage?: Storage | { close(): Promise<void> }
  /**
   * The drivers' own shutdowns, run last, one after the other: `() => redis.quit()` for an ioredis client you
   * passed in (`quit` waits for replies still due, `disconnect` does not), `() => pool.end()` for a pg pool.
   */
  readonly drivers?: ReadonlyArray<() => unknown>
  /**
   * How long in-flight requests may run after the server stops accepting connections, in milliseconds. Then their
   * connections are cut (`closeAllConnections()`); their handlers still run to the end, and the store waits for
   * the operations they started, so no revocation is cut half-way by this timeout.
   * @default 10_000
   */
  readonly timeoutMs?: number
}

/** What {@link closeGracefully} had to do. */
export interface CloseGracefullyResult {
  /** `true` when requests were still running at `timeoutMs`, and their connections were cut. */
  readonly connectionsCut: boolean
}

/** One shutdown per store: a second signal (SIGINT after SIGTERM) joins the first. */
const SHUTDOWNS = new WeakMap<TokenStore, Promise<CloseGracefullyResult>>()

/**
 * Shuts a service down without losing a revocation or its `revoked` event: closes the HTTP server (no new
 * connections; requests under way finish, within `timeoutMs`), then awaits `store.close()` (the expiry timer and
 * the subscription stop, and every operation under way settles, so each revocation it finishes has emitted its
 * events), then `storage.close()`, then each driver. Each step needs the ones after it: a request revokes through
 * the store, the store through the storage, the storage through the driver.
 *
 * Every step runs even when one before it failed; the first failure is then thrown. Timers it starts are cleared,
 * so the process can exit on its own once it resolves. Calling it again for the same store returns the same
 * promise.
 *
 * @throws {@link TokenStoreError} `invalid_request` (before closing anything) when `timeoutMs` is not a
 * non-negative finite number or `drivers` is not an array of functions.
 * @example Express on Redis, on SIGTERM and SIGINT
 * ```ts
 * import express from 'express'
 * import { Redis } from 'ioredis'
 * import { TokenStore, closeGracefully } from 'tokentree'
 * import { tokenAuth } from 'tokentree/express'
 * import { RedisStorage } from 'tokentree/redis'
 *
 * const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
 *   maxRetriesPerRequest: 1,
 *   commandTimeout: 2000,
 *   autoResendUnfulfilledCommands: false,
 * })
 * const storage = new RedisStorage({ client: redis })
 * const store = new TokenStore({ storage, secret: process.env.TOKENTREE_SECRET ?? '' })
 * const app = express()
 * app.get('/me', tokenAuth(store), (req, res) => res.json({ accessor: req.token?.accessor }))
 * const server = app.listen(3000)
 *
 * const shutdown = (): void => {
 *   closeGracefully({ server, store, storage, drivers: [() => redis.quit()] }).catch((error: unknown) => {
 *     console.error(error)
 *     process.exitCode = 1
 *   })
 * }
 * process.on('SIGTERM', shutdown) // `on`, not `once`: a second signal joins the shutdown under way
 * process.on('SIGINT', shutdown)
 * ```
 */
export function closeGracefully(options: CloseGracefullyOptions): Promise<CloseGracefullyResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
    return Promise.reject(
      invalidRequest('Expected `timeoutMs` to be a non-negative finite number of milliseconds'),
    )
  }
  const drivers = options.drivers ?? []
  if (!Array.isArray(drivers) || !drivers.every((driver) => typeof driver === 'function')) {
    return Promise.reject(
      invalidRequest('Expected `drivers` to be an array of functions, such as () => pool.end()'),
    )
  }
  const running = SHUTDOWNS.get(options.store)
  if (running !== undefined) return running
  const shutdown = run(options, timeoutMs, drivers)
  SHUTDOWNS.set(options.store, shutdown)
  return shutdown
}

async function run(
  options: CloseGracefullyOptions,
  timeoutMs: number,
  drivers: ReadonlyArray<() => unknown>,
): Promise<CloseGracefullyResult> {
  const failures: unknown[] = []
  const step = async (close: () => unknown): Promise<void> => {
    try {
      await close()
    } catch (error) {
      failures.push(error)
    }
  }
  let connectionsCut = false
  if (options.server !== undefined) {
    const server = options.server
    await step(async () => {
      connectionsCut = await closeServer(server, timeoutMs)
    })
  }
  await step(() => options.store.close())
  const storage = options.storage
  if (storage?.close !== undefined) await step(() => storage.close?.())
  for (const driver of drivers) await step(driver)
  if (failures.length > 0) throw failures[0]
  return { connectionsCut }
}

/**
 * Stops accepting connections and resolves once every connection has closed: `true` if some had to be cut at
 * `timeoutMs`. Requests arriving on a kept-alive connection meanwhile are still served, with `Connection: close`.
 */
function closeServer(server: HttpServer | HttpsServer, timeoutMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    let cut = false
    const closeAfterAnswer = (_request: IncomingMessage, response: ServerResponse): void => {
      if (!response.headersSent) response.setHeader('connection', 'close')
    }
    server.prependListener('request', closeAfterAnswer)
    const idle = setInterval(() => {
      server.closeIdleConnections()
    }, IDLE_SWEEP_INTERVAL)
    idle.unref()
    const deadline = setTimeout(() => {
      cut = true
      server.closeAllConnections()
    }, timeoutMs)
    deadline.unref()
    server.close((error) => {
      clearInterval(idle)
      clearTimeout(deadline)
      server.off('request', closeAfterAnswer)
      // A server that was not listening has nothing to drain.
      if (
        error !== undefined &&
        (error as NodeJS.ErrnoException).code !== 'ERR_SERVER_NOT_RUNNING'
      ) {
        reject(error)
      } else resolve(cut)
    })
  })
}
