/**
 * Vault's answers where tokentree used to differ (issue 12): unrecognized fields, unsupported fields, a request
 * without a token, parents that may not create children, lookup without a token, tidy, the last use, unrouted
 * requests, and Vault's messages. Run against each host.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { VAULT_HOSTS, call, withVaultApi } from './helpers/servers.js'

interface Envelope {
  data: Record<string, unknown> | null
  auth: { client_token: string; orphan: boolean; num_uses: number } | null
  warnings: string[] | null
  errors?: string[]
}

for (const [name, host] of Object.entries(VAULT_HOSTS)) {
  describe(`Vault's answers over ${name}`, () => {
    test("unknown fields are ignored with Vault's warning; unsupported ones warned; bound CIDRs refused", async () => {
      await withVaultApi(host, async (url, root) => {
        const created = await call(`${url}/v1/auth/token/create`, {
          token: root,
          body: { policies: ['app'], no_parnet: true, zeta: 1, entity_alias: 'x' },
        })
        assert.equal(created.status, 200)
        const body = created.json as Envelope
        const createdToken = body.auth?.client_token
        assert.deepEqual(body.warnings, [
          'Endpoint ignored these unrecognized parameters: [no_parnet zeta]',
          "tokentree does not implement 'entity_alias'; it was ignored",
        ])
        // The misspelt field did nothing: the token has a parent.
        assert.equal(body.auth?.orphan, false)
        // Metadata is `meta`, as Vault decodes it: `metadata` is not an alias (it would dodge a policy's
        // denied_parameters on `meta`).
        const aliased = await call(`${url}/v1/auth/token/create`, {
          token: root,
          body: { metadata: { user: 'alice' } },
        })
        assert.equal(aliased.status, 200)
        assert.deepEqual((aliased.json as Envelope).warnings, [
          'Endpoint ignored these unrecognized parameters: [metadata]',
        ])
        assert.equal((aliased.json as { auth: { metadata: unknown } }).auth.metadata, null)

        for (const body of [{ bound_cidrs: ['10.0.0.0/8'] }, { bound_cidrs: '10.0.0.0/8' }]) {
          const refused = await call(`${url}/v1/auth/token/create`, { token: root, body })
          assert.equal(refused.status, 400)
        }
        const empty = await call(`${url}/v1/auth/token/create`, {
          token: root,
          body: { bound_cidrs: [] },
        })
        assert.equal(empty.status, 200)
        for (const field of ['token_bound_cidrs', 'bound_cidrs']) {
          const role = await call(`${url}/v1/auth/token/roles/r`, {
            token: root,
            body: { [field]: ['10.0.0.0/8'] },
          })
          assert.equal(role.status, 400, field)
        }
        const role = await call(`${url}/v1/auth/token/roles/r`, {
          token: root,
          body: { allowed_entity_aliases: ['a'], nope: true },
        })
        // Vault's role write answers nothing, so the warnings have no response to ride on: 204.
        assert.equal(role.status, 204)
        // A 204 carries no warning, as in Vault.
        const revoked = await call(`${url}/v1/auth/token/revoke`, {
          token: root,
          body: { token: createdToken, extra: 1 },
        })
        assert.equal(revoked.status, 204)
      })
    })

    test('no token: 403 permission denied, on any path', async () => {
      await withVaultApi(host, async (url) => {
        for (const path of ['auth/token/lookup-self', 'auth/token/nope']) {
          const res = await call(`${url}/v1/${path}`)
          assert.equal(res.status, 403)
          assert.deepEqual(res.json, { errors: ['permission denied'] })
        }
      })
    })

    test("batch and limited-use parents cannot create tokens: 400 with Vault's messages", async () => {
      await withVaultApi(host, async (url, root) => {
        const create = async (body: unknown): Promise<string> => {
          const res = await call(`${url}/v1/auth/token/create`, { token: root, body })
          return (res.json as Envelope).auth?.client_token ?? ''
        }
        const batch = await create({ type: 'batch', policies: ['app'] })
        const limited = await create({ num_uses: 3 })
        const lastUse = await create({ num_uses: 1 })
        for (const [token, message] of [
          [batch, 'batch tokens cannot create more tokens'],
          [limited, 'restricted use token cannot generate child tokens'],
          [lastUse, 'restricted use token cannot generate child tokens'],
        ] as const) {
          for (const path of ['create', 'create-orphan']) {
            const res = await call(`${url}/v1/auth/token/${path}`, { token, body: {} })
            if (token === lastUse && path === 'create-orphan') {
              assert.equal(res.status, 403, 'the last use was spent by the first request')
              continue
            }
            assert.equal(res.status, 400, path)
            assert.deepEqual(res.json, { errors: [message] })
          }
        }
        const negative = await call(`${url}/v1/auth/token/create`, {
          token: root,
          body: { num_uses: -1 },
        })
        assert.equal(negative.status, 400)
        assert.deepEqual(negative.json, { errors: ['number of uses cannot be negative'] })
        const unknownRole = await call(`${url}/v1/auth/token/create/nope`, {
          token: root,
          body: {},
        })
        assert.equal(unknownRole.status, 400)
        assert.deepEqual(unknownRole.json, { errors: ['unknown role nope'] })
      })
    })

    test('lookup without a token, and GET lookup, look up the caller; the last use shows num_uses -1', async () => {
      await withVaultApi(host, async (url, root) => {
        const post = await call(`${url}/v1/auth/token/lookup`, { token: root, body: {} })
        assert.equal(post.status, 200)
        assert.equal((post.json as Envelope).data?.id, root)
        const get = await call(`${url}/v1/auth/token/lookup`, { token: root })
        assert.equal(get.status, 200)
        assert.equal((get.json as Envelope).data?.id, root)

        const created = await call(`${url}/v1/auth/token/create`, {
          token: root,
          body: { num_uses: 2 },
        })
        const token = (created.json as Envelope).auth?.client_token ?? ''
        const first = await call(`${url}/v1/auth/token/lookup-self`, { token })
        assert.equal((first.json as Envelope).data?.num_uses, 1)
        const last = await call(`${url}/v1/auth/token/lookup-self`, { token })
        assert.equal((last.json as Envelope).data?.num_uses, -1)
        assert.equal((await call(`${url}/v1/auth/token/lookup-self`, { token })).status, 403)
      })
    })

    test('an unrouted request spends a use; a body that cannot be parsed does not', async () => {
      await withVaultApi(host, async (url, root, store) => {
        const created = await store.create({ parent: root, numUses: 3 })
        const token = created.clientToken
        const malformed = await call(`${url}/v1/auth/token/create`, { token, raw: '{"a":' })
        assert.equal(malformed.status, 400)
        assert.equal((await store.lookup(token))?.numUses, 3)
        const unrouted = await call(`${url}/v1/auth/token/nope`, { token, body: {} })
        assert.equal(unrouted.status, 404)
        assert.equal((await store.lookup(token))?.numUses, 2)
        const wrongMethod = await call(`${url}/v1/auth/token/create`, { token })
        assert.equal(wrongMethod.status, 405)
        assert.equal((await store.lookup(token))?.numUses, 1)
      })
    })

    test("auth/token/tidy: 202 with Vault's warning, root only", async () => {
      await withVaultApi(host, async (url, root, store) => {
        const res = await call(`${url}/v1/auth/token/tidy`, { token: root, body: {} })
        assert.equal(res.status, 202)
        assert.match(
          (res.json as Envelope).warnings?.[0] ?? '',
          /^Tidy operation successfully started/,
        )
        const user = await store.create({ policies: ['app'] })
        const denied = await call(`${url}/v1/auth/token/tidy`, {
          token: user.clientToken,
          body: {},
        })
        assert.equal(denied.status, 403)
      })
    })

    test("refused creations are Vault's ErrInvalidRequest, 400: a duplicate id, policies beyond the caller's", async () => {
      await withVaultApi(host, async (url, root, store) => {
        const create = (token: string, body: unknown) =>
          call(`${url}/v1/auth/token/create`, { token, body })
        assert.equal((await create(root, { id: 'custom-one' })).status, 200)
        const duplicate = await create(root, { id: 'custom-one' })
        assert.equal(duplicate.status, 400)
        assert.deepEqual(duplicate.json, { errors: ['A token with this id already exists'] })
        const user = await store.create({ policies: ['app'] })
        assert.equal((await create(user.clientToken, { policies: ['other'] })).status, 400)
        assert.equal((await create(user.clientToken, { policies: ['root'] })).status, 400)
      })
    })

    test("fields decode as Vault's weak decoding reads them; a form body is read as a form", async () => {
      await withVaultApi(host, async (url, root) => {
        const created = await call(`${url}/v1/auth/token/create`, {
          token: root,
          body: { renewable: 0, meta: { uid: 42, admin: false }, display_name: 7, num_uses: '' },
        })
        assert.equal(created.status, 200)
        const auth = (created.json as { auth: Record<string, unknown> }).auth
        assert.equal(auth.renewable, false)
        assert.deepEqual(auth.metadata, { uid: '42', admin: '0' })
        assert.equal(auth.num_uses, 0)
        const form = await call(`${url}/v1/auth/token/create`, {
          token: root,
          raw: 'policies=app&policies=ops&ttl=1h&renewable=false',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        })
        assert.equal(form.status, 200)
        const formAuth = (form.json as { auth: Record<string, unknown> }).auth
        assert.deepEqual(formAuth.policies, ['app', 'default', 'ops'])
        assert.equal(formAuth.lease_duration, 3600)
        assert.equal(formAuth.renewable, false)
        // Sent as a form but written as JSON: JSON, as Vault reads it.
        const json = await call(`${url}/v1/auth/token/create`, {
          token: root,
          raw: '{"policies":["app"]}',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        })
        assert.deepEqual((json.json as { auth: { policies: string[] } }).auth.policies, [
          'app',
          'default',
        ])
      })
    })

    test("a policy's parameter rules see fields as the endpoint acts on them: no spelling, empty value or case slips past", async () => {
      await withVaultApi(host, async (url, _root, store) => {
        await store.policies.write(
          'minter',
          `
path "auth/token/create" {
  capabilities = ["update"]
  allowed_parameters = { "policies" = ["dev"], "num_uses" = [1], "ttl" = ["1m"], "renewable" = [false] }
}
path "auth/token/create-orphan" {
  capabilities = ["update"]
  denied_parameters = { "policies" = ["admin"], "renewable" = [true], "no_default_policy" = [true] }
}
`,
        )
        const minter = await store.create({ policies: ['minter', 'dev', 'admin', 'ops'] })
        const create = (path: string, body: unknown, form = false) =>
          call(`${url}/v1/auth/token/${path}`, {
            token: minter.clientToken,
            ...(form
              ? {
                  raw: String(body),
                  headers: { 'content-type': 'application/x-www-form-urlencoded' },
                }
              : { body }),
          })
        const allowed = { policies: ['dev'], num_uses: 1, ttl: '1m', renewable: false }
        assert.equal((await create('create', allowed)).status, 200)
        assert.equal((await create('create', { ...allowed, num_uses: '1' })).status, 200)
        for (const body of [
          { ...allowed, num_uses: '' },
          { ...allowed, ttl: '' },
          { ...allowed, policies: '' },
          { ...allowed, policies: [] },
        ]) {
          assert.equal((await create('create', body)).status, 403, JSON.stringify(body))
        }
        assert.equal((await create('create', 'policies=dev&num_uses=&ttl=1m', true)).status, 403)
        for (const body of [
          { policies: ['Admin'] },
          { policies: [' admin'] },
          { policies: 'dev,ADMIN' },
          { renewable: 'true' },
          { renewable: 1 },
          { renewable: 't' },
          { no_default_policy: '1' },
        ]) {
          assert.equal((await create('create-orphan', body)).status, 403, JSON.stringify(body))
        }
        assert.equal((await create('create-orphan', 'policies=ADMIN', true)).status, 403)
        assert.equal((await create('create-orphan', { policies: ['dev'] })).status, 200)

        // Values written as strings, Vault's usual style, hold against the decoded fields; `lease` is seen as `ttl`.
        await store.policies.write(
          'strings',
          `
path "auth/token/create" {
  capabilities = ["update"]
  allowed_parameters = { "num_uses" = ["1", "2"], "lease" = [], "ttl" = ["1m"] }
}
path "auth/token/create-orphan" {
  capabilities = ["update"]
  denied_parameters = { "num_uses" = ["0"], "renewable" = ["true"], "ttl" = [] }
}
`,
        )
        const typed = await store.create({ policies: ['strings', 'dev'] })
        const send = (path: string, body: unknown) =>
          call(`${url}/v1/auth/token/${path}`, { token: typed.clientToken, body })
        assert.equal((await send('create', { num_uses: '1' })).status, 200)
        assert.equal((await send('create', { num_uses: 2 })).status, 200)
        assert.equal((await send('create', { num_uses: 3 })).status, 403)
        assert.equal(
          (await send('create', { num_uses: 1, lease: '1h' })).status,
          403,
          'lease as ttl',
        )
        assert.equal((await send('create', { num_uses: 1, lease: '1m' })).status, 200)
        for (const body of [
          { num_uses: '0' },
          { num_uses: 0 },
          { renewable: 't' },
          { lease: '1h' },
        ]) {
          assert.equal((await send('create-orphan', body)).status, 403, JSON.stringify(body))
        }
        assert.equal((await send('create-orphan', { num_uses: 5, renewable: false })).status, 200)
      })
    })

    test('a GET reads its data from the query string, as Vault does: lookup?token= looks that token up', async () => {
      await withVaultApi(host, async (url, root, store) => {
        const other = await store.create({ policies: ['app'], metadata: { who: 'other' } })
        const looked = await call(
          `${url}/v1/auth/token/lookup?token=${encodeURIComponent(other.clientToken)}`,
          { token: root },
        )
        assert.equal(looked.status, 200)
        assert.equal((looked.json as Envelope).data?.accessor, other.accessor)
        const self = await call(`${url}/v1/auth/token/lookup`, { token: root })
        assert.deepEqual((self.json as Envelope).data?.policies, ['root'])
        // lookup-self takes Vault's unused `token` field without a warning, and looks up the caller.
        const selfWithToken = await call(`${url}/v1/auth/token/lookup-self`, {
          token: root,
          body: { token: other.clientToken },
        })
        assert.deepEqual((selfWithToken.json as Envelope).data?.policies, ['root'])
        assert.equal((selfWithToken.json as Envelope).warnings, null)
        const warned = await call(`${url}/v1/auth/token/lookup-self?zeta=1&zeta=2&help=1`, {
          token: root,
        })
        assert.deepEqual((warned.json as Envelope).warnings, [
          'Endpoint ignored these unrecognized parameters: [zeta]',
        ])
        // A policy's parameter rules apply to a read's query string, as in Vault.
        await store.policies.write(
          'peek',
          'path "auth/token/lookup" {\n capabilities = ["read"]\n allowed_parameters = { "token" = [] }\n}',
        )
        const peek = await store.create({ policies: ['peek'] })
        const allowed = await call(
          `${url}/v1/auth/token/lookup?token=${encodeURIComponent(other.clientToken)}`,
          { token: peek.clientToken },
        )
        assert.equal(allowed.status, 200)
        const refused = await call(`${url}/v1/auth/token/lookup?token=x&extra=1`, {
          token: peek.clientToken,
        })
        assert.equal(refused.status, 403)
      })
    })

    test("revoke-orphan refused by its own check: 400; renew of an unknown lease: Vault's message", async () => {
      await withVaultApi(
        host,
        async (url, root, store) => {
          const user = await store.create({ policies: ['app'] })
          const res = await call(`${url}/v1/auth/token/revoke-orphan`, {
            token: user.clientToken,
            body: { token: user.clientToken },
          })
          assert.equal(res.status, 400)
          assert.deepEqual(res.json, {
            errors: ['root or sudo privileges required to revoke and orphan'],
          })
          const lease = await call(`${url}/v1/sys/leases/renew`, {
            token: root,
            body: { lease_id: 'aws/creds/x/nope' },
          })
          assert.equal(lease.status, 400)
          assert.deepEqual(lease.json, { errors: ['lease not found'] })
        },
        { authorize: () => true },
      )
    })
  })
}
