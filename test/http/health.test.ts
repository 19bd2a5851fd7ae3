/**
 * `sys/health` asks the storage (`store.ping()`): storage down is a 500 with Vault's empty error list, as Vault
 * answers when its storage fails while it checks its state; a storage that is not set up is a 500 on every route.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { MemoryStorage, TokenStore, TokenStoreError } from '../../src/index.js'
import { overrideStorage } from '../helpers/storage.js'
import { VAULT_HOSTS, call, listen } from './helpers/servers.js'

for (const [host, makeServer] of Object.entries(VAULT_HOSTS)) {
  describe(`sys/health over ${host}`, () => {
    test('200 while storage answers; 500 with {"errors":[]} while it does not; back to 200 after', async () => {
      let down = false
      let pings = 0
      const storage = overrideStorage(new MemoryStorage(), {
        ping: () => {
          pings += 1
          return down ? Promise.reject(new Error('ECONNREFUSED')) : Promise.resolve()
        },
      })
      const store = new TokenStore({ storage, timers: false })
      const server = await listen(makeServer(store))
      try {
        const up = await call(`${server.url}/v1/sys/health`)
        assert.equal(up.status, 200)
        assert.equal((up.json as { sealed: boolean }).sealed, false)
        assert.equal(pings, 1)
        down = true
        const failed = await call(`${server.url}/v1/sys/health`)
        assert.equal(failed.status, 500)
        assert.deepEqual(failed.json, { errors: [] })
        // activecode applies to a healthy node only.
        assert.equal((await call(`${server.url}/v1/sys/health?activecode=204`)).status, 500)
        const head = await call(`${server.url}/v1/sys/health`, { method: 'HEAD' })
        assert.equal(head.status, 500)
        assert.equal(head.text, '')
        // Malformed parameters are still a 400, checked before the storage.
        assert.equal((await call(`${server.url}/v1/sys/health?activecode=abc`)).status, 400)
        // So are codes that cannot end an answer: Node refuses those under 100, and a 1xx leaves the client waiting.
        for (const code of ['000', '099', '100', '101', '199', '1000']) {
          const refused = await call(`${server.url}/v1/sys/health?activecode=${code}`)
          assert.equal(refused.status, 400, code)
          assert.deepEqual(refused.json, { errors: ['bad value for activecode parameter'] })
        }
        down = false
        assert.equal((await call(`${server.url}/v1/sys/health?activecode=204`)).status, 204)
        assert.equal((await call(`${server.url}/v1/sys/health?activecode=200`)).status, 200)
        assert.equal((await call(`${server.url}/v1/sys/health?activecode=999`)).status, 999)
      } finally {
        await server.close()
        await store.close()
      }
    })

    test('storage_misconfigured is a 500 on token routes and on sys/health', async () => {
      const misconfigured = (): Promise<never> =>
        Promise.reject(new TokenStoreError('storage_misconfigured', 'run migrate() first'))
      const storage = overrideStorage(new MemoryStorage(), {
        ping: misconfigured,
        getLiveToken: misconfigured,
        useToken: misconfigured,
      })
      const store = new TokenStore({ storage, timers: false })
      const auth = await store.create({ policies: ['app'] })
      const server = await listen(makeServer(store))
      try {
        const lookup = await call(`${server.url}/v1/auth/token/lookup-self`, {
          token: auth.clientToken,
        })
        assert.equal(lookup.status, 500)
        assert.equal((await call(`${server.url}/v1/sys/health`)).status, 500)
      } finally {
        await server.close()
        await store.close()
      }
    })
  })
}
