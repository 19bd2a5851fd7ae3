/**
 * tokenAuth on MemoryStorage: the synchronous fast path (next() in the same tick, no promise hop) keeps every
 * guarantee of the promise path: exact use counts under concurrency, one audit event per request, traces in order,
 * and nothing that wraps the store or the storage (a spy, a subclass, a proxy) is bypassed.
 */
import assert from 'node:assert/strict'
import { tracingChannel } from 'node:diagnostics_channel'
import { test } from 'node:test'

import express, { type Request, type Response } from 'express'

import { MemoryStorage, TokenStore, type AuditEvent } from '../../src/index.js'
import { requirePolicies, tokenAuth } from '../../src/http/express.js'
import type { HashedTokenId, TokenRecord, UnixMillis } from '../../src/types.js'
import { call, listen } from './helpers/servers.js'

/** A request as far as tokenAuth reads it, carrying `token` in X-Vault-Token. */
function fakeRequest(token: string): Request {
  return { headers: { 'x-vault-token': token }, method: 'GET' } as unknown as Request
}

/** A response that calls `onEnd` with the status it is answered with (only refusals are answered here). */
function fakeResponse(req: Request, onEnd: (status: number) => void = () => undefined): Response {
  let status = 0
  return {
    req,
    headersSent: false,
    writeHead(code: number) {
      status = code
    },
    end() {
      onEnd(status)
    },
  } as unknown as Response
}

/**
 * Runs tokenAuth then requirePolicies('app') on a fake request. `sync`: the route was reached before this returned;
 * `reached`: whether it was reached at all (false once the request is answered with a refusal).
 */
function passes(store: TokenStore, token: string): { sync: boolean; reached: Promise<boolean> } {
  const req = fakeRequest(token)
  let reachedNow = false
  const reached = new Promise<boolean>((resolve, reject) => {
    const res = fakeResponse(req, () => {
      resolve(false)
    })
    const fail = (error: unknown): void => {
      reject(error instanceof Error ? error : new Error(String(error)))
    }
    tokenAuth(store)(req, res, (error?: unknown) => {
      if (error !== undefined) fail(error)
      else {
        void requirePolicies('app')(req, res, (denied?: unknown) => {
          if (denied !== undefined) fail(denied)
          else {
            reachedNow = true
            resolve(true)
          }
        })
      }
    })
  })
  return { sync: reachedNow, reached }
}

test('tokenAuth(): on MemoryStorage, next() runs before the middleware returns, with req.token set', async () => {
  const store = new TokenStore({ timers: false })
  const { clientToken, accessor } = await store.create({ policies: ['app'] })
  const req = fakeRequest(clientToken)
  let calledWith: unknown = 'not called'
  void tokenAuth(store)(req, fakeResponse(req), (error?: unknown) => {
    calledWith = error
  })
  assert.equal(calledWith, undefined)
  assert.equal(req.token?.accessor, accessor)
  await store.close()
})

test('tokenAuth(): a token with numUses 5 admits exactly 5 of 40 requests, through the fast path and over HTTP', async () => {
  const store = new TokenStore({ timers: false })
  // In one tick, straight through the middleware: each use is counted before the next request starts.
  const direct = await store.create({ policies: ['app'], numUses: 5 })
  const runs = Array.from({ length: 40 }, () => passes(store, direct.clientToken))
  assert.equal(
    runs.filter((run) => run.sync).length,
    4,
    'the last use revokes the token: that one waits',
  )
  assert.equal((await Promise.all(runs.map((run) => run.reached))).filter(Boolean).length, 5)

  // Concurrent requests through a real Express app.
  const app = express()
  app.get('/p', tokenAuth(store), requirePolicies('app'), (_req, res) => {
    res.json({ ok: true })
  })
  const server = await listen(app)
  try {
    const overHttp = await store.create({ policies: ['app'], numUses: 5 })
    const answers = await Promise.all(
      Array.from({ length: 40 }, () =>
        call(`${server.url}/p`, { headers: { 'x-vault-token': overHttp.clientToken } }),
      ),
    )
    assert.equal(answers.filter((res) => res.status === 200).length, 5)
    assert.equal(answers.filter((res) => res.status === 403).length, 35)
    assert.equal(await store.lookup(overHttp.clientToken), null)
  } finally {
    await server.close()
    await store.close()
  }
})

