/**
 * Bad input to the Vault-compatible API: a batch of malformed, mistyped, oversized, unknown and unauthorised
 * requests, each answered with the right 4xx and Vault's error body, none changing the store, and the server
 * still serving afterwards. Run against each host.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { TokenStore, type AuditEvent } from '../../src/index.js'
import { VAULT_HOSTS, call, listen } from './helpers/servers.js'

/** Store operations that change something. */
const MUTATING = new Set([
  'create',
  'createRoot',
  'renew',
  'renewAccessor',
  'revoke',
  'revokeOrphan',
  'revokeAccessor',
  'revokePrefix',
  'writeRole',
  'deleteRole',
  'createLease',
  'renewLease',
  'revokeLease',
])

const BODY_LIMIT = 1024

interface BadRequest {
  readonly name: string
  readonly path: string
  readonly status: number
  readonly method?: string
  readonly body?: unknown
  readonly raw?: string
  /** Which token to send: the root token by default. */
  readonly as?: 'root' | 'user' | 'none' | 'bogus' | 'huge'
}

function batch(user: { token: string; accessor: string }, leaseId: string): BadRequest[] {
  const create = '/v1/auth/token/create'
  const role = '/v1/auth/token/roles/deployer'
  const lookupLease = '/v1/sys/leases/lookup'
  return [
    { name: 'malformed JSON', path: create, raw: '{"policies": ["a"', status: 400 },
    {
      name: 'JSON with a token inside, malformed',
      path: create,
      raw: `{"id": "${user.token}",,}`,
      status: 400,
    },
    { name: 'a JSON array', path: create, raw: '[1, 2]', status: 400 },
    { name: 'a JSON string', path: create, raw: '"hello"', status: 400 },
    {
      name: 'a body over the limit',
      path: create,
      raw: `{"meta":{"a":"${'x'.repeat(BODY_LIMIT)}"}}`,
      status: 413,
    },
    // An unknown field is ignored with Vault's warning (test/http/vault-answers.test.ts); a `__proto__` key must
    // neither crash nor skip the check of the other fields.
    {
      name: 'a __proto__ field',
      path: create,
      raw: '{"__proto__": {"admin": true}, "ttl": {"hours": 1}}',
      status: 400,
    },
    {
      name: 'bound CIDRs on a token, which tokentree cannot enforce',
      path: create,
      body: { bound_cidrs: ['10.0.0.0/8'] },
      status: 400,
    },
    { name: 'ttl of the wrong type', path: create, body: { ttl: { hours: 1 } }, status: 400 },
    { name: 'an unparseable ttl', path: create, body: { ttl: 'forever' }, status: 400 },
    { name: 'a fractional num_uses', path: create, body: { num_uses: 1.5 }, status: 400 },
    { name: 'a negative num_uses', path: create, body: { num_uses: -1 }, status: 400 },
    {
      name: 'policies not strings',
      path: create,
      body: { policies: ['a', { b: 1 }] },
      status: 400,
    },
    { name: 'metadata not scalars', path: create, body: { meta: { a: { b: 1 } } }, status: 400 },
    { name: 'a boolean that is not one', path: create, body: { renewable: 'maybe' }, status: 400 },
    { name: 'an unknown token type', path: create, body: { type: 'weird' }, status: 400 },
    { name: 'a root batch token', path: create, body: { type: 'batch' }, status: 400 },
    {
      name: 'a batch token with uses',
      path: create,
      body: { type: 'batch', policies: ['app'], num_uses: 2 },
      status: 400,
    },
    { name: 'a custom id with a dot', path: create, body: { id: 'a.b' }, status: 400 },
    { name: 'an unknown token role', path: `${create}/nope`, body: {}, status: 400 },
    {
      name: 'create against a role by a non-root token',
      path: `${create}/deployer`,
      body: {},
      as: 'user',
      status: 403,
    },
    { name: 'a role write by a non-root token', path: role, body: {}, as: 'user', status: 403 },
    { name: 'a role read by a non-root token', path: role, method: 'GET', as: 'user', status: 403 },
    {
      name: 'a role delete by a non-root token',
      path: role,
      method: 'DELETE',
      as: 'user',
      status: 403,
    },
    {
      name: 'a role list by a non-root token',
      path: '/v1/auth/token/roles?list=true',
      method: 'GET',
      as: 'user',
      status: 403,
    },
    {
      name: 'bound CIDRs on a role, which tokentree cannot enforce',
      path: role,
      body: { token_bound_cidrs: '10.0.0.0/8' },
      status: 400,
    },
    { name: 'a role flag of the wrong type', path: role, body: { orphan: 'maybe' }, status: 400 },
    {
      name: 'a role list of the wrong type',
      path: role,
      body: { allowed_policies: 7 },
      status: 400,
    },
    { name: 'an unknown role token type', path: role, body: { token_type: 'weird' }, status: 400 },
    { name: 'a negative role use limit', path: role, body: { token_num_uses: -1 }, status: 400 },
    {
      name: 'a role path suffix with ..',
      path: role,
      body: { path_suffix: 'a/../b' },
      status: 400,
    },
    { name: 'an unparseable role period', path: role, body: { token_period: 'soon' }, status: 400 },
    {
      name: 'a malformed role name',
      path: '/v1/auth/token/roles/bad%20name',
      body: {},
      status: 400,
    },
    { name: 'an unknown role', path: '/v1/auth/token/roles/nope', method: 'GET', status: 404 },
    { name: 'a wrong method on a role', path: role, method: 'PATCH', body: {}, status: 405 },
    { name: 'a lease lookup without an id', path: lookupLease, body: {}, status: 400 },
    {
      name: 'a lease lookup of an unknown lease',
      path: lookupLease,
      body: { lease_id: 'aws/creds/nope' },
      status: 400,
    },
    { name: 'a lease id of the wrong type', path: lookupLease, body: { lease_id: 7 }, status: 400 },
    { name: 'GET on a lease lookup', path: lookupLease, method: 'GET', status: 405 },
    {
      name: 'a lease list of a malformed prefix',
      path: '/v1/sys/leases/lookup/a%20b?list=true',
      method: 'GET',
      status: 400,
    },
    {
      name: 'a renewal of an unknown lease',
      path: '/v1/sys/leases/renew',
      body: { lease_id: 'aws/creds/nope' },
      status: 400,
    },
    {
      name: 'a lease renewal with a bad increment',
      path: '/v1/sys/leases/renew',
      body: { lease_id: leaseId, increment: 'forever' },
      status: 400,
    },
    {
      name: 'a lease revocation by a non-root token',
      path: '/v1/sys/leases/revoke',
      body: { lease_id: leaseId },
      as: 'user',
      status: 403,
    },
    {
      name: 'a lease revocation by path by a non-root token',
      path: `/v1/sys/revoke/${leaseId}`,
      body: {},
      as: 'user',
      status: 403,
    },
    {
      name: 'a lease revocation with a malformed sync flag',
      path: '/v1/sys/leases/revoke?sync=maybe',
      body: { lease_id: leaseId },
      status: 400,
    },
    { name: 'a lease revocation without an id', path: '/v1/sys/revoke', body: {}, status: 400 },
    { name: 'no token', path: create, body: {}, as: 'none', status: 403 },
    { name: 'an unknown token', path: create, body: {}, as: 'bogus', status: 403 },
    { name: 'an overlong token', path: '/v1/auth/token/lookup-self', as: 'huge', status: 403 },
    {
      name: 'escalation by a non-root token',
      path: create,
      body: { policies: ['root'] },
      as: 'user',
      status: 403,
    },
    {
      name: 'no_parent from a non-root token',
      path: create,
      body: { no_parent: true },
      as: 'user',
      status: 403,
    },
    {
      name: 'revoke-orphan from a non-root token',
      path: '/v1/auth/token/revoke-orphan',
      body: { token: user.token },
      as: 'user',
      status: 403,
    },
    {
      name: 'revoke-prefix from a non-root token',
      path: '/v1/sys/leases/revoke-prefix/auth/token',
      body: {},
      as: 'user',
      status: 403,
    },
    {
      name: 'revoke-accessor from a non-root token',
      path: '/v1/auth/token/revoke-accessor',
      body: { accessor: user.accessor },
      as: 'user',
      status: 403,
    },
    {
      name: 'a malformed revoke prefix',
      path: '/v1/sys/leases/revoke-prefix/auth/../x y',
      body: {},
      status: 400,
    },
    // A lookup without a token looks up the caller, as in Vault (test/http/vault-answers.test.ts).
    {
      name: 'lookup with a token of the wrong type',
      path: '/v1/auth/token/lookup',
      body: { token: { id: 5 } },
      status: 400,
    },
    {
      name: 'lookup of an unknown token',
      path: '/v1/auth/token/lookup',
      body: { token: 'hvs.unknown' },
      status: 403,
    },
    {
      name: 'renew of an unknown token',
      path: '/v1/auth/token/renew',
      body: { token: 'hvs.unknown' },
      status: 400,
    },
    {
      name: 'renew of a non-expiring token',
      path: '/v1/auth/token/renew-self',
      body: {},
      status: 400,
    },
    {
      name: 'an unknown accessor',
      path: '/v1/auth/token/lookup-accessor',
      body: { accessor: 'nope' },
      status: 400,
    },
    {
      name: 'revoke-orphan of an unknown token',
      path: '/v1/auth/token/revoke-orphan',
      body: { token: 'hvs.x' },
      status: 400,
    },
    { name: 'an unknown path', path: '/v1/auth/token/frobnicate', body: {}, status: 404 },
    { name: 'a wrong method', path: create, method: 'DELETE', status: 405 },
    { name: 'GET on a write-only path', path: create, method: 'GET', status: 405 },
    {
      name: 'a malformed list flag',
      path: '/v1/auth/token/roles?list=maybe',
      method: 'GET',
      status: 400,
    },
    {
      name: 'a malformed percent-encoding',
      path: '/v1/auth/token/%E0%A4%A',
      body: {},
      status: 400,
    },
    {
      name: 'a malformed health code',
      path: '/v1/sys/health?activecode=abc',
      method: 'GET',
      status: 400,
    },
  ]
}

