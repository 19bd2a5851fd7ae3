/**
 * Every token and lease command of node-vault against the dev server's host, with node-vault's own HTTP verbs
 * (no `noCustomHTTPVerbs`), so `LIST` goes over the wire as `LIST`: tokenCreate, tokenCreateOrphan,
 * tokenCreateRole, tokenLookup, tokenLookupSelf, tokenLookupAccessor, tokenRenew, tokenRenewSelf, tokenRevoke,
 * tokenRevokeSelf, tokenRevokeOrphan, tokenRevokeAccessor, tokenRoles, addTokenRole, getTokenRole,
 * removeTokenRole, tokenAccessors, list, renew, revoke and revokePrefix.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import nodeVault from 'node-vault'

import { TokenStore } from '../../src/index.js'
import { createVaultServer } from '../../src/http/vault-api/server.js'
import { APP_POLICY, listen } from './helpers/servers.js'
import type { VaultClient } from './helpers/node-vault.js'

/** The commands used here that the shared helper does not type. */
interface MoreCommands {
  tokenCreateRole(args: object): Promise<{ auth: { client_token: string; policies: string[] } }>
  tokenRoles(): Promise<{ data: { keys: string[] } }>
  addTokenRole(args: object): Promise<unknown>
  tokenAccessors(): Promise<{ data: { keys: string[] } }>
}

function vault(endpoint: string, token: string): VaultClient & MoreCommands {
  return nodeVault({ endpoint, token })
}

/** The HTTP status node-vault rejected with. */
async function statusOf(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise
    return 200
  } catch (error) {
    return (error as { response?: { statusCode?: number } }).response?.statusCode
  }
}

test(
  'every node-vault token and lease command, with LIST on the wire',
  { timeout: 30_000 },
  async () => {
    const store = new TokenStore()
    const root = await store.createRoot()
    // The ACL decides, as in Vault: `app` tokens may create children and renew and revoke what they can name.
    await store.policies.write('app', APP_POLICY)
    const server = await listen(createVaultServer(store))
    const endpoint = server.url
    // A fresh client per call: node-vault switches a client to the token it just created (`tokenSource`).
    const admin = (): VaultClient & MoreCommands => vault(endpoint, root.clientToken)
    try {
      // Roles.
      await admin().addTokenRole({ role_name: 'ci', allowed_policies: 'deploy', orphan: true })
      assert.deepEqual((await admin().tokenRoles()).data.keys, ['ci'])
      assert.deepEqual((await admin().list('auth/token/roles')).data.keys, ['ci'])
      assert.deepEqual((await admin().getTokenRole({ role_name: 'ci' })).data.allowed_policies, [
        'deploy',
      ])
      const fromRole = await admin().tokenCreateRole({ role_name: 'ci', policies: ['deploy'] })
      assert.deepEqual(fromRole.auth.policies, ['default', 'deploy'])

      // Create, look up, renew.
      const parent = (await admin().tokenCreate({ policies: ['app'], ttl: '1h' })).auth
      const orphan = (await admin().tokenCreateOrphan({ ttl: '1h' })).auth
      assert.equal(orphan.orphan, true)
      const user = (): VaultClient & MoreCommands => vault(endpoint, parent.client_token)
      const child = (await user().tokenCreate({ ttl: '10m' })).auth
      assert.equal(
        (await admin().tokenLookup({ token: child.client_token })).data.path,
        'auth/token/create',
      )
      assert.equal((await user().tokenLookupSelf()).data.id, parent.client_token)
      const byAccessor = await admin().tokenLookupAccessor({ accessor: child.accessor })
      assert.equal(byAccessor.data.id, '')
      assert.equal(
        (await admin().tokenRenew({ token: child.client_token, increment: '20m' })).auth
          .lease_duration,
        1200,
      )
      assert.equal((await user().tokenRenewSelf({ increment: 600 })).auth.lease_duration, 600)

      // Listing accessors reaches the API over LIST.
      const listed = await statusOf(admin().tokenAccessors())
      assert.ok(listed === 200 || listed === 501, `LIST auth/token/accessors: ${String(listed)}`)

      // Leases.
      const lease = await store.createLease(parent.client_token, {
        path: 'aws/creds/deploy',
        ttl: '10m',
      })
      const renewed = await admin().renew({ lease_id: lease.leaseId, increment: 300 })
      assert.equal(renewed.lease_id, lease.leaseId)
      assert.equal(renewed.lease_duration, 300)
      await admin().revoke({ lease_id: lease.leaseId })
      assert.equal(await store.lookupLease(lease.leaseId), null)

      // Revocations.
      await admin().tokenRevokeOrphan({ token: parent.client_token })
      assert.equal((await admin().tokenLookup({ token: child.client_token })).data.orphan, true)
      await admin().tokenRevokeAccessor({ accessor: child.accessor })
      assert.equal(await store.lookup(child.client_token), null)
      await vault(endpoint, orphan.client_token).tokenRevokeSelf()
      assert.equal(await store.lookup(orphan.client_token), null)
      const last = (await admin().tokenCreate({ ttl: '1h' })).auth
      await admin().tokenRevoke({ token: last.client_token })
      assert.equal(await store.lookup(last.client_token), null)
      await admin().revokePrefix({ path_prefix: 'auth/token/create/ci' })
      assert.equal(await store.lookup(fromRole.auth.client_token), null)
      await admin().removeTokenRole({ role_name: 'ci' })
      assert.equal(await statusOf(admin().tokenRoles()), 404)
    } finally {
      await server.close()
    }
  },
)
