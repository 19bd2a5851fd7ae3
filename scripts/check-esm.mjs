// Smoke test of the built ESM entries, imported through the package name and the exports map (`import` condition →
// dist/*.js). Run after `npm run build`.
import assert from 'node:assert/strict'

import { TokenStore, TokenStoreError } from 'tokentree'
import { createTestStore } from 'tokentree/testing'

const store = new TokenStore()
const { clientToken } = await store.create({ numUses: 1 })
assert.equal((await store.authenticate(clientToken)).id, clientToken)
await assert.rejects(store.authenticate(clientToken), (error) => error instanceof TokenStoreError)
await store.close()

const { store: fixture, clock } = createTestStore()
const expiring = await fixture.create({ ttl: 60 })
await clock.advance(60)
assert.equal(await fixture.lookup(expiring.clientToken), null)
console.log(`check-esm: ok (${import.meta.resolve('tokentree')})`)
