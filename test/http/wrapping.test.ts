/**
 * Response wrapping through the Vault API, on each host (node:http, Express, Koa): `X-Vault-Wrap-TTL` on create and
 * lookup, `sys/wrapping/unwrap` (third party and first party) through node-vault, `lookup`, `rewrap`, `wrap`, and
 * the refusals (a header on an answer that cannot be wrapped, malformed TTLs, a wrapping token used elsewhere).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import nodeVault from 'node-vault'

import type { TokenStore } from '../../src/index.js'
import { rejectsWith, type AuthBlock, type LookupData } from './helpers/node-vault.js'
import { VAULT_HOSTS, call, withVaultApi } from './helpers/servers.js'

interface WrapInfoBody {
  token: string
  accessor: string
  ttl: number
  creation_time: string
  creation_path: string
  wrapped_accessor?: string
}

interface Envelope {
  data: Record<string, unknown> | null
  auth: AuthBlock | null
  wrap_info: WrapInfoBody | null
  warnings: string[] | null
}

const INVALID = 'wrapping token is not valid or does not exist'

/** The node-vault methods these tests use, typed (node-vault itself is typed with `any`). */
interface WrappingClient {
  tokenCreate(args: object): Promise<Envelope>
  tokenLookup(args: { token: string }): Promise<{ data: LookupData }>
  tokenLookupSelf(): Promise<{ data: LookupData }>
  tokenRevokeAccessor(args: { accessor: string }): Promise<unknown>
  unwrap(args?: { token?: string }): Promise<Envelope>
  write(path: string, data: object, requestOptions?: object): Promise<Envelope>
  token: string
}

function client(endpoint: string, token: string): WrappingClient {
  const vault: unknown = nodeVault({ endpoint, token, noCustomHTTPVerbs: true })
  return vault as WrappingClient
}

/** node-vault's extra request options: a header on one call. */
function wrapTtl(ttl: string): { requestOptions: { headers: Record<string, string> } } {
  return { requestOptions: { headers: { 'X-Vault-Wrap-TTL': ttl } } }
}

