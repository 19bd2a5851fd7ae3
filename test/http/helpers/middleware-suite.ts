/**
 * The behaviour every `tokenAuth` / `requirePolicies` adapter must show, run by express.test.ts and koa.test.ts
 * against their framework (keyv's shared-suite style).
 */
import assert from 'node:assert/strict'
import type { RequestListener } from 'node:http'
import { test } from 'node:test'

import { TokenStore } from '../../../src/index.js'
import type { TokenAuthOptions } from '../../../src/http/guard.js'
import { call, listen } from './servers.js'

/** What an adapter's test app serves. */
export interface AppSpec {
  /** Options of `tokenAuth`; `false` leaves it out. */
  readonly auth: TokenAuthOptions | false
  /** `requirePolicies(...policies)` after `tokenAuth`, when given. */
  readonly policies?: readonly string[]
}

/**
 * Builds an app answering `GET /whoami` with `{ accessor, policies, numUses }` of the attached token (all `null`
 * without one).
 */
export type AppFactory = (store: TokenStore, spec: AppSpec) => RequestListener

interface WhoAmI {
  accessor: string | null
  policies: string[] | null
  numUses: number | null
}

/** Runs the middleware suite for one framework. */
export function runMiddlewareSuite(name: string, makeApp: AppFactory): void {
  async function withApp(
    spec: AppSpec,
    run: (url: string, store: TokenStore) => Promise<void>,
  ): Promise<void> {
    const store = new TokenStore()
    const server = await listen(makeApp(store, spec))
    try {
      await run(`${server.url}/whoami`, store)
    } finally {
      await server.close()
    }
  }

  for (const [source, headers] of [
    ['X-Vault-Token', (t: string) => ({ 'x-vault-token': t })],
    ['Authorization: Bearer', (t: string) => ({ authorization: `Bearer ${t}` })],
    ['the token cookie', (t: string) => ({ cookie: `theme=dark; token=${encodeURIComponent(t)}` })],
  ] as const) {
    test(`${name} tokenAuth(): reads the token from ${source} and attaches its TokenInfo`, async () => {
      await withApp({ auth: {} }, async (url, store) => {
        const auth = await store.create({ policies: ['reader'] })
        const res = await call(url, { headers: headers(auth.clientToken) })
        assert.equal(res.status, 200)
        const body = res.json as WhoAmI
        assert.equal(body.accessor, auth.accessor)
        assert.deepEqual(body.policies, ['default', 'reader'])
      })
    })
  }

  test(`${name} tokenAuth(): no token is 401 with a Bearer challenge and Vault's error body`, async () => {
    await withApp({ auth: {} }, async (url) => {
      for (const headers of [
        {},
        { authorization: 'Basic dXNlcjpwYXNz' },
        { 'x-vault-token': '  ' },
      ]) {
        const res = await call(url, { headers })
        assert.equal(res.status, 401)
        assert.equal(res.headers.get('www-authenticate'), 'Bearer')
        assert.deepEqual(res.json, { errors: ['missing client token'] })
      }
    })
  })

  test(`${name} tokenAuth(): a bad token is 403 and the answer never echoes it`, async () => {
    await withApp({ auth: {} }, async (url, store) => {
      const revoked = await store.create({})
      await store.revoke(revoked.clientToken)
      for (const token of [
        'hvs.not-a-real-token-0123456789',
        revoked.clientToken,
        'x'.repeat(5000),
      ]) {
        const res = await call(url, { headers: { authorization: `Bearer ${token}` } })
        assert.equal(res.status, 403)
        assert.deepEqual(res.json, { errors: ['permission denied'] })
        assert.ok(!res.text.includes(token.slice(0, 20)))
      }
    })
  })

  test(`${name} tokenAuth(): each request spends exactly one use`, async () => {
    await withApp({ auth: {} }, async (url, store) => {
      const auth = await store.create({ numUses: 2 })
      const first = await call(url, { token: auth.clientToken })
      assert.equal((first.json as WhoAmI).numUses, 1)
      assert.equal((await call(url, { token: auth.clientToken })).status, 200)
      assert.equal((await call(url, { token: auth.clientToken })).status, 403)
      assert.equal(await store.lookup(auth.clientToken), null)
    })
  })

  test(`${name} tokenAuth() and requirePolicies(): a batch token works, from each source, until its parent goes`, async () => {
    await withApp({ auth: {}, policies: ['app'] }, async (url, store) => {
      const parent = await store.create({ policies: ['app'] })
      const batch = await store.create({ parent: parent.clientToken, type: 'batch', ttl: '5m' })
      const bearer = { authorization: `Bearer ${batch.clientToken}` }
      const cookie = { cookie: `token=${encodeURIComponent(batch.clientToken)}` }
      for (const headers of [{ 'x-vault-token': batch.clientToken }, bearer, cookie]) {
        const res = await call(url, { headers })
        assert.equal(res.status, 200)
        assert.deepEqual(res.json, { accessor: '', policies: ['app', 'default'], numUses: 0 })
      }
      await store.revoke(parent.clientToken)
      const gone = await call(url, { token: batch.clientToken })
      assert.equal(gone.status, 403)
      assert.ok(!gone.text.includes(batch.clientToken))
    })
  })

  test(`${name} tokenAuth(): sources and cookie name are configurable`, async () => {
    await withApp({ auth: { sources: ['cookie'], cookieName: 'sid' } }, async (url, store) => {
      const auth = await store.create({})
      assert.equal((await call(url, { token: auth.clientToken })).status, 401)
      assert.equal(
        (await call(url, { headers: { cookie: `token=${auth.clientToken}` } })).status,
        401,
      )
      const res = await call(url, { headers: { cookie: `sid=${auth.clientToken}` } })
      assert.equal(res.status, 200)
      assert.equal((res.json as WhoAmI).accessor, auth.accessor)
    })
    assert.throws(() => makeApp(new TokenStore(), { auth: { sources: [] } }), TypeError)
  })

  test(`${name} tokenAuth({ optional: true }): no token passes without one, a bad one is still 403`, async () => {
    await withApp({ auth: { optional: true } }, async (url) => {
      const res = await call(url)
      assert.equal(res.status, 200)
      assert.deepEqual(res.json, { accessor: null, policies: null, numUses: null })
      assert.equal((await call(url, { token: 'hvs.bogus' })).status, 403)
    })
  })

  test(`${name} requirePolicies(): every named policy is needed, and root passes`, async () => {
    await withApp({ auth: {}, policies: ['admin', 'Deploy '] }, async (url, store) => {
      const both = await store.create({ policies: ['admin', 'deploy'] })
      const one = await store.create({ policies: ['admin'] })
      const root = await store.createRoot()
      assert.equal((await call(url, { token: both.clientToken })).status, 200)
      assert.equal((await call(url, { token: root.clientToken })).status, 200)
      const denied = await call(url, { token: one.clientToken })
      assert.equal(denied.status, 403)
      assert.deepEqual(denied.json, { errors: ['permission denied'] })
    })
  })

  test(`${name} requirePolicies(): without tokenAuth before it, the request is refused`, async () => {
    await withApp({ auth: false, policies: ['admin'] }, async (url, store) => {
      const root = await store.createRoot()
      assert.equal((await call(url, { token: root.clientToken })).status, 401)
    })
  })
}
