// Smoke test of the built ESM entries, imported through the package name and the exports map (`import` condition →
// dist/*.js). Run after `npm run build`.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { TokenStore, TokenStoreError } from 'tokentree'
import { instrument } from 'tokentree/otel'
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

const exporter = new InMemorySpanExporter()
const tracer = new BasicTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(exporter)],
}).getTracer('check')
const traced = new TokenStore()
const instrumentation = instrument(traced, { tracer, meter: false })
await traced.create()
instrumentation.close()
await traced.close()
assert.deepEqual(
  exporter.getFinishedSpans().map((span) => span.name),
  ['tokentree.create'],
)
console.log(`check-esm: ok (${import.meta.resolve('tokentree')})`)

// Each entry must load with only its own optional peer installed (the root, testing and vault-api entries with none):
// walk their built import graphs and refuse any import of another peer (each adapter, framework or telemetry API
// lives behind its own subpath).

const PEERS = ['ioredis', 'pg', 'express', 'koa', '@koa/router', '@opentelemetry/api']
/** The peers each entry may reach. */
const ALLOWED = {
  'index.js': [],
  'testing.js': [],
  'vault-api.js': [],
  'express.js': ['express'],
  'koa.js': ['koa', '@koa/router'],
  'redis.js': ['ioredis'],
  'postgres.js': ['pg'],
  'otel.js': ['@opentelemetry/api'],
}
const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist')
for (const [entry, allowed] of Object.entries(ALLOWED)) {
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
      else if (
        PEERS.some(
          (peer) =>
            !allowed.includes(peer) && (specifier === peer || specifier.startsWith(`${peer}/`)),
        )
      ) {
        throw new Error(
          `dist/${entry} reaches the optional peer '${specifier}' through dist/${file}`,
        )
      }
    }
  }
  const own =
    allowed.length === 0 ? 'no optional peer' : `no optional peer but ${allowed.join(', ')}`
  console.log(`check-esm: dist/${entry} imports ${own} (${seen.size} files)`)
}
