/**
 * The Vault-compatible API driven by node-vault, an independent Vault client, against each host (node:http,
 * Express, Koa). node-vault traps handled here: its create and renew methods replace the client's token with the
 * one in the answer (so each identity gets its own client), `tokenCreate` drops `period`/`type` (so periodic
 * tokens go through `write`), and its schema only lets `ttl` through as a string.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import type { TokenStore } from '../../src/index.js'
import type { VaultApiOptions } from '../../src/http/vault-api/types.js'
import { client, rejectsWith } from './helpers/node-vault.js'
import { VAULT_HOSTS, call, withVaultApi } from './helpers/servers.js'

for (const [host, makeServer] of Object.entries(VAULT_HOSTS)) {
  describe(`Vault API over ${host}, through node-vault`, () => {
    const withApi = (
      run: (endpoint: string, root: string, store: TokenStore) => Promise<void>,
      options?: VaultApiOptions,
    ): Promise<void> => withVaultApi(makeServer, run, options)

    test('sys/health answers unauthenticated', async () => {
      await withApi(async (endpoint) => {
        const health = await client(endpoint, '').health()
        assert.equal(health.initialized, true)
        assert.equal(health.sealed, false)
      })
    })

    test('create: Vault auth block, the caller becomes the parent', async () => {
      await withApi(async (endpoint, root) => {
        const vault = client(endpoint, root)
        const { auth } = await vault.tokenCreate({
          policies: ['app'],
          ttl: '1h',
          meta: { team: 'a' },
        })
        // Trap: node-vault now sends the new token.
        assert.equal(vault.token, auth.client_token)
        assert.match(auth.client_token, /^hvs\./)
        assert.deepEqual(auth.policies, ['app', 'default'])
        assert.deepEqual(auth.token_policies, ['app', 'default'])
        assert.deepEqual(auth.metadata, { team: 'a' })
        assert.equal(auth.lease_duration, 3600)
        assert.equal(auth.renewable, true)
        assert.equal(auth.orphan, false)
        assert.equal(auth.num_uses, 0)
        assert.equal(auth.token_type, 'service')
      })
    })

    test('lookup-self: Vault data block and time formats, one use spent', async () => {
      await withApi(async (endpoint, root) => {
        const before = Math.floor(Date.now() / 1000)
        const { auth } = await client(endpoint, root).tokenCreate({
          policies: ['app'],
          ttl: '1h',
          num_uses: 3,
          display_name: 'ci',
        })
        const { data } = await client(endpoint, auth.client_token).tokenLookupSelf()
        assert.equal(data.id, auth.client_token)
        assert.equal(data.accessor, auth.accessor)
        assert.equal(data.path, 'auth/token/create')
        assert.equal(data.display_name, 'token-ci')
        assert.equal(data.meta, null)
        assert.equal(data.num_uses, 2)
        assert.equal(data.orphan, false)
        assert.equal(data.type, 'service')
        assert.ok(Number.isInteger(data.creation_time) && data.creation_time >= before - 1)
        assert.equal(data.creation_ttl, 3600)
        assert.ok(data.ttl > 3590 && data.ttl <= 3600)
        assert.ok(data.expire_time !== null)
        const expires = Date.parse(data.expire_time) / 1000
        assert.ok(Math.abs(expires - (data.creation_time + 3600)) <= 1)
        assert.match(data.issue_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)
        assert.equal(data.period, undefined)
        assert.equal(data.last_renewal_time, undefined)

        const self = await client(endpoint, root).tokenLookupSelf()
        assert.equal(self.data.expire_time, null)
        assert.equal(self.data.ttl, 0)
        assert.deepEqual(self.data.policies, ['root'])
      })
    })

    test('renew, renew-self and renew-accessor: new TTL from now, last renewal shown', async () => {
      await withApi(async (endpoint, root) => {
        const { auth } = await client(endpoint, root).tokenCreate({ ttl: '10m' })
        const renewed = await client(endpoint, root).tokenRenew({
          token: auth.client_token,
          increment: '2h',
        })
        assert.equal(renewed.auth.lease_duration, 7200)
        assert.equal(renewed.auth.client_token, auth.client_token)
        const self = await client(endpoint, auth.client_token).tokenRenewSelf({ increment: 600 })
        assert.equal(self.auth.lease_duration, 600)
        const { data } = await client(endpoint, auth.client_token).tokenLookupSelf()
        assert.equal(typeof data.last_renewal_time, 'number')
        const byAccessor = await client(endpoint, root).write('auth/token/renew-accessor', {
          accessor: auth.accessor,
          increment: '30m',
        })
        assert.equal(byAccessor.auth.client_token, '')
        assert.equal(byAccessor.auth.lease_duration, 1800)
        const rootToken = client(endpoint, root)
        await rejectsWith(rootToken.tokenRenewSelf(), 400)
        await rejectsWith(rootToken.tokenRenew({ token: 'hvs.unknown' }), 400, 'token not found')
      })
    })

    test('revoke: the whole subtree goes, revoke-self too; unknown tokens are 204', async () => {
      await withApi(async (endpoint, root) => {
        const a = (await client(endpoint, root).tokenCreate({ policies: ['app'] })).auth
        const b = (await client(endpoint, a.client_token).tokenCreate({})).auth
        const c = (await client(endpoint, b.client_token).tokenCreate({})).auth
        assert.deepEqual(c.policies, ['app', 'default'])
        await client(endpoint, root).tokenRevoke({ token: a.client_token })
        for (const token of [a, b, c]) {
          await rejectsWith(
            client(endpoint, token.client_token).tokenLookupSelf(),
            403,
            'permission denied',
          )
        }
        await client(endpoint, root).tokenRevoke({ token: 'hvs.never-existed' })

        const d = (await client(endpoint, root).tokenCreate({})).auth
        await client(endpoint, d.client_token).tokenRevokeSelf()
        await rejectsWith(client(endpoint, d.client_token).tokenLookupSelf(), 403)
      })
    })

    test('revoke-orphan: root only; the children survive as orphans', async () => {
      await withApi(async (endpoint, root) => {
        const parent = (await client(endpoint, root).tokenCreate({ policies: ['app'] })).auth
        const child = (await client(endpoint, parent.client_token).tokenCreate({})).auth
        // Vault's handler asks for sudo on the path: 400, after the ACL let the update through.
        await rejectsWith(
          client(endpoint, parent.client_token).tokenRevokeOrphan({ token: parent.client_token }),
          400,
          'root or sudo privileges required to revoke and orphan',
        )
        await client(endpoint, root).tokenRevokeOrphan({ token: parent.client_token })
        await rejectsWith(client(endpoint, parent.client_token).tokenLookupSelf(), 403)
        const { data } = await client(endpoint, child.client_token).tokenLookupSelf()
        assert.equal(data.orphan, true)
        await rejectsWith(
          client(endpoint, root).tokenRevokeOrphan({ token: parent.client_token }),
          400,
          'token to revoke not found',
        )
      })
    })

    test('revoke-prefix: every token created at the path and its descendants; orphans elsewhere stay', async () => {
      await withApi(async (endpoint, root) => {
        const a = (await client(endpoint, root).tokenCreate({ policies: ['app'] })).auth
        const b = (await client(endpoint, a.client_token).tokenCreate({})).auth
        const orphan = (await client(endpoint, root).tokenCreateOrphan({})).auth
        const orphanChild = (await client(endpoint, orphan.client_token).tokenCreate({})).auth

        await rejectsWith(
          client(endpoint, a.client_token).revokePrefix({ path_prefix: 'auth/token/create' }),
          403,
        )
        await client(endpoint, root).revokePrefix({ path_prefix: 'auth/token/create' })
        await rejectsWith(client(endpoint, a.client_token).tokenLookupSelf(), 403)
        await rejectsWith(client(endpoint, b.client_token).tokenLookupSelf(), 403)
        // create-orphan's path is not under auth/token/create; its child is, and goes.
        assert.equal(
          (await client(endpoint, orphan.client_token).tokenLookupSelf()).data.path,
          'auth/token/create-orphan',
        )
        await rejectsWith(client(endpoint, orphanChild.client_token).tokenLookupSelf(), 403)

        // The newer path, as hvac and the vault CLI call it.
        await client(endpoint, root).write('sys/leases/revoke-prefix/auth/token/create-orphan', {})
        await rejectsWith(client(endpoint, orphan.client_token).tokenLookupSelf(), 403)
        await client(endpoint, root).tokenLookupSelf()
      })
    })

    test('create rules: no_parent, period and id need root; create-orphan stays within the caller (400, as Vault answers)', async () => {
      await withApi(async (endpoint, root) => {
        const app = (await client(endpoint, root).tokenCreate({ policies: ['app', 'extra'] })).auth
        const caller = client(endpoint, app.client_token)
        await rejectsWith(client(endpoint, app.client_token).tokenCreate({ no_parent: true }), 400)
        await rejectsWith(
          client(endpoint, app.client_token).write('auth/token/create', { period: '1h' }),
          400,
        )
        await rejectsWith(
          client(endpoint, app.client_token).tokenCreate({ policies: ['admin'] }),
          400,
        )

        const orphan = (await caller.tokenCreateOrphan({ policies: ['app'] })).auth
        assert.equal(orphan.orphan, true)
        assert.deepEqual(orphan.policies, ['app', 'default'])
        const inherited = (await client(endpoint, app.client_token).tokenCreateOrphan({})).auth
        assert.deepEqual(inherited.policies, ['app', 'default', 'extra'])
        await rejectsWith(
          client(endpoint, app.client_token).tokenCreateOrphan({ policies: ['root'] }),
          400,
        )
        await rejectsWith(
          client(endpoint, app.client_token).tokenCreateOrphan({ policies: ['admin'] }),
          400,
        )

        // An orphan outlives its creator's revocation: that is what create-orphan is for.
        await client(endpoint, root).tokenRevoke({ token: app.client_token })
        assert.equal(
          (await client(endpoint, orphan.client_token).tokenLookupSelf()).data.orphan,
          true,
        )

        const periodic = (
          await client(endpoint, root).write('auth/token/create', { period: '1h', policies: ['p'] })
        ).auth
        const { data } = await client(endpoint, periodic.client_token).tokenLookupSelf()
        assert.equal(data.period, 3600)
        const rootOrphan = (
          await client(endpoint, root).tokenCreate({ no_parent: true, ttl: '5m' })
        ).auth
        assert.equal(rootOrphan.orphan, true)
        assert.deepEqual(rootOrphan.policies, ['root'])
      })
    })

    test('accessor operations: root only by default; lookup-accessor hides the id', async () => {
      await withApi(async (endpoint, root) => {
        const target = (await client(endpoint, root).tokenCreate({ policies: ['app'] })).auth
        const other = (await client(endpoint, root).tokenCreate({ policies: ['app'] })).auth
        await rejectsWith(
          client(endpoint, other.client_token).tokenLookupAccessor({ accessor: target.accessor }),
          403,
        )
        await rejectsWith(
          client(endpoint, other.client_token).tokenRevokeAccessor({ accessor: target.accessor }),
          403,
        )
        const { data } = await client(endpoint, root).tokenLookupAccessor({
          accessor: target.accessor,
        })
        assert.equal(data.id, '')
        assert.equal(data.accessor, target.accessor)
        await client(endpoint, root).tokenRevokeAccessor({ accessor: target.accessor })
        await rejectsWith(client(endpoint, target.client_token).tokenLookupSelf(), 403)
        await rejectsWith(
          client(endpoint, root).tokenLookupAccessor({ accessor: target.accessor }),
          400,
          'invalid accessor',
        )
        const lookup = await client(endpoint, root).tokenLookup({ token: other.client_token })
        assert.equal(lookup.data.id, other.client_token)
      })
    })

    test('LIST via GET ?list=true: roles is an empty list (404), accessors lists the root token', async () => {
      await withApi(async (endpoint, root) => {
        await rejectsWith(client(endpoint, root).list('auth/token/roles'), 404)
        assert.equal(
          (await client(endpoint, root).list('auth/token/accessors')).data.keys.length,
          1,
        )
        const res = await call(`${endpoint}/v1/auth/token/roles?list=true`, { token: root })
        assert.deepEqual(res.json, { errors: [] })
      })
    })

    test('paths outside /v1 are not the API', async () => {
      await withApi(async (endpoint, root) => {
        const res = await call(`${endpoint}/other`, { token: root })
        assert.equal(res.status, host === 'node:http' ? 404 : 418)
      })
    })
  })
}
