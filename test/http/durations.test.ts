import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { VAULT_HOSTS, call, withVaultApi } from './helpers/servers.js'

describe('Vault API: durations', () => {
  test('a duration under one second, or not whole seconds, is a 400 on every route that takes one', async () => {
    await withVaultApi(VAULT_HOSTS['node:http'], async (endpoint, root, store) => {
      const token = await store.create({ parent: root, ttl: '1h' })
      const lease = await store.createLease(token.clientToken, { path: 'aws/creds/x', ttl: '1h' })
      for (const bad of ['500ms', '0.5s', '1500ms', '5Ms']) {
        const requests: Array<[string, unknown]> = [
          ['auth/token/create', { ttl: bad }],
          ['auth/token/create', { explicit_max_ttl: bad }],
          ['auth/token/create', { period: bad }],
          ['auth/token/create-orphan', { ttl: bad }],
          ['auth/token/renew', { token: token.clientToken, increment: bad }],
          ['auth/token/renew-self', { increment: bad }],
          ['auth/token/roles/r', { token_period: bad }],
          ['sys/leases/renew', { lease_id: lease.leaseId, increment: bad }],
        ]
        for (const [path, body] of requests) {
          const caller = path === 'auth/token/renew-self' ? token.clientToken : root
          const answer = await call(`${endpoint}/v1/${path}`, { token: caller, body })
          assert.equal(answer.status, 400, `${path} ${JSON.stringify(body)}: ${answer.text}`)
        }
      }
      // Unchanged by the refused renewals (the clock is real here, so allow for the seconds the test took).
      assert.ok(((await store.lookup(token.clientToken))?.ttl ?? 0) > 3500)
      assert.equal(await store.roles.read('r'), null)
    })
  })
})
