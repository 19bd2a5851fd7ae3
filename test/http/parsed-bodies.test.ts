/**
 * `vaultRouter` behind a body parser, on Express and Koa: what the parser produced is used only if it read the
 * request's stream. Parsers set `{}` for a content type they do not handle without reading it (koa-bodyparser,
 * Express 4's body-parser); taking that `{}` dropped the request's fields (`num_uses`, `ttl`) from a token creation.
 */
import assert from 'node:assert/strict'
import type { RequestListener } from 'node:http'
import { test } from 'node:test'

import express from 'express'
import Koa from 'koa'

import { TokenStore } from '../../src/index.js'
import { vaultRouter as expressVaultRouter } from '../../src/http/express.js'
import { vaultRouter as koaVaultRouter } from '../../src/http/koa.js'
import { call, listen } from './helpers/servers.js'

/** A parser that handles no content type it is sent, and leaves `{}` behind without reading the stream. */
const APPS: Record<string, (store: TokenStore) => RequestListener> = {
  express: (store) => {
    const app = express()
    app.use((req, _res, next) => {
      req.body ??= {}
      next()
    })
    app.use(expressVaultRouter(store))
    return app
  },
  'express with express.text()': (store) => {
    const app = express()
    app.use(express.text({ type: '*/*' }))
    app.use(expressVaultRouter(store))
    return app
  },
  koa: (store) => {
    const app = new Koa()
    app.use(async (ctx, next) => {
      ;(ctx.request as { body?: unknown }).body = {}
      await next()
    })
    app.use(koaVaultRouter(store))
    const handle = app.callback()
    return (req, res) => {
      void handle(req, res)
    }
  },
}

for (const [name, makeApp] of Object.entries(APPS)) {
  test(`vaultRouter on ${name}: a body a parser did not read is read, its fields kept`, async () => {
    const store = new TokenStore()
    const root = (await store.createRoot()).clientToken
    const server = await listen(makeApp(store))
    try {
      for (const contentType of ['text/plain', 'application/octet-stream', undefined]) {
        const created = await call(`${server.url}/v1/auth/token/create`, {
          method: 'POST',
          token: root,
          raw: JSON.stringify({ policies: ['app'], ttl: '1m', num_uses: 1 }),
          headers: contentType === undefined ? {} : { 'content-type': contentType },
        })
        assert.equal(created.status, 200, created.text)
        const auth = (
          created.json as { auth: { policies: string[]; lease_duration: number; num_uses: number } }
        ).auth
        assert.deepEqual(auth.policies, ['app', 'default'], String(contentType))
        assert.equal(auth.lease_duration, 60)
        assert.equal(auth.num_uses, 1)
      }
    } finally {
      await server.close()
      await store.close()
    }
  })
}

/** Runs `run` against `vaultRouter` on Express behind the middleware `before`, with a root token. */
async function withExpressApi(
  before: express.RequestHandler,
  run: (url: string, root: string) => Promise<void>,
): Promise<void> {
  const store = new TokenStore()
  const root = (await store.createRoot()).clientToken
  const app = express()
  app.use(before, expressVaultRouter(store))
  const server = await listen(app)
  try {
    await run(server.url, root)
  } finally {
    await server.close()
    await store.close()
  }
}

test('vaultRouter: a body read by a middleware that handed nothing on is refused (400), never taken as empty', async () => {
  // Reads the first chunk, keeps it, hands on.
  const firstChunk: express.RequestHandler = (req, _res, next) => {
    req.once('data', () => {
      req.pause()
      next()
    })
  }
  await withExpressApi(firstChunk, async (url, root) => {
    const created = await call(`${url}/v1/auth/token/create`, {
      method: 'POST',
      token: root,
      raw: JSON.stringify({ policies: ['app'], num_uses: 1 }),
    })
    assert.equal(created.status, 400, created.text)
    assert.match(created.text, /read before the Vault API/)
  })
})

test('vaultRouter: a body a middleware paused is still read', async () => {
  const pause: express.RequestHandler = (req, _res, next) => {
    req.pause()
    next()
  }
  await withExpressApi(pause, async (url, root) => {
    const created = await call(`${url}/v1/auth/token/create`, {
      method: 'POST',
      token: root,
      raw: JSON.stringify({ policies: ['app'], num_uses: 2 }),
    })
    assert.equal(created.status, 200, created.text)
    assert.equal((created.json as { auth: { num_uses: number } }).auth.num_uses, 2)
  })
})
