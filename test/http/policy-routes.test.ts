/**
 * The Vault API's policy and capabilities endpoints, and its ACL enforcement, driven by node-vault (its policy
 * methods, and `read`/`write`/`list`/`delete` for the newer paths) against node:http, Express and Koa.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import type { TokenStore } from '../../src/index.js'
import type { VaultApiOptions } from '../../src/http/vault-api/types.js'
import { client, rejectsWith, type VaultClient } from './helpers/node-vault.js'
import { VAULT_HOSTS, call, withVaultApi } from './helpers/servers.js'

/** node-vault's policy methods, typed. */
interface PolicyClient extends VaultClient {
  policies(): Promise<{ policies: string[]; data: { keys: string[]; policies: string[] } }>
  addPolicy(args: { name: string; rules: string }): Promise<unknown>
  getPolicy(args: {
    name: string
  }): Promise<{ name: string; rules: string; data: { rules: string } }>
  removePolicy(args: { name: string }): Promise<unknown>
}

const READER = 'path "secret/*" { capabilities = ["read", "list"] }'

/** Writes policy `name` through the API, then creates a token holding it (by root) and returns its id. */
async function tokenWithPolicy(
  endpoint: string,
  root: string,
  name: string,
  rules: string,
): Promise<string> {
  await client(endpoint, root).write(`sys/policy/${name}`, { policy: rules })
  // node-vault's tokenCreate switches the client to the new token: one client per call.
  return (await client(endpoint, root).tokenCreate({ policies: [name] })).auth.client_token
}

