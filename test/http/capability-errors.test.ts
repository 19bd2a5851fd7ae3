/**
 * requireCapability's `errorFormat`, `onError` and `scope`, what it inherits from a `tokenAuth()` before it (and
 * leaves for a `requirePolicies()` after it), and the `scope` of tokenAuth and requirePolicies: through real
 * Express and Koa apps.
 */
import assert from 'node:assert/strict'
import type { RequestListener } from 'node:http'
import { describe, test } from 'node:test'

import express from 'express'
import Koa from 'koa'

import { TokenStore, TokenStoreError } from '../../src/index.js'
import { createCapabilityGuard } from '../../src/http/capability.js'
import * as expressAdapter from '../../src/http/express.js'
import * as koaAdapter from '../../src/http/koa.js'
import type { ErrorFormat } from '../../src/http/error-format.js'
import { call, listen } from './helpers/servers.js'

/** The error options of one middleware; `onError: true` answers 418 `{ by, reason, status }` and records it. */
interface MiddlewareSpec {
  readonly errorFormat?: ErrorFormat
  readonly scope?: string
  readonly onError?: boolean
}

/** An app: [tokenAuth] → requireCapability → [requirePolicies] → 200 `{ accessor }`, on every path. */
interface Spec {
  readonly auth?: MiddlewareSpec
  readonly capability?: MiddlewareSpec
  readonly policies?: { readonly names: readonly string[]; readonly scope?: string }
}

type Seen = Array<{ by: string; reason: string; status: number }>
type AppFactory = (store: TokenStore, spec: Spec, seen: Seen) => RequestListener

/** The options object of a middleware spec, with `onError` built by `handler`. */
function optionsOf<H>(
  spec: MiddlewareSpec,
  handler: () => H,
): { errorFormat?: ErrorFormat; scope?: string; onError?: H } {
  return {
    ...(spec.errorFormat === undefined ? {} : { errorFormat: spec.errorFormat }),
    ...(spec.scope === undefined ? {} : { scope: spec.scope }),
    ...(spec.onError === true ? { onError: handler() } : {}),
  }
}

function policyArgs(spec: Spec): [string, ...string[]] | [string, { scope: string }] | null {
  if (spec.policies === undefined) return null
  const names = spec.policies.names as [string, ...string[]]
  return spec.policies.scope === undefined
    ? names
    : ([...names, { scope: spec.policies.scope }] as [string, { scope: string }])
}

const APPS: Record<'express' | 'koa', AppFactory> = {
  express: (store, spec, seen) => {
    const { tokenAuth, requireCapability, requirePolicies } = expressAdapter
    const handler =
      (by: string) => (): expressAdapter.TokenErrorCallback => (refusal, _req, res) => {
        seen.push({ by, reason: refusal.reason, status: refusal.status })
        res.status(418).json({ by, reason: refusal.reason, status: refusal.status })
      }
    const app = express()
    if (spec.auth) app.use(tokenAuth(store, optionsOf(spec.auth, handler('auth'))))
    app.use(requireCapability(store, optionsOf(spec.capability ?? {}, handler('capability'))))
    const policies = policyArgs(spec)
    if (policies !== null) app.use(requirePolicies(...policies))
    app.use((req, res) => {
      res.json({ accessor: req.token?.accessor })
    })
    return app
  },
  koa: (store, spec, seen) => {
    const { tokenAuth, requireCapability, requirePolicies } = koaAdapter
    const handler = (by: string) => (): koaAdapter.TokenErrorCallback => (refusal, ctx) => {
      seen.push({ by, reason: refusal.reason, status: refusal.status })
      ctx.status = 418
      ctx.body = { by, reason: refusal.reason, status: refusal.status }
    }
    const app = new Koa()
    if (spec.auth) app.use(tokenAuth(store, optionsOf(spec.auth, handler('auth'))))
    app.use(requireCapability(store, optionsOf(spec.capability ?? {}, handler('capability'))))
    const policies = policyArgs(spec)
    if (policies !== null) app.use(requirePolicies(...policies))
    app.use((ctx) => {
      ctx.body = { accessor: ctx.state.token?.accessor }
    })
    const handle = app.callback()
    return (req, res) => void handle(req, res)
  },
}

/** Tokens of the test store: `reader` may read `reports/*` only; `admin` also holds the `admin` policy. */
interface Tokens {
  readonly reader: string
  readonly admin: string
}

async function withApp(
  factory: AppFactory,
  spec: Spec,
  run: (base: string, tokens: Tokens, seen: Seen) => Promise<void>,
): Promise<void> {
  const store = new TokenStore()
  await store.policies.write('reader', 'path "reports/*" { capabilities = ["read"] }')
  await store.policies.write('admin', 'path "reports/*" { capabilities = ["read"] }')
  const tokens = {
    reader: (await store.create({ policies: ['reader'] })).clientToken,
    admin: (await store.create({ policies: ['admin'] })).clientToken,
  }
  const seen: Seen = []
  const server = await listen(factory(store, spec, seen))
  try {
    await run(server.url, tokens, seen)
  } finally {
    await server.close()
    await store.close()
  }
}

