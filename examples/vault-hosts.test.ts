/**
 * Tests of examples/node-http.ts and examples/fastify.ts: Vault's API (with `LIST`, through node-vault's own
 * verbs) and the app's own route on one server.
 *
 * Run: node --import tsx --test examples/vault-hosts.test.ts
 */
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'

import nodeVault from 'node-vault'
import { TokenStore } from 'tokentree'

import { createApp as createFastifyApp } from './fastify.js'
import { createApp as createNodeApp } from './node-http.js'

interface Client {
  addTokenRole(args: object): Promise<unknown>
  tokenRoles(): Promise<{ data: { keys: string[] } }>
  list(path: string): Promise<{ data: { keys: string[] } }>
  tokenCreate(args: object): Promise<{ auth: { client_token: string; accessor: string } }>
}

/** Creates a role and lists it over `LIST`, creates a token, and calls the app's route with it. */
async function exercise(url: string, root: string): Promise<void> {
  const client = (): Client => nodeVault({ endpoint: url, token: root })
  await client().addTokenRole({ role_name: 'ci', allowed_policies: 'deploy' })
  assert.deepEqual((await client().list('auth/token/roles')).data.keys, ['ci'])
  const { auth } = await client().tokenCreate({ policies: ['app'] })
  const whoami = await fetch(`${url}/whoami`, { headers: { 'x-vault-token': auth.client_token } })
  assert.equal(whoami.status, 200)
  assert.deepEqual(await whoami.json(), { accessor: auth.accessor, policies: ['app', 'default'] })
  const listed = await fetch(`${url}/v1/auth/token/roles`, {
    method: 'LIST',
    headers: { 'x-vault-token': root },
  })
  assert.equal(listed.status, 200)
  assert.equal((await fetch(`${url}/nope`)).status, 404)
}

test('node:http example: Vault API with LIST and the app route on one server', async () => {
  const store = new TokenStore()
  const root = await store.createRoot()
  const server = createNodeApp(store)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    const { port } = server.address() as AddressInfo
    await exercise(`http://127.0.0.1:${port}`, root.clientToken)
  } finally {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await store.close()
  }
})

test('Fastify example: Vault API with LIST beside Fastify routes', async () => {
  const store = new TokenStore()
  const root = await store.createRoot()
  const app = createFastifyApp(store)
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  try {
    await exercise(url, root.clientToken)
  } finally {
    await app.close()
    await store.close()
  }
})
