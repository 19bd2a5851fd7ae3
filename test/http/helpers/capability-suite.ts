/**
 * The behaviour every `requireCapability` adapter must show, run by express-capability.test.ts and
 * koa-capability.test.ts against their framework.
 */
import assert from 'node:assert/strict'
import type { RequestListener } from 'node:http'
import { test } from 'node:test'

import { TokenStore } from '../../../src/index.js'
import type { RequireCapabilityOptions } from '../../../src/http/capability.js'
import { call, listen } from './servers.js'

/**
 * Builds an app that runs `requireCapability(store, options)` on every request, then answers 200 with
 * `{ accessor }` of the attached token.
 */
export type CapabilityAppFactory = (
  store: TokenStore,
  options: RequireCapabilityOptions,
) => RequestListener

/** The policy the suite's tokens hold, on ACL paths below `api/`. */
const ITEMS = `
path "api/items" { capabilities = ["list"] }
path "api/items/*" { capabilities = ["read", "create"] }
path "api/items/+/name" { capabilities = ["update", "patch"] }
path "api/trash/*" { capabilities = ["delete"] }
path "api/config" {
  capabilities = ["read"]
  allowed_parameters = { "level" = ["low"] }
}
`

/** Runs the requireCapability suite for one framework. */
export function runCapabilitySuite(name: string, makeApp: CapabilityAppFactory): void {
  async function withApp(
    options: RequireCapabilityOptions,
    run: (base: string, store: TokenStore, token: string) => Promise<void>,
  ): Promise<void> {
    const store = new TokenStore()
    await store.policies.write('items', ITEMS)
    const { clientToken } = await store.create({ policies: ['items'] })
    const server = await listen(makeApp(store, options))
    try {
      await run(server.url, store, clientToken)
    } finally {
      await server.close()
      await store.close()
    }
  }

  const status = async (url: string, token: string, method = 'GET'): Promise<number> =>
    (await call(url, { method, token })).status

  test(`${name} requireCapability(): each method maps to its ACL operation`, async () => {
    await withApp({ mount: '/v1', pathPrefix: 'api/' }, async (base, _store, token) => {
      const v1 = `${base}/v1`
      assert.equal(await status(`${v1}/items/1`, token), 200, 'GET is read')
      assert.equal(await status(`${v1}/items/1`, token, 'HEAD'), 200, 'HEAD is read')
      assert.equal(await status(`${v1}/items`, token), 403, 'no read on api/items')
      assert.equal(await status(`${v1}/items?list=true`, token), 403, '?list=true is still read')
      assert.equal(await status(`${v1}/items/2`, token, 'POST'), 200, 'POST is create')
      assert.equal(await status(`${v1}/items/2`, token, 'PUT'), 403, 'PUT is update')
      assert.equal(await status(`${v1}/items/2/name`, token, 'PUT'), 200)
      assert.equal(await status(`${v1}/items/2/name`, token, 'PATCH'), 200, 'PATCH is patch')
      assert.equal(await status(`${v1}/items/1`, token, 'DELETE'), 403)
      assert.equal(await status(`${v1}/trash/1`, token, 'DELETE'), 200, 'DELETE is delete')
      assert.equal(await status(`${v1}/items/1`, token, 'OPTIONS'), 405)
      assert.equal(await status(`${base}/elsewhere/items/1`, token), 403, 'outside the mount')
    })
  })

  test(`${name} requireCapability(): attaches the TokenInfo; 401 without a token, 403 for a bad one`, async () => {
    await withApp({ pathPrefix: 'api/' }, async (base, store, token) => {
      const ok = await call(`${base}/items/1`, { token })
      assert.equal(ok.status, 200)
      assert.equal(
        (ok.json as { accessor: string }).accessor,
        (await store.lookup(token))?.accessor,
      )
      const missing = await call(`${base}/items/1`)
      assert.equal(missing.status, 401)
      const bad = await call(`${base}/items/1`, { token: 'hvs.nope' })
      assert.equal(bad.status, 403)
      assert.deepEqual(bad.json, { errors: ['permission denied'] })
    })
  })

  test(`${name} requireCapability(): a refused request spends its use`, async () => {
    await withApp({ pathPrefix: 'api/' }, async (base, store) => {
      const { clientToken } = await store.create({ policies: ['items'], numUses: 2 })
      assert.equal(await status(`${base}/items/1`, clientToken, 'DELETE'), 403)
      assert.equal((await store.lookup(clientToken))?.numUses, 1)
      assert.equal(await status(`${base}/items/1`, clientToken), 200)
      assert.equal(await status(`${base}/items/1`, clientToken), 403, 'used up')
    })
  })

  test(`${name} requireCapability(): post option; query parameters checked against the policy`, async () => {
    await withApp({ pathPrefix: 'api/', post: 'update' }, async (base, _store, token) => {
      assert.equal(await status(`${base}/items/2`, token, 'POST'), 403, 'POST is update here')
      assert.equal(await status(`${base}/items/2/name`, token, 'POST'), 200)
      assert.equal(await status(`${base}/config?level=low`, token), 200)
      assert.equal(await status(`${base}/config?level=high`, token), 403)
    })
  })

  test(`${name} requireCapability(): with listQuery, GET ?list=true is a list of the path as a folder`, async () => {
    await withApp({ pathPrefix: 'api/', listQuery: true }, async (base, store) => {
      await store.policies.write(
        'folders',
        'path "api/items" { capabilities = ["list"] }\npath "api/docs/*" { capabilities = ["list"] }\n' +
          'path "api/docs/private/*" { capabilities = ["deny"] }',
      )
      const { clientToken: token } = await store.create({ policies: ['folders'] })
      assert.equal(
        await status(`${base}/items?list=true`, token),
        200,
        'the exact rule, slash trimmed',
      )
      assert.equal(await status(`${base}/items`, token), 403, 'a plain GET is a read')
      assert.equal(
        await status(`${base}/docs?list=true`, token),
        200,
        'api/docs/ is under api/docs/*',
      )
      assert.equal(await status(`${base}/docs/private?list=true`, token), 403, 'the deny holds')
      assert.equal(await status(`${base}/docs/private/?list=true`, token), 403)
      // Vault's spellings of true, and a repeated or malformed `list`, which a handler might read otherwise.
      assert.equal(await status(`${base}/items?list=1`, token), 200)
      assert.equal(await status(`${base}/docs/private?list=1`, token), 403)
      assert.equal(await status(`${base}/items?list=true&list=false`, token), 400)
      assert.equal(await status(`${base}/items?list=maybe`, token), 400)
      assert.equal(await status(`${base}/items?list=`, token), 403, 'empty: a read')
      assert.equal(
        await status(`${base}/items?list[]=true`, token),
        400,
        'read otherwise by a parser',
      )
    })
  })

  test(`${name} requireCapability(): a path is also checked lower-cased, unless caseSensitive`, async () => {
    const policy =
      'path "api/*" { capabilities = ["read"] }\npath "api/admin/*" { capabilities = ["deny"] }\n' +
      'path "api/Mixed/*" { capabilities = ["read"] }'
    await withApp({ pathPrefix: 'api/' }, async (base, store) => {
      await store.policies.write('reader', policy)
      const { clientToken: token } = await store.create({ policies: ['reader'] })
      assert.equal(await status(`${base}/admin/users`, token), 403)
      for (const path of ['Admin/users', 'ADMIN/users', 'aDmin/users']) {
        assert.equal(await status(`${base}/${path}`, token), 403, path)
      }
      assert.equal(await status(`${base}/Reports/Q1`, token), 200, 'allowed both ways')
    })
    await withApp({ pathPrefix: 'api/', caseSensitive: true }, async (base, store) => {
      await store.policies.write('reader', policy)
      const { clientToken: token } = await store.create({ policies: ['reader'] })
      assert.equal(await status(`${base}/admin/users`, token), 403)
      assert.equal(
        await status(`${base}/Admin/users`, token),
        200,
        'a case-sensitive router: another path',
      )
    })
  })

  test(`${name} requireCapability(): every value of a parameter is checked (repeated keys, query and body)`, async () => {
    await withApp({ pathPrefix: 'api/' }, async (base, store) => {
      await store.policies.write(
        'inviter',
        'path "api/invite" {\n capabilities = ["create"]\n denied_parameters = { "role" = ["admin"] }\n}',
      )
      const { clientToken: token } = await store.create({ policies: ['inviter'] })
      const post = async (query: string, body?: unknown): Promise<number> =>
        (
          await call(`${base}/invite${query}`, {
            method: 'POST',
            token,
            ...(body === undefined
              ? {}
              : { body, headers: { 'content-type': 'application/json' } }),
          })
        ).status
      assert.equal(await post('?role=viewer'), 200)
      assert.equal(await post('?role=admin'), 403)
      assert.equal(await post('?role=admin&role=viewer'), 403)
      assert.equal(await post('?role=viewer&role=admin'), 403)
      assert.equal(await post('', { role: 'viewer' }), 200)
      assert.equal(await post('?role=admin', { role: 'viewer' }), 403, 'the query under the body')
      assert.equal(await post('?role=viewer', { role: 'admin' }), 403)
      assert.equal(await post('', { role: ['viewer', 'admin'] }), 403)
      assert.equal(await post('', [{ role: 'viewer' }, { role: 'admin' }]), 403, 'a bulk body')
      assert.equal(await post('', [{ role: 'viewer' }]), 200)
      assert.equal(await post('', { role: [['admin'], 'viewer'] }), 403, 'nested arrays, flattened')
    })
  })

  test(`${name} requireCapability(): an encoded slash in the path is refused (the router would not split there)`, async () => {
    await withApp({ pathPrefix: 'api/' }, async (base, _store, token) => {
      assert.equal(await status(`${base}/items/1`, token), 200)
      for (const path of ['items/a%2Fb', 'items/a%2fb', 'items%2F1']) {
        assert.equal(await status(`${base}/${path}`, token), 400, path)
      }
    })
  })

  test(`${name} requireCapability(): malformed options fail at once`, () => {
    const store = new TokenStore({ timers: false })
    assert.throws(() => makeApp(store, { mount: 'a b' }), TypeError)
    assert.throws(() => makeApp(store, { sources: [] }), TypeError)
    for (const option of ['sudo', 'caseSensitive', 'listQuery'] as const) {
      assert.throws(() => makeApp(store, { [option]: 'yes' as unknown as boolean }), TypeError)
    }
  })
}