for (const [host, makeServer] of Object.entries(VAULT_HOSTS)) {
  test(`Vault API over ${host}: a batch of bad requests gets 4xx, changes nothing, and the server keeps serving`, async () => {
    const store = new TokenStore()
    const root = await store.createRoot()
    const created = await store.create({ policies: ['app'], ttl: '1h' })
    const user = { token: created.clientToken, accessor: created.accessor }
    await store.roles.write('deployer', { allowedPolicies: ['deploy'] })
    const lease = await store.createLease(user.token, { path: 'aws/creds/deploy', ttl: '1h' })
    const mutations: AuditEvent[] = []
    let revoked = 0
    store.on('audit', (event) => {
      if (event.outcome === 'ok' && MUTATING.has(event.operation)) mutations.push(event)
    })
    store.on('revoked', () => {
      revoked += 1
    })
    const server = await listen(makeServer(store, { bodyLimit: BODY_LIMIT }))
    try {
      const tokens = {
        root: root.clientToken,
        user: user.token,
        bogus: 'hvs.bogus-token-value',
        huge: 'h'.repeat(8000),
      }
      for (const bad of batch(user, lease.leaseId)) {
        const headers: Record<string, string> = {}
        if (bad.as !== 'none') headers['x-vault-token'] = tokens[bad.as ?? 'root']
        const res = await call(`${server.url}${bad.path}`, {
          method: bad.method ?? (bad.body === undefined && bad.raw === undefined ? 'GET' : 'POST'),
          headers,
          ...(bad.raw === undefined ? {} : { raw: bad.raw }),
          ...(bad.body === undefined ? {} : { body: bad.body }),
        })
        assert.equal(res.status, bad.status, `${bad.name}: status (${res.text})`)
        assert.match(res.headers.get('content-type') ?? '', /application\/json/, bad.name)
        const body = res.json as { errors?: unknown }
        assert.ok(Array.isArray(body.errors), `${bad.name}: Vault's error body`)
        assert.ok(
          body.errors.every((message) => typeof message === 'string'),
          bad.name,
        )
        for (const secret of [root.clientToken, user.token]) {
          assert.ok(!res.text.includes(secret), `${bad.name}: the answer echoes a token`)
        }
      }
      assert.deepEqual(mutations, [])
      assert.equal(revoked, 0)
      assert.equal((await store.lookup(user.token))?.ttl !== undefined, true)
      assert.notEqual(await store.lookup(root.clientToken), null)
      assert.deepEqual(await store.roles.list(), ['deployer'])
      assert.deepEqual((await store.roles.read('deployer'))?.allowedPolicies, ['deploy'])
      assert.equal((await store.lookupLease(lease.leaseId))?.lastRenewalTime, null)

      const ok = await call(`${server.url}/v1/auth/token/create`, {
        token: root.clientToken,
        body: { ttl: '5m' },
      })
      assert.equal(ok.status, 200)
      const self = await call(`${server.url}/v1/auth/token/lookup-self`, { token: user.token })
      assert.equal(self.status, 200)
    } finally {
      await server.close()
    }
  })
}
