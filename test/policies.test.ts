import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'

import { MemoryStorage, TokenStore } from '../src/index.js'
import { DEFAULT_POLICY_TEXT } from '../src/acl/builtin.js'
import type { Storage } from '../src/storage/storage.js'
import { harness, recordAudit, rejectsWith } from './helpers/index.js'

const READ_APPS = 'path "apps/*" {\n  capabilities = ["read", "list"]\n}\n'

describe('store.policies', () => {
  test('policies.write/read/list/delete: round trip; names normalised; list sorted with built-ins', async () => {
    const { store } = harness()
    const written = await store.policies.write('  Reader ', READ_APPS)
    assert.equal(written.name, 'reader')
    assert.equal(written.text, READ_APPS)
    assert.deepEqual(
      written.rules.map((rule) => [rule.path, [...rule.capabilities]]),
      [['apps/*', ['read', 'list']]],
    )
    assert.deepEqual(await store.policies.read('READER'), written)
    await store.policies.write('aaa', { path: { 'x/+': { capabilities: ['update'] } } })
    const aaa = await store.policies.read('aaa')
    assert.deepEqual(JSON.parse(aaa?.text ?? ''), { path: { 'x/+': { capabilities: ['update'] } } })
    assert.deepEqual(await store.policies.list(), ['aaa', 'default', 'reader', 'root'])
    await store.policies.delete('reader')
    await store.policies.delete('reader') // unknown: no-op
    assert.equal(await store.policies.read('reader'), null)
    assert.deepEqual(await store.policies.list(), ['aaa', 'default', 'root'])
  })

  test('built-ins: root is neither writable nor deletable; default is editable, not deletable', async () => {
    const { store } = harness()
    assert.deepEqual(await store.policies.read('root'), { name: 'root', text: '', rules: [] })
    const builtin = await store.policies.read('default')
    assert.equal(builtin?.text, DEFAULT_POLICY_TEXT)
    assert.ok(builtin.rules.some((rule) => rule.path === 'auth/token/lookup-self'))
    await rejectsWith(store.policies.write('root', READ_APPS), 'invalid_request')
    await rejectsWith(store.policies.delete('root'), 'invalid_request')
    await rejectsWith(store.policies.delete('Default'), 'invalid_request')
    await store.policies.write('default', READ_APPS)
    assert.equal((await store.policies.read('default'))?.text, READ_APPS)
    assert.deepEqual(await store.policies.list(), ['default', 'root'])
  })

  test('response-wrapping and control-group: never written, deleted, assigned, or read from storage', async () => {
    const { store, memory } = harness()
    const root = (await store.createRoot()).clientToken
    await store.roles.write('wrapper', { allowedPolicies: ['response-wrapping'] })
    for (const name of ['response-wrapping', ' Response-Wrapping ', 'control-group']) {
      const written = await rejectsWith(store.policies.write(name, READ_APPS), 'invalid_request')
      assert.match(written.message, /^cannot update (response-wrapping|control-group) policy$/)
      await rejectsWith(store.policies.delete(name), 'invalid_request')
      const given = await rejectsWith(
        store.create({ parent: root, policies: [name] }),
        'invalid_request',
      )
      assert.match(given.message, /^cannot assign policy "(response-wrapping|control-group)"$/)
    }
    const byRole = await rejectsWith(
      store.create({ parent: root, role: 'wrapper' }),
      'invalid_request',
    )
    assert.equal(byRole.message, 'cannot assign policy "response-wrapping"')
    // One already in storage (written before writes were refused) gives wrapping tokens nothing: Vault's one
    // built-in rule that applies here stands instead.
    await memory.putPolicy('response-wrapping', 'path "*" { capabilities = ["read"] }', Date.now())
    const { token } = await store.wrap({ secret: 1 }, { ttl: '5m' })
    const other = await store.wrap({ secret: 2 }, { ttl: '5m' })
    assert.deepEqual(await store.capabilities(other.token, 'apps/x'), ['deny'])
    assert.deepEqual(await store.capabilities(other.token, 'sys/wrapping/unwrap'), ['update'])
    await rejectsWith(
      store.authorize(token, { path: 'apps/x', operation: 'read' }),
      'permission_denied',
    )
    // Read shows what it grants, not the stored copy; listing leaves the reserved names out, as Vault's does.
    assert.equal(
      (await store.policies.read('response-wrapping'))?.text,
      'path "sys/wrapping/unwrap" {\n    capabilities = ["update"]\n}\n',
    )
    assert.equal(await store.policies.read('control-group'), null)
    assert.deepEqual(await store.policies.list(), ['default', 'root'])
  })

  test('a malformed policy or name is invalid_request and changes nothing', async () => {
    const { store } = harness()
    await store.policies.write('p', READ_APPS)
    const bad: unknown[] = [
      // NUL: no storage may be handed what PostgreSQL cannot hold.
      'path "x" { capabilities = ["read"] }\n# \u0000',
      'path "x" { capabilities = ["fly"] }',
      'path "x" { capabilities = ["read"] ',
      'path "x" { capabilities = ["read"]\n min_wrapping_ttl = "1s" }',
      42,
      null,
    ]
    for (const policy of bad) {
      await rejectsWith(store.policies.write('p', policy as string), 'invalid_request')
    }
    for (const name of ['', '   ', 'a\nb', 'x'.repeat(300), 7]) {
      await rejectsWith(store.policies.write(name as string, READ_APPS), 'invalid_request')
    }
    assert.equal((await store.policies.read('p'))?.text, READ_APPS)
    assert.deepEqual(await store.policies.list(), ['default', 'p', 'root'])
  })

  test('audit events are named as the methods', async () => {
    const { store } = harness()
    const events = recordAudit(store)
    await store.policies.write('p', READ_APPS)
    await store.policies.read('p')
    await store.policies.list()
    await store.policies.delete('p')
    await store.policies.delete('root').catch(() => undefined)
    assert.deepEqual(
      events.map((event) => [event.operation, event.outcome, event.code]),
      [
        ['policies.write', 'ok', undefined],
        ['policies.read', 'ok', undefined],
        ['policies.list', 'ok', undefined],
        ['policies.delete', 'ok', undefined],
        ['policies.delete', 'error', 'invalid_request'],
      ],
    )
  })

  test('a storage without policy methods: writes refused, built-ins still apply', async () => {
    const memory = new MemoryStorage()
    const bare: Storage = new Proxy(memory, {
      get(target, key) {
        if (typeof key === 'string' && key.endsWith('Policy')) return undefined
        if (key === 'listPolicies') return undefined
        const value: unknown = Reflect.get(target, key)
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value
      },
    })
    const store = new TokenStore({ storage: bare, timers: false })
    await rejectsWith(store.policies.write('p', READ_APPS), 'invalid_request')
    assert.deepEqual(await store.policies.list(), ['default', 'root'])
    const { clientToken } = await store.create({ policies: ['p'] })
    assert.deepEqual(await store.capabilities(clientToken, 'auth/token/lookup-self'), ['read'])
    assert.deepEqual(await store.capabilities(clientToken, 'apps/x'), ['deny'])
    await store.close()
  })

  test('stores sharing one storage object see each other’s writes at once', async () => {
    const memory = new MemoryStorage()
    const secret = randomBytes(32)
    const a = new TokenStore({ storage: memory, secret, timers: false })
    const b = new TokenStore({ storage: memory, secret, timers: false })
    const { clientToken } = await a.create({ policies: ['reader'] })
    assert.deepEqual(await b.capabilities(clientToken, 'apps/x'), ['deny'])
    await a.policies.write('reader', READ_APPS)
    assert.deepEqual(await b.capabilities(clientToken, 'apps/x'), ['list', 'read'])
    await a.policies.delete('reader')
    assert.deepEqual(await b.capabilities(clientToken, 'apps/x'), ['deny'])
    await a.close()
    await b.close()
  })
})
