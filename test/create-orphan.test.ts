import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { TokenStoreError } from 'tokentree'
import { createTestStore } from 'tokentree/testing'

import { VAULT_HOSTS, call, withVaultApi } from './http/helpers/servers.js'

function code(expected: TokenStoreError['code']) {
  return (error: unknown) => error instanceof TokenStoreError && error.code === expected
}

describe("create({ parent, orphan: true }): Vault's create-orphan", () => {
  test('any parent may create one within its own policies; it has no parent and outlives the creator', async () => {
    const { store } = createTestStore()
    const root = (await store.createRoot()).clientToken
    const app = await store.create({ parent: root, policies: ['app', 'read'] })
    const orphan = await store.create({ parent: app.clientToken, orphan: true, policies: ['read'] })
    assert.equal(orphan.orphan, true)
    assert.deepEqual(orphan.policies, ['default', 'read'])
    assert.equal((await store.lookup(orphan.clientToken))?.path, 'auth/token/create-orphan')
    await store.revoke(app.clientToken)
    assert.ok(await store.authenticate(orphan.clientToken))
  })

  test('the child rules still apply: subset, root only from root, no custom id or period, no limited-use creator', async () => {
    const { store } = createTestStore()
    const root = (await store.createRoot()).clientToken
    const app = (await store.create({ parent: root, policies: ['app'] })).clientToken
    const limited = (await store.create({ parent: root, policies: ['app'], numUses: 5 }))
      .clientToken
    await assert.rejects(
      store.create({ parent: app, orphan: true, policies: ['admin'] }),
      code('permission_denied'),
    )
    await assert.rejects(
      store.create({ parent: app, orphan: true, policies: ['root'] }),
      code('permission_denied'),
    )
    await assert.rejects(
      store.create({ parent: app, orphan: true, id: 'custom' }),
      code('permission_denied'),
    )
    await assert.rejects(
      store.create({ parent: app, orphan: true, period: 60 }),
      code('permission_denied'),
    )
    await assert.rejects(store.create({ parent: limited, orphan: true }), code('permission_denied'))
  })

  test('an expiring root cannot create a root orphan that never expires, however the zero TTL is spelled', async () => {
    const { store } = createTestStore()
    const root = (await store.createRoot()).clientToken
    const expiringRoot = (await store.create({ parent: root, ttl: '1h' })).clientToken
    for (const ttl of [0, '0', '0s', '0ms', '0h0m']) {
      await assert.rejects(
        store.create({ parent: expiringRoot, orphan: true, policies: ['root'], ttl }),
        code('permission_denied'),
        `ttl ${String(ttl)}`,
      )
    }
  })

  test('over HTTP, create-orphan with ttl "0s" from an expiring root token is refused, not a root token that never expires', async () => {
    await withVaultApi(VAULT_HOSTS['node:http'], async (endpoint, root, store) => {
      const expiringRoot = (await store.create({ parent: root, ttl: '1h' })).clientToken
      for (const ttl of ['0s', '0ms', 0]) {
        const answer = await call(`${endpoint}/v1/auth/token/create-orphan`, {
          token: expiringRoot,
          body: { policies: ['root'], ttl },
        })
        // Vault's ErrInvalidRequest for a creation its rules refuse: 400.
        assert.equal(answer.status, 400, `ttl ${String(ttl)}: ${answer.text}`)
      }
      const fine = await call(`${endpoint}/v1/auth/token/create-orphan`, {
        token: expiringRoot,
        body: { policies: ['app'], ttl: '10m' },
      })
      assert.equal(fine.status, 200, fine.text)
    })
  })
})
