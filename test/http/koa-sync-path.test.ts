/**
 * Koa's tokenAuth on MemoryStorage: as Express's, the synchronous fast path (next() before the middleware returns)
 * keeps every guarantee of the promise path: exact use counts under concurrency, one audit event per request,
 * a spy on `authenticate` never bypassed, refusals answered, and failures as rejections, never throws.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import Koa, { type Context, type Next, type ParameterizedContext } from 'koa'

import { TokenStore, type AuditEvent } from '../../src/index.js'
import { requirePolicies, tokenAuth, type TokenState } from '../../src/http/koa.js'
import { call, listen } from './helpers/servers.js'

/** A context as far as tokenAuth reads and answers it, carrying `token` in X-Vault-Token. */
function fakeContext(token: string): FakeContext {
  const sent: Record<string, unknown> = {}
  return {
    headers: { 'x-vault-token': token },
    method: 'GET',
    state: {},
    sent,
    set(headers: Record<string, unknown>) {
      Object.assign(sent, headers)
    },
    remove() {
      return undefined
    },
  } as unknown as FakeContext
}

type FakeContext = ParameterizedContext<TokenState> & { sent: Record<string, unknown> }

test('koa tokenAuth(): on MemoryStorage, next() runs before the middleware returns, with ctx.state.token set', async () => {
  const store = new TokenStore({ timers: false })
  const { clientToken, accessor } = await store.create({ policies: ['app'] })
  const ctx = fakeContext(clientToken)
  let reached = false
  const done: unknown = tokenAuth(store)(ctx, () => {
    reached = true
    return Promise.resolve()
  })
  assert.equal(reached, true)
  assert.ok(done instanceof Promise)
  await done
  assert.equal(ctx.state.token.accessor, accessor)
  await store.close()
})

test('koa tokenAuth(): one audit event per request, out before next(); a bad token is answered 403', async () => {
  const store = new TokenStore({ timers: false })
  const { clientToken, accessor } = await store.create({ policies: ['app'] })
  const audits: AuditEvent[] = []
  store.on('audit', (event) => audits.push(event))
  let atNext = -1
  await tokenAuth(store)(fakeContext(clientToken), () => {
    atNext = audits.length
    return Promise.resolve()
  })
  assert.equal(atNext, 1)
  assert.deepEqual(
    audits.map((event) => [event.operation, event.outcome, event.accessor]),
    [['authenticate', 'ok', accessor]],
  )
  const bad = fakeContext('hvs.nope')
  let nextCalled = false
  await tokenAuth(store)(bad, () => {
    nextCalled = true
    return Promise.resolve()
  })
  assert.equal(nextCalled, false)
  assert.equal(bad.status, 403)
  assert.deepEqual(
    audits.map((event) => event.outcome),
    ['ok', 'error'],
  )
  await store.close()
})

test('koa tokenAuth(): onError is awaited; one that throws, or a next() that rejects, rejects the middleware', async () => {
  const store = new TokenStore({ timers: false })
  const { clientToken } = await store.create({ policies: ['app'] })
  const seen: string[] = []
  const awaited = tokenAuth(store, {
    onError: async (refusal) => {
      await Promise.resolve()
      seen.push(refusal.reason)
    },
  })
  await awaited(fakeContext('hvs.nope'), () => Promise.resolve())
  assert.deepEqual(seen, ['invalid_token'])
  const throwing = tokenAuth(store, {
    onError: () => {
      throw new Error('from onError')
    },
  })
  let pending: Promise<unknown> = Promise.resolve()
  assert.doesNotThrow(() => {
    pending = throwing(fakeContext('hvs.nope'), () => Promise.resolve()) as Promise<unknown>
  })
  await assert.rejects(pending, /from onError/)
  await assert.rejects(
    tokenAuth(store)(fakeContext(clientToken), () =>
      Promise.reject(new Error('downstream')),
    ) as Promise<unknown>,
    /downstream/,
  )
  await store.close()
})

test('koa tokenAuth(): numUses 5 admits exactly 5 of 40 concurrent requests; a spy on authenticate sees each', async (t) => {
  const store = new TokenStore({ timers: false })
  const spy = t.mock.method(store, 'authenticate')
  const app = new Koa()
    .use(tokenAuth(store))
    .use(requirePolicies('app'))
    .use((ctx: Context, next: Next) => {
      ctx.body = { ok: true }
      return next()
    })
  const handle = app.callback()
  const server = await listen((req, res) => {
    void handle(req, res)
  })
  try {
    const { clientToken } = await store.create({ policies: ['app'], numUses: 5 })
    const answers = await Promise.all(
      Array.from({ length: 40 }, () =>
        call(`${server.url}/p`, { headers: { 'x-vault-token': clientToken } }),
      ),
    )
    assert.equal(answers.filter((res) => res.status === 200).length, 5)
    assert.equal(answers.filter((res) => res.status === 403).length, 35)
    assert.equal(spy.mock.callCount(), 40)
    assert.equal(await store.lookup(clientToken), null)
  } finally {
    await server.close()
    await store.close()
  }
})
