/**
 * tokentree/express: requireCapability through a real Express app.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import express from 'express'

import { requireCapability } from '../../src/http/express.js'
import { TokenStore } from '../../src/index.js'
import { runCapabilitySuite } from './helpers/capability-suite.js'
import { call, listen } from './helpers/servers.js'

runCapabilitySuite('express', (store, options) => {
  const app = express()
  app.use(express.json(), requireCapability(store, options), (req, res) => {
    res.json({ accessor: req.token?.accessor ?? null })
  })
  return app
})

test('express requireCapability(): a raw body (a Buffer) is content, not parameters', async () => {
  const store = new TokenStore()
  await store.policies.write(
    'uploader',
    'path "api/upload" {\n capabilities = ["create"]\n allowed_parameters = { "name" = [] }\n}',
  )
  const { clientToken } = await store.create({ policies: ['uploader'] })
  const app = express()
  app.post(
    '/upload',
    express.raw({ type: '*/*' }),
    requireCapability(store, { pathPrefix: 'api/' }),
    (req, res) => {
      res.json({ bytes: (req.body as Buffer).length })
    },
  )
  const server = await listen(app)
  try {
    const upload = await call(`${server.url}/upload?name=photo`, {
      method: 'POST',
      token: clientToken,
      raw: 'x'.repeat(5000),
      headers: { 'content-type': 'application/octet-stream' },
    })
    assert.equal(upload.status, 200)
    assert.deepEqual(upload.json, { bytes: 5000 })
  } finally {
    await server.close()
    await store.close()
  }
})
