/**
 * Token roles, batch tokens and leases through the Vault-compatible API, driven by node-vault against each host
 * (node:http, Express, Koa). Leases are created in-process with `store.createLease()`, as a host handing out a
 * secret would: Vault has no endpoint that creates one.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import type { RevokedEvent, TokenStore } from '../../src/index.js'
import type { VaultApiOptions } from '../../src/http/vault-api/types.js'
import { client, rejectsWith } from './helpers/node-vault.js'
import { VAULT_HOSTS, call, withVaultApi } from './helpers/servers.js'

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/

for (const [host, makeServer] of Object.entries(VAULT_HOSTS)) {
  describe(`Vault API over ${host}: roles, batch tokens and leases, through node-vault`, () => {
    const withApi = (
      run: (endpoint: string, root: string, store: TokenStore) => Promise<void>,
      options?: VaultApiOptions,
    ): Promise<void> => withVaultApi(makeServer, run, options)

    test('roles: write, read (snake_case, seconds), partial update, list, delete', async () => {
      await withApi(async (endpoint, root, store) => {
        const vault = client(endpoint, root)
        await rejectsWith(vault.list('auth/token/roles'), 404)
        await vault.write('auth/token/roles/ci', {
          allowed_policies: 'deploy, read',
          disallowed_policies: ['admin'],
          allowed_policies_glob: ['team-*'],
          orphan: true,
          path_suffix: 'v1',
          token_period: '1h',
          token_explicit_max_ttl: 86400,
        })
        const { data } = await vault.getTokenRole({ role_name: 'ci' })
        assert.deepEqual(data, {
          name: 'ci',
          allowed_policies: ['deploy', 'read'],
          disallowed_policies: ['admin'],
          allowed_policies_glob: ['team-*'],
          disallowed_policies_glob: [],
          allowed_entity_aliases: null,
          orphan: true,
          renewable: true,
          path_suffix: 'v1',
          token_period: 3600,
          period: 3600,
          token_explicit_max_ttl: 86400,
          explicit_max_ttl: 86400,
          token_type: 'default-service',
          token_no_default_policy: false,
        })

        // A write updates the fields it sends and keeps the others, as in Vault.
        await vault.write('auth/token/roles/ci', { token_num_uses: 5, token_type: 'service' })
        const updated = (await vault.read('auth/token/roles/ci')).data
        assert.equal(updated.token_num_uses, 5)
        assert.equal(updated.token_type, 'service')
        assert.deepEqual(updated.allowed_policies, ['deploy', 'read'])
        assert.equal((await store.roles.read('ci'))?.tokenNumUses, 5)

        // Both a field and its deprecated name: the `token_` one wins, with Vault's warning.
        const warned = await vault.write('auth/token/roles/ci', { period: 60, token_period: 120 })
        assert.equal(warned.warnings?.length, 1)
        assert.equal((await vault.getTokenRole({ role_name: 'ci' })).data.token_period, 120)

        await vault.write('auth/token/roles/other', {})
        assert.deepEqual((await vault.list('auth/token/roles')).data.keys, ['ci', 'other'])
        assert.equal(await vault.removeTokenRole({ role_name: 'other' }), '')
        await vault.delete('auth/token/roles/never-was')
        await rejectsWith(vault.getTokenRole({ role_name: 'other' }), 404)
        const missing = await call(`${endpoint}/v1/auth/token/roles/other`, { token: root })
        assert.deepEqual(missing.json, { errors: [] })
        assert.deepEqual((await vault.list('auth/token/roles')).data.keys, ['ci'])
        await rejectsWith(vault.write('auth/token/roles/bad', { token_type: 'weird' }), 400)
        await rejectsWith(vault.write('auth/token/roles/bad', { bound_cidrs: ['10.0.0.0/8'] }), 400)
        assert.equal(await store.roles.read('bad'), null)
      })
    })

    test('create against a role: its lists, path suffix and orphan flag apply; revoke by its path prefix', async () => {
      await withApi(async (endpoint, root) => {
        const vault = client(endpoint, root)
        await vault.write('auth/token/roles/deployer', {
          allowed_policies: ['deploy', 'read'],
          path_suffix: 'v2',
          token_period: '30m',
        })
        const { auth } = await client(endpoint, root).write('auth/token/create/deployer', {
          policies: ['deploy'],
          // Ignored with a role, as in Vault: the role's `orphan` (false) decides.
          no_parent: true,
        })
        assert.deepEqual(auth.policies, ['default', 'deploy'])
        assert.equal(auth.orphan, false)
        assert.equal(auth.token_type, 'service')
        assert.equal(auth.lease_duration, 1800)
        const { data } = await client(endpoint, auth.client_token).tokenLookupSelf()
        assert.equal(data.path, 'auth/token/create/deployer/v2')
        assert.equal(data.role, 'deployer')
        assert.equal(data.period, 1800)
        const plain = (await client(endpoint, root).tokenCreate({ policies: ['deploy'] })).auth
        const plainData = (await client(endpoint, plain.client_token).tokenLookupSelf()).data
        assert.equal(plainData.role, undefined)

        // Beyond the role's allowed policies: Vault's ErrInvalidRequest, 400.
        await rejectsWith(
          client(endpoint, root).write('auth/token/create/deployer', { policies: ['admin'] }),
          400,
        )
        await rejectsWith(client(endpoint, root).write('auth/token/create/nope', {}), 400)

        const sibling = (await client(endpoint, root).write('auth/token/create/deployer', {})).auth
        assert.deepEqual(sibling.policies, ['default', 'deploy', 'read'])
        await client(endpoint, root).revokePrefix({ path_prefix: 'auth/token/create/deployer' })
        await rejectsWith(client(endpoint, auth.client_token).tokenLookupSelf(), 403)
        await rejectsWith(client(endpoint, sibling.client_token).tokenLookupSelf(), 403)
        assert.equal(
          (await client(endpoint, plain.client_token).tokenLookupSelf()).data.path,
          'auth/token/create',
        )
      })
    })

    test('roles need root by default; authorize is told the role and may allow creating against it', async () => {
      const authorize: VaultApiOptions['authorize'] = ({ operation, caller, role }) =>
        caller.policies.includes('root') ||
        (operation === 'create-with-role' && role === 'ci' && caller.policies.includes('ops'))
      await withApi(
        async (endpoint, root) => {
          await client(endpoint, root).write('auth/token/roles/ci', {
            allowed_policies: ['deploy'],
          })
          await client(endpoint, root).write('auth/token/roles/admin', {
            allowed_policies: ['admin'],
          })
          const ops = (await client(endpoint, root).tokenCreate({ policies: ['ops'] })).auth
          const asOps = (): ReturnType<typeof client> => client(endpoint, ops.client_token)
          await rejectsWith(asOps().getTokenRole({ role_name: 'ci' }), 403)
          await rejectsWith(asOps().write('auth/token/roles/ci', { orphan: true }), 403)
          await rejectsWith(asOps().removeTokenRole({ role_name: 'ci' }), 403)
          await rejectsWith(asOps().list('auth/token/roles'), 403)
          await rejectsWith(asOps().write('auth/token/create/admin', {}), 403)
          // The role grants `deploy`, which `ops` does not hold: that is what roles are for.
          const minted = (await asOps().write('auth/token/create/ci', {})).auth
          assert.deepEqual(minted.policies, ['default', 'deploy'])
        },
        { authorize },
      )
      await withApi(async (endpoint, root) => {
        await client(endpoint, root).write('auth/token/roles/ci', {})
        const user = (await client(endpoint, root).tokenCreate({ policies: ['ops'] })).auth
        await rejectsWith(
          client(endpoint, user.client_token).write('auth/token/create/ci', {}),
          403,
        )
      })
    })

    test('batch tokens: hvb. token, token_type batch, lookup-self works; no renew, revoke or children', async () => {
      await withApi(async (endpoint, root) => {
        const parent = (await client(endpoint, root).tokenCreate({ policies: ['app'] })).auth
        const { auth } = await client(endpoint, parent.client_token).write('auth/token/create', {
          type: 'batch',
          ttl: '10m',
          meta: { job: 'x' },
        })
        assert.match(auth.client_token, /^hvb\./)
        assert.equal(auth.token_type, 'batch')
        assert.equal(auth.renewable, false)
        assert.equal(auth.accessor, '')
        assert.equal(auth.orphan, false)
        assert.equal(auth.lease_duration, 600)
        assert.deepEqual(auth.policies, ['app', 'default'])

        const batch = client(endpoint, auth.client_token)
        const { data } = await batch.tokenLookupSelf()
        assert.equal(data.type, 'batch')
        assert.equal(data.id, auth.client_token)
        assert.equal(data.accessor, '')
        assert.deepEqual(data.meta, { job: 'x' })
        assert.equal(data.renewable, false)
        assert.ok(data.ttl > 590 && data.ttl <= 600)
        assert.match(data.issue_time, RFC3339)
        assert.equal(
          (await client(endpoint, root).tokenLookup({ token: auth.client_token })).data.type,
          'batch',
        )

        await rejectsWith(client(endpoint, auth.client_token).tokenRenewSelf(), 400)
        await rejectsWith(client(endpoint, root).tokenRevoke({ token: auth.client_token }), 400)
        await rejectsWith(client(endpoint, auth.client_token).tokenRevokeSelf(), 400)
        // Vault's handler refuses a batch parent with 400 and its own message.
        const batchParent = 'batch tokens cannot create more tokens'
        await rejectsWith(client(endpoint, auth.client_token).tokenCreate({}), 400, batchParent)
        await rejectsWith(
          client(endpoint, auth.client_token).tokenCreateOrphan({}),
          400,
          batchParent,
        )
        await rejectsWith(client(endpoint, root).write('auth/token/create', { type: 'x' }), 400)

        // It goes with its parent.
        await client(endpoint, root).tokenRevoke({ token: parent.client_token })
        await rejectsWith(client(endpoint, auth.client_token).tokenLookupSelf(), 403)

        // A role may make every token batch; create-orphan issues orphan batch tokens.
        await client(endpoint, root).write('auth/token/roles/b', {
          token_type: 'batch',
          orphan: true,
          renewable: false,
          allowed_policies: 'app',
        })
        const fromRole = (await client(endpoint, root).write('auth/token/create/b', {})).auth
        assert.equal(fromRole.token_type, 'batch')
        assert.equal(fromRole.orphan, true)
        const orphan = (
          await client(endpoint, root).write('auth/token/create-orphan', {
            type: 'batch',
            policies: ['app'],
          })
        ).auth
        assert.equal(orphan.token_type, 'batch')
        assert.equal(
          (await client(endpoint, orphan.client_token).tokenLookupSelf()).data.orphan,
          true,
        )
      })
    })

    test('leases: lookup, renew and revoke through sys/leases/*, and the older sys/renew, sys/revoke', async () => {
      await withApi(async (endpoint, root, store) => {
        const revoked: RevokedEvent[] = []
        store.on('revoked', (event) => revoked.push(event))
        const user = (await client(endpoint, root).tokenCreate({ policies: ['app'] })).auth
        const grant = await store.createLease(user.client_token, {
          path: 'aws/creds/deploy',
          ttl: '1h',
          data: { keyId: 'AKIA1' },
        })

        const looked = await client(endpoint, user.client_token).write('sys/leases/lookup', {
          lease_id: grant.leaseId,
        })
        assert.deepEqual(Object.keys(looked.data).sort(), [
          'expire_time',
          'id',
          'issue_time',
          'last_renewal',
          'renewable',
          'ttl',
        ])
        assert.equal(looked.data.id, grant.leaseId)
        assert.equal(looked.data.renewable, true)
        assert.equal(looked.data.last_renewal, null)
        assert.match(String(looked.data.issue_time), RFC3339)
        assert.match(String(looked.data.expire_time), RFC3339)
        assert.ok(Number(looked.data.ttl) > 3590 && Number(looked.data.ttl) <= 3600)

        // Any token may renew a lease whose id it presents, as Vault's default policy allows.
        const renewed = await client(endpoint, user.client_token).renew({
          lease_id: grant.leaseId,
          increment: 7200,
        })
        assert.equal(renewed.lease_id, grant.leaseId)
        assert.equal(renewed.renewable, true)
        assert.equal(renewed.lease_duration, 7200)
        const after = await client(endpoint, root).write('sys/leases/lookup', {
          lease_id: grant.leaseId,
        })
        assert.match(String(after.data.last_renewal), RFC3339)
        const old = await client(endpoint, root).write(`sys/renew/${grant.leaseId}`, {
          increment: '30m',
        })
        assert.equal(old.lease_duration, 1800)

        // Revoking needs root by default.
        await rejectsWith(
          client(endpoint, user.client_token).revoke({ lease_id: grant.leaseId }),
          403,
        )
        assert.equal(revoked.length, 0)
        assert.equal(await client(endpoint, root).revoke({ lease_id: grant.leaseId }), '')
        assert.deepEqual(
          revoked.map((event) => event.kind === 'lease' && event.leaseId),
          [grant.leaseId],
        )
        await rejectsWith(
          client(endpoint, root).write('sys/leases/lookup', { lease_id: grant.leaseId }),
          400,
          'invalid lease',
        )
        await rejectsWith(client(endpoint, root).renew({ lease_id: grant.leaseId }), 400)
        await rejectsWith(
          client(endpoint, root).write('sys/leases/lookup', {}),
          400,
          'lease_id must be specified',
        )

        // A body naming another lease than the path is refused: the ACL checked the path's (stricter than Vault).
        const kept = await store.createLease(user.client_token, { path: 'secret/admin/db' })
        const decoy = await store.createLease(user.client_token, { path: 'aws/creds/dev' })
        for (const action of ['revoke', 'renew']) {
          const mismatch = await call(`${endpoint}/v1/sys/leases/${action}/${decoy.leaseId}`, {
            method: 'PUT',
            token: root,
            body: { lease_id: kept.leaseId },
          })
          assert.equal(mismatch.status, 400, action)
          assert.deepEqual(mismatch.json, {
            errors: ['the lease_id in the body differs from the one in the path'],
          })
        }
        assert.ok(await store.lookupLease(kept.leaseId), 'the body’s lease is untouched')
        await client(endpoint, root).write(`sys/leases/revoke/${decoy.leaseId}`, {
          lease_id: decoy.leaseId,
        })
        await client(endpoint, root).write(`sys/leases/revoke/${kept.leaseId}`, {})

        // The older path, the lease id in the URL, and sync=false (202, which node-vault counts as an error).
        const second = await store.createLease(user.client_token, { path: 'db/creds/ro' })
        await client(endpoint, root).write(`sys/revoke/${second.leaseId}`, {})
        assert.equal(await store.lookupLease(second.leaseId), null)
        const third = await store.createLease(user.client_token, {
          path: 'db/creds/ro',
          renewable: false,
        })
        await rejectsWith(client(endpoint, root).renew({ lease_id: third.leaseId }), 400)
        const lazy = await call(`${endpoint}/v1/sys/leases/revoke`, {
          method: 'PUT',
          token: root,
          body: { lease_id: third.leaseId, sync: false },
        })
        assert.equal(lazy.status, 202)
        assert.equal(lazy.text, '')
        assert.equal(await store.lookupLease(third.leaseId), null)
        assert.equal(revoked.length, 5)
      })
    })
  })
}