test('tokenAuth(): the fast path emits one audit event per request, before next(), and revoked for a last use', async () => {
  const store = new TokenStore({ timers: false })
  const { clientToken, accessor } = await store.create({ policies: ['app'], numUses: 2 })
  const audits: AuditEvent[] = []
  const revoked: string[] = []
  store.on('audit', (event) => audits.push(event))
  store.on('revoked', (event) => {
    if (event.kind === 'token') revoked.push(event.accessor)
  })
  const req = fakeRequest(clientToken)
  let eventsAtNext = -1
  void tokenAuth(store)(req, fakeResponse(req), () => {
    eventsAtNext = audits.length
  })
  assert.equal(eventsAtNext, 1)
  assert.deepEqual(
    audits.map((event) => [event.operation, event.outcome, event.accessor]),
    [['authenticate', 'ok', accessor]],
  )
  assert.equal(await passes(store, clientToken).reached, true) // the last use
  assert.equal(await passes(store, clientToken).reached, false) // used up
  assert.deepEqual(
    audits.map((event) => event.outcome),
    ['ok', 'ok', 'error'],
  )
  assert.deepEqual(revoked, [accessor])
  await store.close()
})

test('tokenAuth(): a traced authenticate publishes start, end, asyncStart, asyncEnd in order on the fast path', async () => {
  const store = new TokenStore({ timers: false })
  const { clientToken } = await store.create({ policies: ['app'] })
  const seen: string[] = []
  const handlers = {
    start: () => seen.push('start'),
    end: () => seen.push('end'),
    asyncStart: () => seen.push('asyncStart'),
    asyncEnd: () => seen.push('asyncEnd'),
    error: () => seen.push('error'),
  }
  const channel = tracingChannel('tokentree:authenticate')
  channel.subscribe(handlers)
  try {
    const req = fakeRequest(clientToken)
    void tokenAuth(store)(req, fakeResponse(req), () => seen.push('next'))
    assert.deepEqual(seen, ['start', 'end', 'asyncStart', 'asyncEnd', 'next'])
  } finally {
    channel.unsubscribe(handlers)
    await store.close()
  }
})

test('tokenAuth(): a spy on store.authenticate is called once per request (the fast path never bypasses it)', async (t) => {
  const store = new TokenStore({ timers: false })
  const { clientToken } = await store.create({ policies: ['app'] })
  const spy = t.mock.method(store, 'authenticate')
  assert.equal(await passes(store, clientToken).reached, true)
  assert.equal(await passes(store, clientToken).reached, true)
  assert.equal(spy.mock.callCount(), 2)
  await store.close()
})

test('tokenAuth(): a wrapped or overridden MemoryStorage.useToken is always called', async () => {
  let calls = 0
  class CountingStorage extends MemoryStorage {
    override async useToken(id: HashedTokenId, now: UnixMillis): Promise<TokenRecord | null> {
      calls += 1
      return super.useToken(id, now)
    }
  }
  const proxied = new MemoryStorage()
  const proxy = new Proxy(proxied, {
    get(target, key, receiver) {
      if (key === 'useToken') {
        return (id: HashedTokenId, now: UnixMillis) => {
          calls += 1
          return target.useToken(id, now)
        }
      }
      const value: unknown = Reflect.get(target, key, receiver)
      // Methods run on the real storage: its private fields are not the proxy's.
      return typeof value === 'function' ? (value.bind(target) as unknown) : value
    },
  })
  const patched = new MemoryStorage()
  const own = patched.useToken.bind(patched)
  patched.useToken = (id, now) => {
    calls += 1
    return own(id, now)
  }
  for (const storage of [new CountingStorage(), proxy, patched]) {
    const store = new TokenStore({ storage, timers: false })
    const { clientToken } = await store.create({ policies: ['app'], numUses: 3 })
    calls = 0
    const results = await Promise.all(
      Array.from({ length: 5 }, () => passes(store, clientToken).reached),
    )
    assert.equal(calls, 5)
    assert.equal(results.filter(Boolean).length, 3)
    await store.close()
  }
})

test('authenticate(): still a promise on MemoryStorage, rejecting (never throwing) for bad input or a bad token', async () => {
  const store = new TokenStore({ timers: false })
  const { clientToken } = await store.create()
  const ok = store.authenticate(clientToken)
  assert.ok(ok instanceof Promise)
  assert.equal((await ok).policies.includes('default'), true)
  let pending: Promise<unknown> | undefined
  assert.doesNotThrow(() => {
    pending = store.authenticate(42 as unknown as string)
  })
  await assert.rejects(pending as Promise<unknown>, { code: 'invalid_request' })
  await assert.rejects(store.authenticate('hvs.nope'), { code: 'invalid_token' })
  await store.close()
})