for (const [host, makeServer] of Object.entries(VAULT_HOSTS)) {
  describe(`response wrapping over ${host}`, () => {
    const withApi = (
      run: (endpoint: string, root: string, store: TokenStore) => Promise<void>,
    ): Promise<void> => withVaultApi(makeServer, run)

    test('create with X-Vault-Wrap-TTL answers only wrap_info; a third party unwraps the auth once', async () => {
      await withApi(async (endpoint, root, store) => {
        const res = await call(`${endpoint}/v1/auth/token/create`, {
          token: root,
          body: { policies: ['app'], ttl: '1h' },
          headers: { 'X-Vault-Wrap-TTL': '5m' },
        })
        assert.equal(res.status, 200)
        const body = res.json as Envelope
        assert.equal(body.auth, null)
        assert.equal(body.data, null)
        const info = body.wrap_info
        assert.ok(info)
        assert.match(info.token, /^hvs\./)
        assert.equal(info.ttl, 300)
        assert.equal(info.creation_path, 'auth/token/create')
        assert.ok(!Number.isNaN(Date.parse(info.creation_time)))
        assert.equal(typeof info.wrapped_accessor, 'string')
        const wrapped = await store.lookupAccessor(info.wrapped_accessor ?? '')
        assert.deepEqual(wrapped?.policies, ['app', 'default'], 'the wrapped token exists')

        const vault = client(endpoint, root)
        const unwrapped = await vault.unwrap({ token: info.token })
        assert.ok(unwrapped.auth)
        assert.equal(unwrapped.auth.accessor, info.wrapped_accessor)
        assert.deepEqual(unwrapped.auth.policies, ['app', 'default'])
        assert.equal(unwrapped.wrap_info, null)
        const lookup = await client(endpoint, root).tokenLookup({
          token: unwrapped.auth.client_token,
        })
        assert.equal(lookup.data.id, unwrapped.auth.client_token)
        // Intercepted: the second unwrap finds nothing.
        await rejectsWith(client(endpoint, root).unwrap({ token: info.token }), 400, INVALID)
        assert.ok(await store.lookup(root), 'the caller is unharmed')
      })
    })

    test('node-vault: tokenCreate with the header, then the wrapping token unwraps itself (first party)', async () => {
      await withApi(async (endpoint, root) => {
        const created = await client(endpoint, root).tokenCreate({
          ttl: '10m',
          ...wrapTtl('60'),
        })
        const info = created.wrap_info
        assert.ok(info)
        assert.equal(info.ttl, 60)
        const asWrapper = client(endpoint, info.token)
        const unwrapped = await asWrapper.unwrap()
        assert.ok(unwrapped.auth)
        assert.equal(unwrapped.auth.lease_duration, 600)
        await rejectsWith(client(endpoint, info.token).unwrap(), 400, INVALID)
      })
    })

    test('a revoked wrapped token unwraps, but is dead; revoking the wrapping token ends the value', async () => {
      await withApi(async (endpoint, root) => {
        const vault = client(endpoint, root)
        const first = (await call(`${endpoint}/v1/auth/token/create`, {
          token: root,
          body: {},
          headers: { 'X-Vault-Wrap-TTL': '1m' },
        }).then((res) => res.json)) as Envelope
        assert.ok(first.wrap_info)
        await vault.tokenRevokeAccessor({ accessor: first.wrap_info.wrapped_accessor ?? '' })
        const unwrapped = await vault.unwrap({ token: first.wrap_info.token })
        assert.ok(unwrapped.auth)
        await rejectsWith(
          client(endpoint, root).tokenLookup({ token: unwrapped.auth.client_token }),
          403,
        )
        const second = (await call(`${endpoint}/v1/auth/token/create`, {
          token: root,
          body: {},
          headers: { 'X-Vault-Wrap-TTL': '1m' },
        }).then((res) => res.json)) as Envelope
        assert.ok(second.wrap_info)
        await client(endpoint, root).tokenRevokeAccessor({ accessor: second.wrap_info.accessor })
        await rejectsWith(
          client(endpoint, root).unwrap({ token: second.wrap_info.token }),
          400,
          INVALID,
        )
      })
    })

    test('sys/wrapping/lookup spends nothing and needs no calling token; rewrap moves the value', async () => {
      await withApi(async (endpoint, root) => {
        const res = await call(`${endpoint}/v1/auth/token/lookup-self`, {
          token: root,
          headers: { 'X-Vault-Wrap-TTL': '2m' },
        })
        const info = (res.json as Envelope).wrap_info
        assert.ok(info)
        assert.equal(info.creation_path, 'auth/token/lookup-self')
        assert.equal(info.wrapped_accessor, undefined, 'a data answer has no wrapped accessor')
        for (let i = 0; i < 2; i++) {
          const lookup = await call(`${endpoint}/v1/sys/wrapping/lookup`, {
            body: { token: info.token },
          })
          assert.equal(lookup.status, 200)
          assert.deepEqual((lookup.json as Envelope).data, {
            creation_ttl: 120,
            creation_time: info.creation_time,
            creation_path: 'auth/token/lookup-self',
          })
        }
        const bad = await call(`${endpoint}/v1/sys/wrapping/lookup`, { body: { token: root } })
        assert.equal(bad.status, 400)
        assert.deepEqual(bad.json, { errors: [INVALID] })
        // Vault serves a read of it too: the token in the query string, or as the calling token.
        for (const get of [
          call(`${endpoint}/v1/sys/wrapping/lookup?token=${encodeURIComponent(info.token)}`),
          call(`${endpoint}/v1/sys/wrapping/lookup`, { token: info.token }),
        ]) {
          const read = await get
          assert.equal(read.status, 200)
          assert.equal((read.json as Envelope).data?.creation_path, 'auth/token/lookup-self')
        }

        const rewrapped = await call(`${endpoint}/v1/sys/wrapping/rewrap`, {
          token: root,
          body: { token: info.token },
        })
        assert.equal(rewrapped.status, 200)
        const next = (rewrapped.json as Envelope).wrap_info
        assert.ok(next)
        assert.notEqual(next.token, info.token)
        assert.equal(next.ttl, 120)
        assert.equal(next.creation_path, 'auth/token/lookup-self')
        await rejectsWith(client(endpoint, root).unwrap({ token: info.token }), 400, INVALID)
        // First-party rewrap, then unwrap the latest.
        const again = await call(`${endpoint}/v1/sys/wrapping/rewrap`, {
          token: next.token,
          body: {},
        })
        const latest = (again.json as Envelope).wrap_info
        assert.ok(latest)
        const unwrapped = await client(endpoint, latest.token).unwrap()
        assert.equal(unwrapped.data?.path, 'auth/token/root')
      })
    })

    test('sys/wrapping/wrap wraps the body; without X-Vault-Wrap-TTL it is refused before the token is used', async () => {
      await withApi(async (endpoint, root, store) => {
        const limited = await store.create({ parent: root, numUses: 2 })
        const refused = await call(`${endpoint}/v1/sys/wrapping/wrap`, {
          token: limited.clientToken,
          body: { password: 'hunter2' },
        })
        assert.equal(refused.status, 400)
        assert.deepEqual(refused.json, {
          errors: ['endpoint requires response wrapping to be used'],
        })
        assert.equal((await store.lookup(limited.clientToken))?.numUses, 2)
        const vault = client(endpoint, limited.clientToken)
        const wrapped = await vault.write(
          'sys/wrapping/wrap',
          { password: 'hunter2', nested: { a: [1] } },
          { headers: { 'X-Vault-Wrap-TTL': '30s' } },
        )
        assert.ok(wrapped.wrap_info)
        assert.ok(!JSON.stringify(wrapped).includes('hunter2'))
        assert.equal(wrapped.wrap_info.creation_path, 'sys/wrapping/wrap')
        const unwrapped = await client(endpoint, root).unwrap({
          token: wrapped.wrap_info.token,
        })
        assert.deepEqual(unwrapped.data, { password: 'hunter2', nested: { a: [1] } })
      })
    })

    test('store.wrap values unwrap over HTTP as data', async () => {
      await withApi(async (endpoint, root, store) => {
        const object = await store.wrap({ token: 'hvs.child' }, { ttl: 60 })
        const text = await store.wrap('just text', { ttl: 60 })
        const a = await client(endpoint, root).unwrap({ token: object.token })
        assert.deepEqual(a.data, { token: 'hvs.child' })
        const b = await client(endpoint, text.token).unwrap()
        assert.deepEqual(b.data, { value: 'just text' })
      })
    })

    test('X-Vault-Wrap-TTL is never ignored: refused with 400 where nothing can be wrapped, changing nothing', async () => {
      await withApi(async (endpoint, root, store) => {
        const target = await store.create({ parent: root })
        const refusals: Array<[string, Record<string, string>, unknown]> = [
          ['auth/token/revoke', { 'X-Vault-Wrap-TTL': '1m' }, { token: target.clientToken }],
          ['auth/token/create', { 'X-Vault-Wrap-TTL': '0' }, {}],
          ['auth/token/create', { 'X-Vault-Wrap-TTL': '-5s' }, {}],
          ['auth/token/create', { 'X-Vault-Wrap-TTL': 'soon' }, {}],
          ['auth/token/create', { 'X-Vault-Wrap-TTL': '33d' }, {}],
          ['auth/token/create', { 'X-Vault-Wrap-TTL': '1m', 'X-Vault-Wrap-Format': 'jwt' }, {}],
          ['sys/wrapping/rewrap', { 'X-Vault-Wrap-TTL': '1m' }, { token: 'x' }],
        ]
        const health = await call(`${endpoint}/v1/sys/health`, {
          headers: { 'X-Vault-Wrap-TTL': '1m' },
        })
        assert.equal(health.status, 400)
        const before = await store.lookup(root)
        for (const [path, headers, body] of refusals) {
          const res = await call(`${endpoint}/v1/${path}`, { token: root, body, headers })
          assert.equal(res.status, 400, `${path} ${JSON.stringify(headers)}`)
        }
        assert.ok(await store.lookup(target.clientToken), 'revoke did not run')
        assert.deepEqual(await store.lookup(root), before)
        const revoke = await call(`${endpoint}/v1/auth/token/revoke`, {
          token: root,
          body: { token: target.clientToken },
          headers: { 'X-Vault-Wrap-TTL': '' },
        })
        assert.equal(revoke.status, 204, 'an empty header asks for nothing, as in Vault')
      })
    })

    test('a wrapping token used anywhere else is refused, and its value is gone', async () => {
      await withApi(async (endpoint, root) => {
        const res = await call(`${endpoint}/v1/auth/token/create`, {
          token: root,
          body: {},
          headers: { 'X-Vault-Wrap-TTL': '1m' },
        })
        const info = (res.json as Envelope).wrap_info
        assert.ok(info)
        await rejectsWith(client(endpoint, info.token).tokenLookupSelf(), 403)
        await rejectsWith(client(endpoint, root).unwrap({ token: info.token }), 400, INVALID)
      })
    })

    test("a wrapping token unwraps another (Vault's response-wrapping policy), spending its own use", async () => {
      await withApi(async (endpoint, root) => {
        const wrap = async (): Promise<WrapInfoBody> => {
          const res = await call(`${endpoint}/v1/auth/token/create`, {
            token: root,
            body: { policies: ['app'] },
            headers: { 'X-Vault-Wrap-TTL': '1m' },
          })
          const info = (res.json as Envelope).wrap_info
          assert.ok(info)
          return info
        }
        const [caller, other] = [await wrap(), await wrap()]
        const unwrapped = await client(endpoint, caller.token).unwrap({ token: other.token })
        assert.deepEqual(unwrapped.auth?.policies, ['app', 'default'])
        // Both are spent: the caller by the request, the other by the unwrap.
        await rejectsWith(client(endpoint, root).unwrap({ token: caller.token }), 400, INVALID)
        await rejectsWith(client(endpoint, root).unwrap({ token: other.token }), 400, INVALID)
      })
    })
  })
}
