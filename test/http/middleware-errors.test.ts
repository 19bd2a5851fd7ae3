/**
 * tokenAuth's `errorFormat`, `onError` and `spendUse`, requirePolicies in the chosen format, and
 * tokenErrorHandler(), through real Express and Koa apps.
 */
import assert from 'node:assert/strict'
import type { RequestListener } from 'node:http'
import { describe, test } from 'node:test'

import express from 'express'
import Koa from 'koa'

import { TokenStore, TokenStoreError } from '../../src/index.js'
import * as expressAdapter from '../../src/http/express.js'
import * as koaAdapter from '../../src/http/koa.js'
import type { ErrorFormat, TokenRefusal } from '../../src/http/error-format.js'
import { call, listen } from './helpers/servers.js'

/** What a test app does: `/whoami` (tokenAuth → requirePolicies?) and `/throw` (a route throwing `thrown`). */
interface Spec {
  readonly errorFormat?: ErrorFormat
  readonly spendUse?: boolean
  readonly policies?: readonly string[]
  /** Record refusals and answer 418 `{ reason, status }` instead. */
  readonly onError?: (refusal: TokenRefusal) => void
  /** `tokenErrorHandler`'s own format; by default it follows tokenAuth. */
  readonly handlerFormat?: ErrorFormat
  /** tokenAuth's `scope`. */
  readonly scope?: string
  /** `tokenErrorHandler`'s own scope; by default it follows tokenAuth. */
  readonly handlerScope?: string
  readonly thrown?: unknown
}

type AppFactory = (store: TokenStore, spec: Spec) => RequestListener

/** `tokenErrorHandler`'s options for `spec`. */
function handlerOptions(spec: Spec): { errorFormat?: ErrorFormat; scope?: string } {
  return {
    ...(spec.handlerFormat ? { errorFormat: spec.handlerFormat } : {}),
    ...(spec.handlerScope === undefined ? {} : { scope: spec.handlerScope }),
  }
}

const APPS: Record<'express' | 'koa', AppFactory> = {
  express: (store, spec) => {
    const { tokenAuth, requirePolicies, tokenErrorHandler } = expressAdapter
    const app = express()
    const auth = tokenAuth(store, {
      ...(spec.errorFormat ? { errorFormat: spec.errorFormat } : {}),
      ...(spec.spendUse === undefined ? {} : { spendUse: spec.spendUse }),
      ...(spec.scope === undefined ? {} : { scope: spec.scope }),
      ...(spec.onError
        ? {
            onError: (refusal: TokenRefusal, _req: express.Request, res: express.Response) => {
              spec.onError?.(refusal)
              res.status(418).json({ reason: refusal.reason, status: refusal.status })
            },
          }
        : {}),
    })
    const chain = spec.policies ? [auth, requirePolicies(...spec.policies)] : [auth]
    app.get('/whoami', ...chain, (req, res) => {
      res.json({ accessor: req.token?.accessor, numUses: req.token?.numUses })
    })
    app.get('/throw', auth, () => {
      throw spec.thrown
    })
    app.use(tokenErrorHandler(handlerOptions(spec)))
    // The host's last-resort handler: anything tokenErrorHandler passes on.
    app.use(
      (
        _error: unknown,
        _req: express.Request,
        res: express.Response,
        _next: express.NextFunction,
      ) => {
        res.status(599).json({ passedOn: true })
      },
    )
    return app
  },
  koa: (store, spec) => {
    const { tokenAuth, requirePolicies, tokenErrorHandler } = koaAdapter
    const app = new Koa()
    app.use(async (ctx, next) => {
      try {
        await next()
      } catch {
        ctx.status = 599
        ctx.body = { passedOn: true }
      }
    })
    app.use(tokenErrorHandler(handlerOptions(spec)))
    app.use(
      tokenAuth(store, {
        optional: false,
        ...(spec.errorFormat ? { errorFormat: spec.errorFormat } : {}),
        ...(spec.spendUse === undefined ? {} : { spendUse: spec.spendUse }),
        ...(spec.scope === undefined ? {} : { scope: spec.scope }),
        ...(spec.onError
          ? {
              onError: (refusal: TokenRefusal, ctx: Koa.Context) => {
                spec.onError?.(refusal)
                ctx.status = 418
                ctx.body = { reason: refusal.reason, status: refusal.status }
              },
            }
          : {}),
      }),
    )
    if (spec.policies) app.use(requirePolicies(...spec.policies))
    app.use((ctx) => {
      if (ctx.path === '/throw') throw spec.thrown
      ctx.body = { accessor: ctx.state.token?.accessor, numUses: ctx.state.token?.numUses }
    })
    const handle = app.callback()
    return (req, res) => void handle(req, res)
  },
}

