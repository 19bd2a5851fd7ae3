/**
 * What `req.token` is, as code written against the docs sees it: an own, enumerable, writable data property set by
 * tokenAuth, which requirePolicies reads afresh. Pinned because the cheapest ways to attach it in Express 5 (a getter
 * on `app.request`, a side table read by requirePolicies) would change exactly this: every Express 5 request has a
 * hidden class of its own, so adding `token` costs a new one per request, and it is tempting to avoid.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import express, { type ErrorRequestHandler, type RequestHandler } from 'express'

import { MemoryStorage, TokenStore } from '../../src/index.js'
import { requireCapability, requirePolicies, tokenAuth } from '../../src/http/express.js'
import { overrideStorage } from '../helpers/storage.js'
import { call, listen, type Running } from './helpers/servers.js'

const store = new TokenStore()
let server: Running
let token: string

/** Answers how `req.token` looks on the request it reached. */
const describeToken: RequestHandler = (req, res) => {
  const descriptor = Object.getOwnPropertyDescriptor(req, 'token')
  res.json({
    own: descriptor !== undefined,
    enumerable: descriptor?.enumerable ?? null,
    writable: descriptor?.writable ?? null,
    configurable: descriptor?.configurable ?? null,
    getter: descriptor?.get !== undefined,
    listed: Object.keys(req).includes('token'),
    inReq: 'token' in req,
    accessor: req.token?.accessor ?? null,
  })
}

/** Answers every own key of the request it reached (strings and symbols, in order), but `token`'s value. */
const listOwnKeys: RequestHandler = (req, res) => {
  res.json(
    Reflect.ownKeys(req).map((key) =>
      typeof key === 'symbol' ? `symbol:${key.description ?? ''}` : key,
    ),
  )
}

before(async () => {
  token = (await store.create({ policies: ['app'] })).clientToken
  const app = express()
  app.get('/with', tokenAuth(store), describeToken)
  app.get('/without', describeToken)
  app.get('/keys/with', tokenAuth(store), listOwnKeys)
  app.get('/keys/without', listOwnKeys)
  app.get(
    '/deleted',
    tokenAuth(store),
    (req, _res, next) => {
      delete req.token
      next()
    },
    requirePolicies('app'),
    describeToken,
  )
  app.get(
    '/replaced',
    tokenAuth(store),
    (req, _res, next) => {
      if (req.token) req.token = { ...req.token, policies: ['other'] }
      next()
    },
    requirePolicies('app'),
    describeToken,
  )
  app.get(
    '/mangled',
    tokenAuth(store),
    (req, _res, next) => {
      // Host code that writes a string where the list belongs: `'rootless'.includes('root')` is true.
      if (req.token) req.token = { ...req.token, policies: 'rootless' as unknown as string[] }
      next()
    },
    requirePolicies('app'),
    describeToken,
  )
  server = await listen(app)
})

after(async () => {
  await server.close()
  await store.close()
})

test('tokenAuth(): req.token is an own, enumerable, writable, configurable data property', async () => {
  const { status, json } = await call(`${server.url}/with`, { token })
  assert.equal(status, 200)
  const info = await store.lookup(token)
  assert.deepEqual(json, {
    own: true,
    enumerable: true,
    writable: true,
    configurable: true,
    getter: false,
    listed: true,
    inReq: true,
    accessor: info?.accessor,
  })
})

test('tokenAuth(): a route without it has no `token` on req at all', async () => {
  const { status, json } = await call(`${server.url}/without`, { token })
  assert.equal(status, 200)
  assert.deepEqual(json, {
    own: false,
    enumerable: null,
    writable: null,
    configurable: null,
    getter: false,
    listed: false,
    inReq: false,
    accessor: null,
  })
})

test('tokenAuth(): req gains `token` as its last own key, and nothing else (no key of its own left behind)', async () => {
  // tokenAuth switches the request to dictionary mode with a scratch symbol it deletes (src/http/request-token.ts).
  const withToken = await call(`${server.url}/keys/with`, { token })
  const without = await call(`${server.url}/keys/without`, { token })
  assert.equal(withToken.status, 200)
  // Reflect.ownKeys lists string keys in the order they were added, then symbols.
  const keys = without.json as string[]
  const strings = keys.filter((key) => !key.startsWith('symbol:'))
  const symbols = keys.filter((key) => key.startsWith('symbol:'))
  assert.deepEqual(withToken.json, [...strings, 'token', ...symbols])
})

test('requirePolicies(): a req.token deleted after tokenAuth is gone (401)', async () => {
  const { status } = await call(`${server.url}/deleted`, { token })
  assert.equal(status, 401)
})

test('requirePolicies(): a req.token replaced after tokenAuth is the one checked (403)', async () => {
  const { status } = await call(`${server.url}/replaced`, { token })
  assert.equal(status, 403)
})

test('requirePolicies(): a req.token whose policies are not a list is refused (403), not read as one', async () => {
  const { status } = await call(`${server.url}/mangled`, { token })
  assert.equal(status, 403)
})

test('a host whose request prototype makes `token` read-only gets the error in its handler, on an async storage too', async () => {
  // A storage behind a Proxy has no synchronous path: the middleware settles in a promise callback.
  const asyncStore = new TokenStore({ storage: overrideStorage(new MemoryStorage(), {}) })
  await asyncStore.policies.write('app', 'path "*" { capabilities = ["read"] }')
  const held = (await asyncStore.create({ policies: ['app'] })).clientToken
  const app = express()
  Object.defineProperty(app.request, 'token', { configurable: true, get: () => undefined })
  const reached: RequestHandler = (_req, res) => {
    res.send('reached')
  }
  app.get('/auth', tokenAuth(asyncStore), reached)
  app.get('/capability', requireCapability(asyncStore), reached)
  app.use(((error: Error, req, res, _next) => {
    const leftover = Object.getOwnPropertySymbols(req).map((key) => key.description)
    res
      .status(500)
      .send(
        `handled: ${error.name}; own symbols of ours: ${leftover.filter((name) => name?.startsWith('tokentree')).length}`,
      )
  }) as ErrorRequestHandler)
  const running = await listen(app)
  try {
    for (const path of ['/auth', '/capability']) {
      const { status, text } = await call(`${running.url}${path}`, { token: held })
      assert.equal(status, 500, path)
      assert.equal(text, 'handled: TypeError; own symbols of ours: 0', path)
    }
  } finally {
    await running.close()
    await asyncStore.close()
  }
})
