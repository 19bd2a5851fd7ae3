/**
 * Hostile input to the Vault-compatible HTTP API (the node:http server of the dev server): generated methods,
 * paths, headers and bodies. Every answer must be a 4xx with Vault's `{ "errors": [...] }` body, or a success
 * (never a 5xx: storage is up; 501 is the documented answer of `auth/token/accessors`); a refused request must
 * change nothing in the store (no `ok` audit event of a changing operation during it); and the server must
 * still answer afterwards.
 */
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'

import fc from 'fast-check'
import { MemoryStorage, TokenStore, type AuditEvent } from 'tokentree'

import { createVaultServer } from '../../src/http/vault-api/server.js'
import { FaultyStorage } from '../faults/fault-storage.js'
import { HUGE, junkValue } from './junk.js'

const RUNS = Number(process.env.HTTP_FUZZ_RUNS ?? 1000)

/** Store operations that change something (authenticate spends a use of an unlimited token here: no change). */
const CHANGING = new Set([
  'create',
  'createRoot',
  'renew',
  'renewAccessor',
  'revoke',
  'revokeOrphan',
  'revokeAccessor',
  'revokePrefix',
  'createLease',
  'renewLease',
  'revokeLease',
  'writeRole',
  'deleteRole',
  'tidy',
])

const PATHS = [
  'auth/token/create',
  'auth/token/create-orphan',
  'auth/token/create/ci',
  'auth/token/lookup',
  'auth/token/lookup-self',
  'auth/token/lookup-accessor',
  'auth/token/renew',
  'auth/token/renew-self',
  'auth/token/renew-accessor',
  'auth/token/revoke',
  'auth/token/revoke-self',
  'auth/token/revoke-orphan',
  'auth/token/revoke-accessor',
  'auth/token/roles',
  'auth/token/roles/ci',
  'auth/token/accessors',
  'sys/leases/revoke-prefix/aws',
  'sys/revoke-prefix/auth',
  'sys/leases/lookup',
  'sys/leases/renew',
  'sys/leases/revoke',
  'sys/health',
]

const FIELDS = [
  'policies',
  'meta',
  'ttl',
  'explicit_max_ttl',
  'period',
  'num_uses',
  'no_parent',
  'no_default_policy',
  'renewable',
  'display_name',
  'id',
  'type',
  'token',
  'accessor',
  'increment',
  'lease_id',
  'allowed_policies',
  '__proto__',
  'constructor',
]

/** A JSON-safe rendering of a junk value (functions, symbols and bigints become strings). */
function jsonSafe(value: unknown): unknown {
  try {
    const text = JSON.stringify(value, (_key, item: unknown) =>
      typeof item === 'bigint' ? item.toString() : item,
    ) as string | undefined
    return text === undefined ? null : (JSON.parse(text) as unknown)
  } catch {
    return typeof value
  }
}

