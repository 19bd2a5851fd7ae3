// Smoke test of the built ESM entries, imported through the package name and the exports map (`import` condition →
// dist/*.js). Run after `npm run build`.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { TokenStore, TokenStoreError } from 'tokentree'
import { createTestStore } from 'tokentree/testing'
import { createVaultServer, enableListMethod } from 'tokentree/vault-api'

const store = new TokenStore()
const { clientToken } = await store.create({ numUses: 1 })
assert.equal((await store.authenticate(clientToken)).id, clientToken)
await assert.rejects(store.authenticate(clientToken), (error) => error instanceof TokenStoreError)
await store.close()

const { store: fixture, clock } = createTestStore()
const expiring = await fixture.create({ ttl: 60 })
await clock.advance(60)
assert.equal(await fixture.lookup(expiring.clientToken), null)
const vault = createVaultServer(new TokenStore())
assert.equal(enableListMethod(vault), vault)
console.log(`check-esm: ok (${import.meta.resolve('tokentree')})`)

// The root, testing and vault-api entries must load without any optional peer installed: walk their built import graphs and
// refuse any import of a peer (each adapter or framework lives behind its own subpath).

const PEERS = ['ioredis', 'pg', 'express', 'koa', '@koa/router']
const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist')
for (const entry of ['index.js', 'testing.js', 'vault-api.js']) {
  const seen = new Set()
  const pending = [entry]
  while (pending.length > 0) {
    const file = pending.pop()
    if (seen.has(file)) continue
    seen.add(file)
    // Block comments (TSDoc examples) may show imports of peers; only code counts.
    const source = readFileSync(join(dist, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '')
    for (const [, specifier] of source.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      if (specifier.startsWith('./')) pending.push(specifier.slice(2))
      else if (PEERS.some((peer) => specifier === peer || specifier.startsWith(`${peer}/`))) {
        throw new Error(
          `dist/${entry} reaches the optional peer '${specifier}' through dist/${file}`,
        )
      }
    }
  }
  console.log(`check-esm: dist/${entry} imports no optional peer (${seen.size} files)`)
}
