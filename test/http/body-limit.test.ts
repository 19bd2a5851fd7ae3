/**
 * The Vault API's body limit, on each host: 1 MiB by default (a policy of a thousand rules fits), and a body over it
 * answered 413 in a way a client that sends its whole body before reading (node:http's, node-vault's) receives,
 * rather than a reset connection.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { connect } from 'node:net'
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

/**
 * POSTs `json` to `url` as a chunked body of one byte per chunk (the frames written in one go; without the last,
 * empty chunk unless `finish`) and resolves to the answer's status line.
 */
function postByteChunks(url: string, token: string, json: string, finish = true): Promise<string> {
  const { hostname, port, pathname } = new URL(url)
  const frames = [...Buffer.from(json)].map((byte) =>
    Buffer.concat([Buffer.from('1\r\n'), Buffer.from([byte]), Buffer.from('\r\n')]),
  )
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    let answer = ''
    socket.on('data', (data: Buffer) => {
      answer += data.toString('latin1')
      if (answer.includes('\r\n')) {
        resolve(answer.slice(0, answer.indexOf('\r\n')))
        socket.destroy()
      }
    })
    socket.on('error', reject)
    socket.write(
      `POST ${pathname} HTTP/1.1\r\nHost: x\r\nX-Vault-Token: ${token}\r\n` +
        'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
    )
    socket.write(Buffer.concat(finish ? [...frames, Buffer.from('0\r\n\r\n')] : frames))
  })
}

for (const [host, makeServer] of Object.entries(VAULT_HOSTS)) {
  test(`Vault API over ${host}: a chunked body past the limit is answered 413 at once, not drained`, async () => {
    const store = new TokenStore()
    const root = (await store.createRoot()).clientToken
    const server = await listen(makeServer(store, { bodyLimit: 1024 }))
    try {
      const json = JSON.stringify({ meta: { k: 'v'.repeat(4000) } })
      // Never finished: only an answer that does not wait for the body's end arrives.
      const status = await postByteChunks(`${server.url}/v1/auth/token/create`, root, json, false)
      assert.equal(status, 'HTTP/1.1 413 Payload Too Large')
    } finally {
      await server.close()
      await store.close()
    }
  })

  test(`Vault API over ${host}: a chunked body of one-byte chunks, past the first buffer, is read whole`, async () => {
    const store = new TokenStore()
    const root = (await store.createRoot()).clientToken
    const server = await listen(makeServer(store))
    try {
      const value = 'v'.repeat(500)
      const meta = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, value]))
      const json = JSON.stringify({ id: 'chunked-one-byte', meta })
      assert.ok(json.length > 16 * 1024)
      const status = await postByteChunks(`${server.url}/v1/auth/token/create`, root, json)
      assert.equal(status, 'HTTP/1.1 200 OK')
      assert.deepEqual((await store.lookup('chunked-one-byte'))?.metadata, meta)
    } finally {
      await server.close()
      await store.close()
    }
  })

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