const body: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.dictionary(fc.constantFrom(...FIELDS), junkValue, { maxKeys: 4 }).map((object) => {
    // '__proto__' as an own JSON key, as a hostile client would send it.
    const entries = Object.entries(object).map(
      ([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(jsonSafe(v))}`,
    )
    return `{${entries.join(',')}}`
  }),
  fc.json({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom(
    '{"policies":',
    '{"meta":{"__proto__":{"polluted":"yes"}}}',
    `{"display_name":"${HUGE}"}`,
    '[]',
    'null',
    '{}',
  ),
)

interface Request {
  method: string
  path: string
  token: 'none' | 'root' | 'user' | 'junk' | 'huge'
  junkToken: string
  body: string | undefined
  contentType: string
}

const request: fc.Arbitrary<Request> = fc.record({
  method: fc.oneof(
    { arbitrary: fc.constantFrom('POST', 'PUT'), weight: 6 },
    {
      arbitrary: fc.constantFrom('GET', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'LIST', 'FOO'),
      weight: 2,
    },
  ),
  path: fc.oneof(
    { arbitrary: fc.constantFrom(...PATHS).map((p) => `/v1/${p}`), weight: 6 },
    {
      arbitrary: fc
        .tuple(fc.constantFrom(...PATHS), fc.string({ unit: 'grapheme', maxLength: 30 }))
        .map(
          ([p, junk]) => `/v1/${p}/${encodeURIComponent(junk)}?list=${encodeURIComponent(junk)}`,
        ),
      weight: 2,
    },
    fc.constantFrom(
      '/',
      '/v1',
      '/v1/',
      '/v2/auth/token/create',
      '/v1/../etc/passwd',
      '/v1/%00',
      `/v1/${'a/'.repeat(500)}`,
      '/v1/auth/token/create?list=true&list=false',
      '/v1//auth//token//create',
    ),
  ),
  token: fc.oneof(
    { arbitrary: fc.constantFrom('root' as const, 'user' as const), weight: 6 },
    { arbitrary: fc.constantFrom('none' as const, 'junk' as const, 'huge' as const), weight: 2 },
  ),
  junkToken: fc.string({
    unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
    maxLength: 300,
  }),
  body,
  contentType: fc.constantFrom(
    'application/json',
    'text/plain',
    'application/x-www-form-urlencoded',
    '',
  ),
})

test("fuzz http: junk requests get a 4xx with Vault's error body (or a success), change nothing when refused, and the server keeps serving", async () => {
  const store = new TokenStore({ timers: false })
  const audit: AuditEvent[] = []
  store.on('audit', (event) => audit.push(event))
  let root = (await store.createRoot()).clientToken
  let user = (await store.create({ parent: root, policies: ['app'] })).clientToken
  const server = createVaultServer(store)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const statuses = new Map<number, number>()
  let tried = 0
  let clientRefused = 0
  try {
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        tried += 1
        const headers: Record<string, string> = {}
        if (req.contentType !== '') headers['content-type'] = req.contentType
        const token = {
          none: undefined,
          root,
          user,
          junk: req.junkToken,
          huge: 'h'.repeat(20_000),
        }[req.token]
        if (token !== undefined) headers['x-vault-token'] = token
        const canHaveBody = req.method !== 'GET' && req.method !== 'HEAD'
        const start = audit.length
        let response: Response
        try {
          response = await fetch(base + req.path, {
            method: req.method,
            headers,
            ...(canHaveBody && req.body !== undefined ? { body: req.body } : {}),
          })
        } catch {
          // fetch itself refused the request (an invalid method or header): nothing reached the server.
          clientRefused += 1
          return
        }
        const text = await response.text()
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
        const where = `${req.method} ${req.path.slice(0, 80)} → ${response.status} ${text.slice(0, 200)}`
        const accessors = req.path.startsWith('/v1/auth/token/accessors')
        assert.ok(response.status < 500 || (response.status === 501 && accessors), where)
        if (response.status >= 400 && req.method !== 'HEAD' && text !== '') {
          const parsed = JSON.parse(text) as { errors?: unknown }
          assert.ok(
            Array.isArray(parsed.errors) && parsed.errors.every((e) => typeof e === 'string'),
            `${where}: not Vault's error body`,
          )
        }
        if (response.status >= 400) {
          const changed = audit
            .slice(start)
            .filter((e) => CHANGING.has(e.operation) && e.outcome === 'ok')
          assert.deepEqual(
            changed.map((e) => e.operation),
            [],
            `${where}: a refused request changed the store`,
          )
        }
        assert.equal(
          ({} as Record<string, unknown>).polluted,
          undefined,
          `${where}: Object.prototype polluted`,
        )
        // Junk may legitimately revoke the fixture's tokens (revoke-self with a valid token): make new ones.
        if ((await store.lookup(root)) === null) root = (await store.createRoot()).clientToken
        if ((await store.lookup(user)) === null)
          user = (await store.create({ parent: root, policies: ['app'] })).clientToken
      }),
      { numRuns: RUNS },
    )
    const health = await fetch(`${base}/v1/sys/health`)
    assert.equal(health.status, 200, 'the server stopped answering')
    await health.text()
  } finally {
    server.closeAllConnections()
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve()
      })
    })
    await store.close()
  }
  process.stdout.write(
    `# fuzz http: ${tried} requests tried (${clientRefused} refused by fetch itself), statuses ${JSON.stringify(Object.fromEntries(statuses))}\n`,
  )
})

test("fuzz http: with storage down, requests that reach the store get 503 with Vault's error body, others their 4xx", async () => {
  const faulty = new FaultyStorage(new MemoryStorage())
  const store = new TokenStore({ storage: faulty.storage, timers: false })
  const root = (await store.createRoot()).clientToken
  const server = createVaultServer(store)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const statuses = new Map<number, number>()
  try {
    // Every storage call fails from now on.
    faulty.arm(1, 'fail')
    faulty.failFrom(1)
    const samples = fc.sample(request, 200)
    for (const req of samples) {
      const headers: Record<string, string> = { 'x-vault-token': root }
      const canHaveBody = req.method !== 'GET' && req.method !== 'HEAD'
      const response = await fetch(base + req.path, {
        method: req.method,
        headers,
        ...(canHaveBody && req.body !== undefined ? { body: req.body } : {}),
      }).catch(() => null)
      if (response === null) continue
      const text = await response.text()
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
      const where = `${req.method} ${req.path.slice(0, 80)} → ${response.status} ${text.slice(0, 200)}`
      // sys/health answers Vault's 500 when its storage fails; every other request that reaches the store, 503.
      const health = new URL(base + req.path).pathname.replace(/\/+$/, '') === '/v1/sys/health'
      assert.ok(
        response.status < 500 ||
          response.status === 503 ||
          response.status === 501 ||
          (health && response.status === 500),
        where,
      )
      if (response.status >= 400 && req.method !== 'HEAD' && text !== '') {
        const parsed = JSON.parse(text) as { errors?: unknown }
        assert.ok(Array.isArray(parsed.errors), `${where}: not Vault's error body`)
      }
    }
    assert.ok((statuses.get(503) ?? 0) > 0, 'no request reached the failing storage')
  } finally {
    faulty.disarm()
    server.closeAllConnections()
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve()
      })
    })
    await store.close()
  }
  process.stdout.write(
    `# fuzz http, storage down: statuses ${JSON.stringify(Object.fromEntries(statuses))}\n`,
  )
})