for (const [host, makeServer] of Object.entries(VAULT_HOSTS)) {
  describe(`Vault API policies over ${host}`, () => {
    const withApi = (
      run: (endpoint: string, root: string, store: TokenStore) => Promise<void>,
      options?: VaultApiOptions,
    ): Promise<void> => withVaultApi(makeServer, run, options)

    test('node-vault policies/addPolicy/getPolicy/removePolicy: sys/policy with Vault shapes', async () => {
      await withApi(async (endpoint, root) => {
        const vault = client(endpoint, root) as PolicyClient
        assert.equal(await vault.addPolicy({ name: 'reader', rules: READER }), '')
        const read = await vault.getPolicy({ name: 'Reader' })
        assert.equal(read.name, 'reader')
        assert.equal(read.rules, READER)
        assert.equal(read.data.rules, READER)
        const listed = await vault.policies()
        assert.deepEqual(listed.policies, ['app', 'default', 'reader', 'root'])
        assert.deepEqual(listed.data.keys, listed.policies)
        await vault.removePolicy({ name: 'reader' })
        await rejectsWith(vault.getPolicy({ name: 'reader' }), 404)
        await rejectsWith(
          vault.removePolicy({ name: 'default' }),
          400,
          'cannot delete default policy',
        )
        await rejectsWith(
          vault.addPolicy({ name: 'root', rules: READER }),
          400,
          'cannot update root policy',
        )
        await rejectsWith(vault.addPolicy({ name: 'bad', rules: 'path "x" {' }), 400)
        await rejectsWith(vault.addPolicy({ name: 'empty', rules: '' }), 400)
      })
    })

    test('sys/policies/acl: LIST, read (data.policy), write, delete', async () => {
      await withApi(async (endpoint, root) => {
        const vault = client(endpoint, root)
        await vault.write('sys/policies/acl/reader', { policy: READER })
        const read = await vault.read('sys/policies/acl/reader')
        assert.deepEqual(read.data, { name: 'reader', policy: READER })
        assert.ok((await vault.list('sys/policies/acl')).data.keys.includes('reader'))
        await vault.delete('sys/policies/acl/reader')
        assert.ok(!(await vault.list('sys/policies/acl')).data.keys.includes('reader'))
      })
    })

    test('sys/capabilities, -self and -accessor: Vault shapes; default allows only -self', async () => {
      await withApi(async (endpoint, root) => {
        const vault = client(endpoint, root)
        await vault.write('sys/policy/reader', { policy: READER })
        const { auth } = await client(endpoint, root).tokenCreate({ policies: ['reader'] })
        const one = await vault.write('sys/capabilities', {
          token: auth.client_token,
          path: 'secret/a',
        })
        assert.deepEqual(one.data, { capabilities: ['list', 'read'], 'secret/a': ['list', 'read'] })
        const many = await vault.write('sys/capabilities-accessor', {
          accessor: auth.accessor,
          paths: ['secret/a', 'other'],
        })
        assert.deepEqual(many.data, { 'secret/a': ['list', 'read'], other: ['deny'] })
        const self = await client(endpoint, auth.client_token).write('sys/capabilities-self', {
          paths: 'auth/token/create,auth/token/lookup-self',
        })
        assert.deepEqual(self.data['auth/token/lookup-self'], ['read'])
        assert.deepEqual(self.data['auth/token/create'], ['deny'])
        assert.deepEqual((await vault.write('sys/capabilities-self', { path: 'x' })).data, {
          capabilities: ['root'],
          x: ['root'],
        })
        // Paths named like Object.prototype's members are keys like any other.
        const odd = await call(`${endpoint}/v1/sys/capabilities-self`, {
          token: root,
          body: { paths: ['__proto__', 'constructor', 'toString'] },
        })
        assert.equal(odd.status, 200)
        assert.deepEqual(Object.keys((JSON.parse(odd.text) as { data: object }).data), [
          '__proto__',
          'constructor',
          'toString',
        ])
        assert.match(odd.text, /"__proto__":\["root"\]/)
        await rejectsWith(
          client(endpoint, auth.client_token).write('sys/capabilities', {
            token: root,
            path: 'x',
          }),
          403,
        )
        await rejectsWith(vault.write('sys/capabilities', { token: 'hvs.nope', path: 'x' }), 400)
      })
    })

    test('sudo endpoints need sudo on their path; root passes everything', async () => {
      await withApi(async (endpoint, root) => {
        const ops = await tokenWithPolicy(
          endpoint,
          root,
          'ops',
          `
path "sys/leases/revoke-prefix/*" { capabilities = ["update"] }
path "auth/token/accessors" { capabilities = ["list"] }
`,
        )
        const sudo = await tokenWithPolicy(
          endpoint,
          root,
          'ops-sudo',
          'path "sys/leases/revoke-prefix/*" { capabilities = ["update", "sudo"] }',
        )
        const url = `${endpoint}/v1/sys/leases/revoke-prefix/auth/token/none`
        assert.equal((await call(url, { method: 'PUT', token: ops, body: {} })).status, 403)
        assert.equal((await call(url, { method: 'PUT', token: sudo, body: {} })).status, 204)
        assert.equal((await call(url, { method: 'PUT', token: root, body: {} })).status, 204)
        const accessors = `${endpoint}/v1/auth/token/accessors?list=true`
        assert.equal((await call(accessors, { token: ops })).status, 403)
      })
    })

    test('a listing is authorized as a folder, as Vault does: `x/` and `x/*` rules apply, a deny on them holds', async () => {
      await withApi(async (endpoint, root) => {
        const token = await tokenWithPolicy(
          endpoint,
          root,
          'lister',
          `
path "auth/token/roles/*" { capabilities = ["list"] }
path "sys/policies/acl/" { capabilities = ["list"] }
path "auth/token/*" { capabilities = ["list", "read", "sudo"] }
path "auth/token/accessors/" { capabilities = ["deny"] }
`,
        )
        const status = async (path: string): Promise<number> =>
          (await call(`${endpoint}/v1/${path}`, { token })).status
        // Roles are listed empty (404 with no keys, as Vault answers); the ACL let the request through.
        assert.equal(await status('auth/token/roles?list=true'), 404)
        assert.equal(await status('sys/policies/acl?list=true'), 200)
        assert.equal(await status('auth/token/accessors?list=true'), 403)
        assert.equal(await status('auth/token/accessors/?list=true'), 403)
        // Root lists accessors: the deny above is the only reason for the 403s.
        const listed = await call(`${endpoint}/v1/auth/token/accessors?list=true`, { token: root })
        assert.equal(listed.status, 200)
      })
    })

    test('a policy name is checked as the store will write it: a deny on its lower-case name holds for every spelling', async () => {
      await withApi(async (endpoint, root) => {
        const vault = client(endpoint, root)
        const manager = `
path "sys/policy/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "sys/policies/acl/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "sys/policy/admin" { capabilities = ["deny"] }
path "sys/policies/acl/admin" { capabilities = ["deny"] }
path "sys/policy/default" { capabilities = ["deny"] }
`
        await vault.write('sys/policy/manager', { policy: manager })
        await vault.write('sys/policy/admin', { policy: READER })
        const token = (await client(endpoint, root).tokenCreate({ policies: ['manager'] })).auth
          .client_token
        const rules = { policy: 'path "*" { capabilities = ["sudo", "update"] }' }
        for (const name of ['admin', 'ADMIN', 'Admin', '%20admin', 'admin%20', 'Default']) {
          for (const base of ['sys/policy', 'sys/policies/acl']) {
            if (base === 'sys/policies/acl' && name === 'Default') continue
            const url = `${endpoint}/v1/${base}/${name}`
            assert.equal((await call(url, { method: 'PUT', token, body: rules })).status, 403, url)
            assert.equal((await call(url, { method: 'DELETE', token })).status, 403, url)
            assert.equal((await call(url, { token })).status, 403, url)
          }
        }
        assert.equal((await vault.read('sys/policy/admin')).data.rules, READER)
        assert.match(String((await vault.read('sys/policy/default')).data.rules), /lookup-self/)
        // Any other name is the manager's to write, in any spelling.
        const other = `${endpoint}/v1/sys/policy/Other`
        assert.equal((await call(other, { method: 'PUT', token, body: rules })).status, 204)
        assert.equal((await vault.read('sys/policy/other')).data.rules, rules.policy)
      })
    })

    test('role writes: create for a new role, update for an existing one (Vault’s existence check)', async () => {
      await withApi(async (endpoint, root) => {
        const creator = await tokenWithPolicy(
          endpoint,
          root,
          'roles-create',
          'path "auth/token/roles/*" { capabilities = ["create"] }',
        )
        const roles = `${endpoint}/v1/auth/token/roles/ci`
        const body = { allowed_policies: ['app'] }
        assert.equal((await call(roles, { token: creator, body })).status, 204)
        assert.equal((await call(roles, { token: creator, body })).status, 403)
      })
    })

    test('an authorize hook replaces the ACL', async () => {
      await withApi(
        async (endpoint, root) => {
          const { auth } = await client(endpoint, root).tokenCreate({ policies: ['default'] })
          const caps = `${endpoint}/v1/sys/capabilities-self`
          const self = await call(caps, { token: auth.client_token, body: { path: 'x' } })
          assert.equal(self.status, 403, 'the hook refuses what default allows')
          const create = await call(`${endpoint}/v1/auth/token/create`, {
            token: auth.client_token,
            body: {},
          })
          assert.equal(create.status, 200, 'and allows what default does not')
        },
        { authorize: ({ operation }) => operation === 'create' },
      )
    })

    test('under an authorize hook, the sudo endpoints stay root-only, listing accessors included', async () => {
      await withApi(
        async (endpoint, root) => {
          const { auth } = await client(endpoint, root).tokenCreate({ policies: ['default'] })
          const token = auth.client_token
          const accessors = `${endpoint}/v1/auth/token/accessors?list=true`
          assert.equal((await call(accessors, { token })).status, 403)
          const prefix = `${endpoint}/v1/sys/leases/revoke-prefix/auth/token/none`
          assert.equal((await call(prefix, { method: 'PUT', token, body: {} })).status, 403)
          assert.equal((await call(accessors, { token: root })).status, 200)
        },
        { authorize: () => true },
      )
    })
  })
}