async function withApp(
  factory: AppFactory,
  spec: Spec,
  run: (base: string, store: TokenStore) => Promise<void>,
): Promise<void> {
  const store = new TokenStore()
  const server = await listen(factory(store, spec))
  try {
    await run(server.url, store)
  } finally {
    await server.close()
    await store.close()
  }
}

for (const [name, factory] of Object.entries(APPS)) {
  describe(`${name} middleware error handling`, () => {
    test('errorFormat rfc6750: no token is 401 with a bare Bearer challenge', async () => {
      await withApp(factory, { errorFormat: 'rfc6750' }, async (base) => {
        const res = await call(`${base}/whoami`)
        assert.equal(res.status, 401)
        assert.equal(res.headers.get('www-authenticate'), 'Bearer')
        assert.deepEqual(res.json, {
          error: 'invalid_token',
          error_description: 'missing client token',
        })
      })
    })

    test('errorFormat rfc6750: a bad token is 401 invalid_token, never echoed', async () => {
      await withApp(factory, { errorFormat: 'rfc6750' }, async (base, store) => {
        const revoked = await store.create({})
        await store.revoke(revoked.clientToken)
        for (const token of ['hvs.not-a-real-token-0123456789', revoked.clientToken]) {
          const res = await call(`${base}/whoami`, {
            headers: { authorization: `Bearer ${token}` },
          })
          assert.equal(res.status, 401)
          assert.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"')
          assert.equal((res.json as { error: string }).error, 'invalid_token')
          assert.ok(!res.text.includes(token))
        }
      })
    })

    test('errorFormat rfc6750: requirePolicies answers 403 insufficient_scope', async () => {
      await withApp(
        factory,
        { errorFormat: 'rfc6750', policies: ['admin'] },
        async (base, store) => {
          const auth = await store.create({ policies: ['reader'] })
          const res = await call(`${base}/whoami`, { token: auth.clientToken })
          assert.equal(res.status, 403)
          assert.equal(res.headers.get('www-authenticate'), 'Bearer error="insufficient_scope"')
          assert.equal((res.json as { error: string }).error, 'insufficient_scope')
          const admin = await store.create({ policies: ['admin'] })
          assert.equal((await call(`${base}/whoami`, { token: admin.clientToken })).status, 200)
        },
      )
    })

    test('errorFormat vault stays the default', async () => {
      await withApp(factory, { policies: ['admin'] }, async (base, store) => {
        const auth = await store.create({ policies: ['reader'] })
        const res = await call(`${base}/whoami`, { token: auth.clientToken })
        assert.equal(res.status, 403)
        assert.deepEqual(res.json, { errors: ['permission denied'] })
        assert.equal(res.headers.get('www-authenticate'), null)
      })
    })

    test('an unknown errorFormat fails when the middleware is built', () => {
      const store = new TokenStore()
      assert.throws(() => factory(store, { errorFormat: 'json' as ErrorFormat }), /errorFormat/)
    })

    test('onError answers every refusal, with its reason and the format status', async () => {
      const seen: TokenRefusal[] = []
      const spec: Spec = {
        errorFormat: 'rfc6750',
        policies: ['admin'],
        onError: (refusal) => seen.push(refusal),
      }
      await withApp(factory, spec, async (base, store) => {
        const reader = await store.create({ policies: ['reader'] })
        const bad = 'hvs.not-a-real-token-0123456789'
        for (const headers of [
          {},
          { 'x-vault-token': bad },
          { 'x-vault-token': reader.clientToken },
        ]) {
          const res = await call(`${base}/whoami`, { headers })
          assert.equal(res.status, 418)
          assert.ok(!res.text.includes(bad))
        }
        assert.deepEqual(
          seen.map((refusal) => [
            refusal.reason,
            refusal.status,
            refusal instanceof TokenStoreError,
          ]),
          [
            ['missing_token', 401, true],
            ['invalid_token', 401, true],
            ['insufficient_scope', 403, true],
          ],
        )
        assert.ok(seen.every((refusal) => !refusal.message.includes(bad)))
      })
    })

    test('spendUse: false checks the token without spending a use', async () => {
      await withApp(factory, { spendUse: false }, async (base, store) => {
        const auth = await store.create({ numUses: 1 })
        for (let i = 0; i < 3; i++) {
          const res = await call(`${base}/whoami`, { token: auth.clientToken })
          assert.equal(res.status, 200)
          assert.equal((res.json as { numUses: number }).numUses, 1)
        }
        assert.equal((await store.lookup(auth.clientToken))?.numUses, 1)
        await store.revoke(auth.clientToken)
        const gone = await call(`${base}/whoami`, { token: auth.clientToken })
        assert.equal(gone.status, 403)
        assert.deepEqual(gone.json, { errors: ['permission denied'] })
      })
    })

    test('spendUse: true (default) spends one use per request', async () => {
      await withApp(factory, {}, async (base, store) => {
        const auth = await store.create({ numUses: 1 })
        assert.equal((await call(`${base}/whoami`, { token: auth.clientToken })).status, 200)
        assert.equal((await call(`${base}/whoami`, { token: auth.clientToken })).status, 403)
      })
    })

    for (const [format, code, status, body] of [
      ['vault', 'invalid_request', 400, { errors: ['bad ttl'] }],
      ['vault', 'storage_unavailable', 503, { errors: ['bad ttl'] }],
      [
        'rfc6750',
        'invalid_request',
        400,
        { error: 'invalid_request', error_description: 'bad ttl' },
      ],
      ['rfc6750', 'conflict', 409, { error: 'conflict', error_description: 'bad ttl' }],
    ] as const) {
      test(`tokenErrorHandler(): a thrown ${code} is ${status} in the ${format} format`, async () => {
        const thrown = new TokenStoreError(code, 'bad ttl')
        await withApp(factory, { errorFormat: format, thrown }, async (base, store) => {
          const auth = await store.create({})
          const res = await call(`${base}/throw`, { token: auth.clientToken })
          assert.equal(res.status, status)
          assert.deepEqual(res.json, body)
        })
      })
    }

    test('tokenErrorHandler(): a thrown invalid_token under rfc6750 is 401 with the challenge', async () => {
      const thrown = new TokenStoreError('invalid_token', 'token not found')
      await withApp(factory, { handlerFormat: 'rfc6750', thrown }, async (base, store) => {
        const auth = await store.create({})
        const res = await call(`${base}/throw`, { token: auth.clientToken })
        assert.equal(res.status, 401)
        assert.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"')
        assert.ok(!res.text.includes(auth.clientToken))
      })
    })

    test('tokenErrorHandler(): its scope is named in the rfc6750 challenge of a thrown permission_denied', async () => {
      const thrown = new TokenStoreError('permission_denied', 'not allowed')
      const spec: Spec = { handlerFormat: 'rfc6750', handlerScope: 'deploy', thrown }
      await withApp(factory, spec, async (base, store) => {
        const auth = await store.create({})
        const res = await call(`${base}/throw`, { token: auth.clientToken })
        assert.equal(res.status, 403)
        assert.equal(
          res.headers.get('www-authenticate'),
          'Bearer error="insufficient_scope", scope="deploy"',
        )
      })
    })

    test("tokenErrorHandler(): by default it names tokenAuth()'s scope, and its own wins", async () => {
      const thrown = new TokenStoreError('invalid_token', 'token not found')
      const inherited: Spec = { errorFormat: 'rfc6750', scope: 'deploy admin', thrown }
      await withApp(factory, inherited, async (base, store) => {
        const auth = await store.create({})
        const res = await call(`${base}/throw`, { token: auth.clientToken })
        assert.equal(res.status, 401)
        assert.equal(
          res.headers.get('www-authenticate'),
          'Bearer error="invalid_token", scope="deploy admin"',
        )
      })
      await withApp(factory, { ...inherited, handlerScope: 'ops' }, async (base, store) => {
        const auth = await store.create({})
        const res = await call(`${base}/throw`, { token: auth.clientToken })
        assert.equal(
          res.headers.get('www-authenticate'),
          'Bearer error="invalid_token", scope="ops"',
        )
      })
    })

    test('tokenErrorHandler(): a malformed scope is a TypeError at once', () => {
      const adapter = name === 'express' ? expressAdapter : koaAdapter
      assert.throws(() => adapter.tokenErrorHandler({ scope: 'a "quoted" scope' }), TypeError)
    })

    test('tokenErrorHandler(): other errors are passed on untouched', async () => {
      await withApp(factory, { thrown: new Error('boom') }, async (base, store) => {
        const auth = await store.create({})
        const res = await call(`${base}/throw`, { token: auth.clientToken })
        assert.equal(res.status, 599)
        assert.deepEqual(res.json, { passedOn: true })
      })
    })
  })
}
