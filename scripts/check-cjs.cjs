// Smoke test of the built CommonJS entries, loaded the way a consumer loads them: through the package name and the
// exports map (`require` condition → dist/*.cjs). Run after `npm run build`.
//
// check:package runs this with `--no-experimental-require-module`, i.e. like Node 20.0–20.18, which cannot
// require() ESM. That proves the ESM-only nanoid is inlined into the CJS build (see tsdown.config.ts).
'use strict'

const assert = require('node:assert/strict')
const { TokenStore, TokenStoreError, MemoryStorage } = require('tokentree')
const { createTestStore, ManualClock } = require('tokentree/testing')
const { createVaultHandler, createVaultServer } = require('tokentree/vault-api')
const { instrument, METRICS } = require('tokentree/otel')
const { metrics, trace } = require('@opentelemetry/api')

async function main() {
  assert.equal(typeof MemoryStorage, 'function')
  assert.ok(new TokenStoreError('invalid_token', 'x') instanceof Error)

  const store = new TokenStore()
  const { clientToken } = await store.create({ numUses: 1 })
  assert.match(clientToken, /^hvs\./)
  assert.equal((await store.authenticate(clientToken)).id, clientToken)
  await assert.rejects(store.authenticate(clientToken), { code: 'invalid_token' })
  await store.close()

  const fixture = createTestStore()
  assert.ok(fixture.clock instanceof ManualClock)
  const expiring = await fixture.store.create({ ttl: 60 })
  await fixture.clock.advance(60)
  assert.equal(await fixture.store.lookup(expiring.clientToken), null)
  assert.equal(typeof createVaultHandler(store), 'function')
  assert.equal(typeof createVaultServer(store).listen, 'function')

  // The CJS otel entry shares @opentelemetry/api with the caller: the no-op global tracer and meter work.
  assert.equal(METRICS.operations, 'tokentree.operations')
  const traced = new TokenStore()
  const instrumentation = instrument(traced, {
    tracer: trace.getTracer('check'),
    meter: metrics.getMeter('check'),
  })
  await traced.create()
  instrumentation.close()
  await traced.close()
  console.log(`check-cjs: ok (${require.resolve('tokentree')})`)
}

main().catch((err) => {
  console.error('check-cjs: FAILED')
  console.error(err)
  process.exitCode = 1
})
