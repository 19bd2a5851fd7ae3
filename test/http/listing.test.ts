/**
 * Vault's listings over HTTP, with `GET ?list=true` (node-vault's `list()` with `noCustomHTTPVerbs`):
 * `auth/token/accessors`, `sys/leases/lookup/:prefix`, and `sys/leases/revoke-force/:prefix`, on every host.
 * node-vault's create methods replace the client's token with the new one, so each call gets a fresh client.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { client, rejectsWith } from './helpers/node-vault.js'
import { VAULT_HOSTS, call, withVaultApi } from './helpers/servers.js'

for (const [host, make] of Object.entries(VAULT_HOSTS)) {
  describe(`Vault listings (${host})`, () => {
    test('LIST auth/token/accessors: every live token, in Vault’s shape; root only', async () => {
      await withVaultApi(make, async (endpoint, root, store) => {
        const vault = client(endpoint, root)
        const created = []
        for (let i = 0; i < 3; i++)
          created.push(
            (await client(endpoint, root).tokenCreate({ ttl: '1h', policies: ['default'] })).auth,
          )
        const [first, second, third] = created
        assert.ok(first && second && third)
        await vault.tokenRevokeAccessor({ accessor: second.accessor })
        const rootAccessor = (await store.lookup(root))?.accessor
        const answer = await vault.list('auth/token/accessors')
        assert.deepEqual(
          new Set(answer.data.keys),
          new Set([rootAccessor, first.accessor, third.accessor]),
        )
        assert.equal(answer.data.keys.length, 3)
        // Both spellings, and Vault's `list=true`.
        const res = await call(`${endpoint}/v1/auth/token/accessors/?list=true`, { token: root })
        assert.equal(res.status, 200)
        assert.deepEqual(
          new Set((res.json as { data: { keys: string[] } }).data.keys),
          new Set(answer.data.keys),
        )
        // A non-root token may not list (Vault: sudo); a read of the list path is not a listing.
        await rejectsWith(client(endpoint, first.client_token).list('auth/token/accessors'), 403)
        assert.equal(
          (await call(`${endpoint}/v1/auth/token/accessors`, { token: root })).status,
          405,
        )
      })
    })

    test('LIST sys/leases/lookup/:prefix: the next segments, folders with a trailing /', async () => {
      await withVaultApi(make, async (endpoint, root, store) => {
        const vault = client(endpoint, root)
        const ids: string[] = []
        for (const path of [
          'aws/creds/deploy',
          'aws/creds/deploy',
          'aws/creds/ops',
          'db/creds/app',
        ]) {
          ids.push((await store.createLease(root, { path, ttl: '1h' })).leaseId)
        }
        assert.deepEqual((await vault.list('sys/leases/lookup')).data.keys, ['aws/', 'db/'])
        assert.deepEqual((await vault.list('sys/leases/lookup/')).data.keys, ['aws/', 'db/'])
        assert.deepEqual((await vault.list('sys/leases/lookup/aws/creds')).data.keys, [
          'deploy/',
          'ops/',
        ])
        assert.deepEqual((await vault.list('sys/leases/lookup/aws/creds/')).data.keys, [
          'deploy/',
          'ops/',
        ])
        const suffixes = ids.slice(0, 2).map((id) => id.slice('aws/creds/deploy/'.length))
        assert.deepEqual(
          (await vault.list('sys/leases/lookup/aws/creds/deploy')).data.keys,
          suffixes.sort(),
        )
        // Nothing below: 404 with no messages, as Vault answers an empty listing.
        const empty = await call(`${endpoint}/v1/sys/leases/lookup/gcp?list=true`, { token: root })
        assert.equal(empty.status, 404)
        assert.deepEqual(empty.json, { errors: [] })
        await rejectsWith(vault.list('sys/leases/lookup/aws-old'), 404)
        // Sudo in Vault: root only.
        const child = (
          await client(endpoint, root).tokenCreate({ ttl: '1h', policies: ['default'] })
        ).auth
        await rejectsWith(client(endpoint, child.client_token).list('sys/leases/lookup/aws'), 403)
        // A malformed prefix is a bad request.
        const bad = await call(`${endpoint}/v1/sys/leases/lookup/a%20b?list=true`, { token: root })
        assert.equal(bad.status, 400)
      })
    })

    test('sys/leases/revoke-force/:prefix revokes the leases (and tokens) below the prefix; root only', async () => {
      await withVaultApi(make, async (endpoint, root, store) => {
        const vault = client(endpoint, root)
        const doomed = await store.createLease(root, { path: 'aws/creds/deploy', ttl: '1h' })
        const kept = await store.createLease(root, { path: 'aws-old/creds/deploy', ttl: '1h' })
        const child = (
          await client(endpoint, root).tokenCreate({ ttl: '1h', policies: ['default'] })
        ).auth
        const denied = await call(`${endpoint}/v1/sys/leases/revoke-force/aws`, {
          method: 'PUT',
          token: child.client_token,
        })
        assert.equal(denied.status, 403)
        assert.ok(await store.lookupLease(doomed.leaseId))
        const revoked: string[] = []
        store.on('revoked', (event) => {
          if (event.kind === 'lease') revoked.push(event.leaseId)
        })
        const res = await call(`${endpoint}/v1/sys/leases/revoke-force/aws`, {
          method: 'PUT',
          token: root,
        })
        assert.equal(res.status, 204)
        assert.deepEqual(revoked, [doomed.leaseId])
        assert.equal(await store.lookupLease(doomed.leaseId), null)
        assert.ok(await store.lookupLease(kept.leaseId))
        const old = await call(`${endpoint}/v1/sys/revoke-force/aws-old`, {
          method: 'PUT',
          token: root,
        })
        assert.equal(old.status, 204)
        assert.equal(await store.lookupLease(kept.leaseId), null)
        await rejectsWith(vault.list('sys/leases/lookup'), 404)
      })
    })
  })
}