const BAD_TOKEN = 'hvs.not-a-real-token-0123456789'

for (const [name, factory] of Object.entries(APPS)) {
  describe(`${name} requireCapability error answers`, () => {
    test('errorFormat rfc6750: missing 401 Bearer, bad 401 invalid_token, refused 403 insufficient_scope, 405 invalid_request', async () => {
      await withApp(factory, { capability: { errorFormat: 'rfc6750' } }, async (base, tokens) => {
        const missing = await call(`${base}/reports/7`)
        assert.equal(missing.status, 401)
        assert.equal(missing.headers.get('www-authenticate'), 'Bearer')
        assert.deepEqual(missing.json, {
          error: 'invalid_token',
          error_description: 'missing client token',
        })
        const bad = await call(`${base}/reports/7`, { token: BAD_TOKEN })
        assert.equal(bad.status, 401)
        assert.equal(bad.headers.get('www-authenticate'), 'Bearer error="invalid_token"')
        assert.ok(!bad.text.includes(BAD_TOKEN))
        const refused = await call(`${base}/reports/7`, { token: tokens.reader, method: 'DELETE' })
        assert.equal(refused.status, 403)
        assert.equal(refused.headers.get('www-authenticate'), 'Bearer error="insufficient_scope"')
        assert.deepEqual(Object.keys(refused.json as object).sort(), ['error', 'error_description'])
        assert.equal((refused.json as { error: string }).error, 'insufficient_scope')
        const unsupported = await call(`${base}/reports/7`, {
          token: tokens.reader,
          method: 'OPTIONS',
        })
        assert.equal(unsupported.status, 405)
        assert.deepEqual(unsupported.json, {
          error: 'invalid_request',
          error_description: 'unsupported operation',
        })
        assert.equal((await call(`${base}/reports/7`, { token: tokens.reader })).status, 200)
      })
    })

    test('the Vault format stays the default', async () => {
      await withApp(factory, {}, async (base, tokens) => {
        const refused = await call(`${base}/reports/7`, { token: tokens.reader, method: 'DELETE' })
        assert.equal(refused.status, 403)
        assert.deepEqual(refused.json, { errors: ['permission denied'] })
        assert.equal(refused.headers.get('www-authenticate'), null)
        const bad = await call(`${base}/reports/7`, { token: BAD_TOKEN })
        assert.equal(bad.status, 403)
        assert.deepEqual(bad.json, { errors: ['permission denied'] })
      })
    })

    test('inherits errorFormat from the tokenAuth() before it', async () => {
      await withApp(factory, { auth: { errorFormat: 'rfc6750' } }, async (base, tokens) => {
        const refused = await call(`${base}/reports/7`, { token: tokens.reader, method: 'DELETE' })
        assert.equal(refused.status, 403)
        assert.equal(refused.headers.get('www-authenticate'), 'Bearer error="insufficient_scope"')
        assert.equal((refused.json as { error: string }).error, 'insufficient_scope')
      })
    })

    test('its own errorFormat wins over the inherited one', async () => {
      const spec: Spec = { auth: { errorFormat: 'rfc6750' }, capability: { errorFormat: 'vault' } }
      await withApp(factory, spec, async (base, tokens) => {
        const refused = await call(`${base}/reports/7`, { token: tokens.reader, method: 'DELETE' })
        assert.equal(refused.status, 403)
        assert.deepEqual(refused.json, { errors: ['permission denied'] })
      })
    })

    test('onError answers its refusals, with the reason and the format status', async () => {
      const spec: Spec = { capability: { errorFormat: 'rfc6750', onError: true } }
      await withApp(factory, spec, async (base, tokens, seen) => {
        for (const init of [{}, { token: BAD_TOKEN }, { token: tokens.reader, method: 'DELETE' }]) {
          const res = await call(`${base}/reports/7`, init)
          assert.equal(res.status, 418)
          assert.ok(!res.text.includes(BAD_TOKEN))
        }
        assert.deepEqual(seen, [
          { by: 'capability', reason: 'missing_token', status: 401 },
          { by: 'capability', reason: 'invalid_token', status: 401 },
          { by: 'capability', reason: 'insufficient_scope', status: 403 },
        ])
      })
    })

    test("inherits tokenAuth()'s onError", async () => {
      await withApp(factory, { auth: { onError: true } }, async (base, tokens, seen) => {
        const res = await call(`${base}/reports/7`, { token: tokens.reader, method: 'DELETE' })
        assert.equal(res.status, 418)
        assert.deepEqual(seen, [{ by: 'auth', reason: 'insufficient_scope', status: 403 }])
      })
    })

    test('without a tokenAuth(), a requirePolicies() after it follows its format', async () => {
      const spec: Spec = { capability: { errorFormat: 'rfc6750' }, policies: { names: ['admin'] } }
      await withApp(factory, spec, async (base, tokens) => {
        const res = await call(`${base}/reports/7`, { token: tokens.reader })
        assert.equal(res.status, 403)
        assert.equal(res.headers.get('www-authenticate'), 'Bearer error="insufficient_scope"')
        assert.equal((await call(`${base}/reports/7`, { token: tokens.admin })).status, 200)
      })
    })

    test('scope: named in every rfc6750 challenge of requireCapability', async () => {
      const spec: Spec = { capability: { errorFormat: 'rfc6750', scope: 'reports:read admin' } }
      await withApp(factory, spec, async (base, tokens) => {
        const missing = await call(`${base}/reports/7`)
        assert.equal(missing.headers.get('www-authenticate'), 'Bearer scope="reports:read admin"')
        const bad = await call(`${base}/reports/7`, { token: BAD_TOKEN })
        assert.equal(
          bad.headers.get('www-authenticate'),
          'Bearer error="invalid_token", scope="reports:read admin"',
        )
        const refused = await call(`${base}/reports/7`, { token: tokens.reader, method: 'DELETE' })
        assert.equal(
          refused.headers.get('www-authenticate'),
          'Bearer error="insufficient_scope", scope="reports:read admin"',
        )
      })
    })

    test("scope: tokenAuth()'s is named by its own challenges and inherited by the guards after it", async () => {
      const spec: Spec = {
        auth: { errorFormat: 'rfc6750', scope: 'reports' },
        policies: { names: ['admin'] },
      }
      await withApp(factory, spec, async (base, tokens) => {
        const bad = await call(`${base}/reports/7`, { token: BAD_TOKEN })
        assert.equal(bad.status, 401)
        assert.equal(
          bad.headers.get('www-authenticate'),
          'Bearer error="invalid_token", scope="reports"',
        )
        const refused = await call(`${base}/reports/7`, { token: tokens.reader })
        assert.equal(refused.status, 403)
        assert.equal(
          refused.headers.get('www-authenticate'),
          'Bearer error="insufficient_scope", scope="reports"',
        )
      })
    })

    test("scope: requirePolicies()'s own wins over tokenAuth()'s", async () => {
      const spec: Spec = {
        auth: { errorFormat: 'rfc6750', scope: 'reports' },
        policies: { names: ['admin'], scope: 'admin' },
      }
      await withApp(factory, spec, async (base, tokens) => {
        const refused = await call(`${base}/reports/7`, { token: tokens.reader })
        assert.equal(
          refused.headers.get('www-authenticate'),
          'Bearer error="insufficient_scope", scope="admin"',
        )
      })
    })

    test('scope: the Vault format names no scope', async () => {
      await withApp(factory, { capability: { scope: 'reports' } }, async (base, tokens) => {
        assert.equal((await call(`${base}/reports/7`)).headers.get('www-authenticate'), 'Bearer')
        const refused = await call(`${base}/reports/7`, { token: tokens.reader, method: 'DELETE' })
        assert.equal(refused.headers.get('www-authenticate'), null)
      })
    })

    test('malformed errorFormat, onError or scope fail when the middleware is built', () => {
      const store = new TokenStore()
      for (const scope of ['', 'a"b', 'a\\b', 'two  spaces', ' lead', 'tab\there', 'é']) {
        assert.throws(() => factory(store, { capability: { scope } }, []), TypeError, scope)
        assert.throws(() => factory(store, { auth: { scope } }, []), TypeError, scope)
        assert.throws(
          () => factory(store, { policies: { names: ['admin'], scope } }, []),
          TypeError,
          scope,
        )
      }
      assert.throws(
        () => factory(store, { capability: { errorFormat: 'json' as ErrorFormat } }, []),
        /errorFormat/,
      )
      const adapter = name === 'express' ? expressAdapter : koaAdapter
      assert.throws(
        () => adapter.requireCapability(store, { onError: 'log' as unknown as never }),
        /onError/,
      )
    })
  })
}

test("a refusal's cause is the store's error, which says why; the answer does not", async () => {
  const store = new TokenStore()
  try {
    await store.policies.write('reader', 'path "api/*" { capabilities = ["read"] }')
    const { clientToken } = await store.create({ policies: ['reader'] })
    const guard = createCapabilityGuard(store, { pathPrefix: 'api/' })
    const outcome = await guard(
      {
        method: 'DELETE',
        path: '/items/1',
        query: new URLSearchParams(),
        body: undefined,
        headers: { 'x-vault-token': clientToken },
      },
      { format: 'vault', scope: undefined },
    )
    assert.ok(!outcome.ok)
    assert.ok(outcome.refusal.cause instanceof TokenStoreError)
    assert.equal(outcome.refusal.cause.code, 'permission_denied')
    assert.match(outcome.refusal.cause.message, /^permission denied: .+/)
    assert.deepEqual(outcome.result.body, { errors: ['permission denied'] })
  } finally {
    await store.close()
  }
})
