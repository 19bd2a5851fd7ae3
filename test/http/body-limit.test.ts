/**
 * The Vault API's body limit, on each host: 1 MiB by default (a policy of a thousand rules fits), and a body over it
 * answered 413 in a way a client that sends its whole body before reading (node:http's, node-vault's) receives,
 * rather than a reset connection.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { test } from 'node:test'

import { TokenStore } from '../../src/index.js'
import { DEFAULT_BODY_LIMIT } from '../../src/http/vault-api/body.js'
import { VAULT_HOSTS, call, listen } from './helpers/servers.js'

const run = promisify(execFile)

/**
 * POSTs `bytes` of spaces with node:http from another process (in this one, the server could not close the socket
 * while the client writes), writing all of it before reading, and resolves to the status or the error's code.
 */
async function postBytes(url: string, token: string, bytes: number): Promise<string> {
  const client = `
    const { request } = require('node:http')
    const [url, token, bytes] = process.argv.slice(1)
    const req = request(url, {
      method: 'POST',
      headers: { 'x-vault-token': token, 'content-type': 'application/json', 'content-length': bytes },
    })
    req.on('response', (res) => { res.resume(); res.on('end', () => console.log(res.statusCode)) })
    req.on('error', (error) => console.log(error.code))
    req.end(Buffer.alloc(Number(bytes), 0x20))
  `
  const { stdout } = await run(process.execPath, ['-e', client, url, token, String(bytes)])
  return stdout.trim()
}

for (const [host, makeServer] of Object.entries(VAULT_HOSTS)) {
  test(`Vault API over ${host}: a 100 KB policy is accepted; 8 MiB is answered 413, received whole`, async () => {
    const store = new TokenStore()
    const root = (await store.createRoot()).clientToken
    const server = await listen(makeServer(store))
    try {
      const rules = Array.from(
        { length: 2000 },
        (_, i) => `path "apps/${i}/*" { capabilities = ["read"] }`,
      ).join('\n')
      assert.ok(rules.length > 64 * 1024 && rules.length < DEFAULT_BODY_LIMIT)
      const written = await call(`${server.url}/v1/sys/policy/big`, {
        token: root,
        method: 'PUT',
        body: { policy: rules },
      })
      assert.equal(written.status, 204, written.text)
      assert.equal((await store.policies.read('big'))?.rules.length, 2000)

      const url = `${server.url}/v1/auth/token/create`
      assert.equal(await postBytes(url, root, 8 * 1024 * 1024), '413')
      // Nothing was created, and the server goes on serving.
      const after = await call(url, { token: root, body: { ttl: '1m' } })
      assert.equal(after.status, 200)
    } finally {
      await server.close()
      await store.close()
    }
  })
}
