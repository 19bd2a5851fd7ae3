/**
 * Graceful shutdown of a token service on Redis or PostgreSQL, behind Express, Koa or node:http: on SIGTERM (or
 * Ctrl-C), stop taking requests, let those under way finish, then close the store, the storage and the driver, in
 * that order, and let the process exit on its own. No revocation that a client was told succeeded, nor any
 * `revoked` event of it, is lost.
 *
 * Run: STORAGE=redis FRAMEWORK=express npx tsx examples/graceful-shutdown.ts
 *      STORAGE=postgres FRAMEWORK=koa DATABASE_URL=postgres://... npx tsx examples/graceful-shutdown.ts
 *
 * Env: STORAGE (redis | postgres), FRAMEWORK (express | koa | node), PORT (default 3000; 0 picks one),
 * REDIS_URL, DATABASE_URL, NAMESPACE (Redis key prefix or PostgreSQL schema), TOKENTREE_SECRET (the same in every
 * instance), REVOCATION_LOG (a file each `revoked` event is appended to, as one JSON line).
 *
 * Routes: `POST /logout` revokes the caller's token (`X-Vault-Token`) and every token under it; `GET /whoami`.
 */
import { writeSync, openSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

import express from 'express'
import Koa from 'koa'
import { TokenStore, TokenStoreError, closeGracefully, type Storage } from 'tokentree'
import * as expressMiddleware from 'tokentree/express'
import * as koaMiddleware from 'tokentree/koa'

const storageKind = process.env.STORAGE ?? 'redis'
const framework = process.env.FRAMEWORK ?? 'express'
const secret = process.env.TOKENTREE_SECRET ?? 'change me: the same secret in every instance'

// The storage and, separately, the driver it runs on: both are closed at shutdown, the driver last.
let storage: Storage
let closeDriver: () => Promise<unknown>
if (storageKind === 'redis') {
  const { Redis } = await import('ioredis')
  const { RedisStorage } = await import('tokentree/redis')
  // Fail fast while Redis is down, and never send a script twice (docs/storage.md, "Storage down").
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
    maxRetriesPerRequest: 1,
    commandTimeout: 2000,
    autoResendUnfulfilledCommands: false,
  })
  storage = new RedisStorage({ client: redis, keyPrefix: process.env.NAMESPACE ?? 'tokentree:' })
  // quit() sends QUIT after the commands already queued and waits for their replies; disconnect() would not.
  closeDriver = () => redis.quit()
} else {
  const { default: pg } = await import('pg')
  const { PostgresStorage, migrate } = await import('tokentree/postgres')
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
  const schema = process.env.NAMESPACE ?? 'tokentree'
  await migrate(pool, { schema })
  storage = new PostgresStorage({ pool, schema })
  // end() waits for the clients checked out to be released, then closes every connection.
  closeDriver = () => pool.end()
}

const store = new TokenStore({ storage, secret })
await store.ready()

// Each revocation, in this process or (through the shared storage) another, as a JSON line. Written
// synchronously: a listener runs while the store emits, so the line is on disk before the operation resolves.
const log = process.env.REVOCATION_LOG
if (log !== undefined) {
  const fd = openSync(log, 'a')
  store.on('revoked', (event) => {
    writeSync(
      fd,
      `${JSON.stringify({ kind: event.kind, accessor: event.accessor, reason: event.reason })}\n`,
    )
  })
}

/** The HTTP server, built by the framework chosen. Each one serves the same two routes. */
function buildServer(): Server {
  if (framework === 'express') {
    const { tokenAuth, tokenErrorHandler } = expressMiddleware
    const app = express()
    app.get('/whoami', tokenAuth(store, { spendUse: false }), (req, res) => {
      res.json({ accessor: req.token?.accessor })
    })
    app.post('/logout', tokenAuth(store, { spendUse: false }), async (req, res) => {
      await store.revoke(req.get('x-vault-token') ?? '')
      res.status(204).end()
    })
    app.use(tokenErrorHandler())
    return createServer(app)
  }
  if (framework === 'koa') {
    const { tokenAuth, tokenErrorHandler } = koaMiddleware
    const app = new Koa()
      .use(tokenErrorHandler())
      .use(tokenAuth(store, { spendUse: false }))
      .use(async (ctx) => {
        if (ctx.method === 'POST' && ctx.path === '/logout') {
          await store.revoke(ctx.get('x-vault-token'))
          ctx.status = 204
        } else if (ctx.path === '/whoami') ctx.body = { accessor: ctx.state.token.accessor }
      })
    const handle = app.callback()
    return createServer((req, res) => void handle(req, res))
  }
  return createServer((req, res) => {
    const token = req.headers['x-vault-token']
    const answer = (status: number, body?: unknown): void => {
      res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' })
      res.end(body === undefined ? undefined : JSON.stringify(body))
    }
    const handle = async (): Promise<void> => {
      const info = typeof token === 'string' ? await store.lookup(token) : null
      if (info === null || typeof token !== 'string') {
        answer(403, { errors: ['permission denied'] })
      } else if (req.method === 'POST' && req.url === '/logout') {
        await store.revoke(token)
        answer(204)
      } else if (req.url === '/whoami') answer(200, { accessor: info.accessor })
      else answer(404, { errors: [] })
    }
    handle().catch((error: unknown) => {
      answer(error instanceof TokenStoreError && error.code === 'storage_unavailable' ? 503 : 500, {
        errors: ['internal error'],
      })
    })
  })
}

const server = buildServer()
await new Promise<void>((resolve) =>
  server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', resolve),
)
console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`)

// One shutdown for SIGTERM (the orchestrator) and SIGINT (Ctrl-C): a second signal joins the first, rather than
// killing the process half-way (which a `process.once` listener would let the default handler do).
const shutdown = (signal: NodeJS.Signals): void => {
  console.log(`${signal}: closing`)
  closeGracefully({ server, store, storage, drivers: [closeDriver], timeoutMs: 10_000 }).then(
    // No process.exit(): once everything is closed nothing holds the event loop, and the process exits with
    // code 0. If it does not, something still runs (a timer, a socket): that is a leak to find, not to hide.
    (result) => {
      console.log(result.connectionsCut ? 'closed (connections cut at the timeout)' : 'closed')
    },
    (error: unknown) => {
      console.error('shutdown failed', error)
      process.exitCode = 1
    },
  )
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
