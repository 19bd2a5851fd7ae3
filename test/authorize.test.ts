import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { TokenStoreError } from '../src/index.js'

import { harness, recordAudit, rejectsWith } from './helpers/index.js'

const DEPLOY = `
path "apps/+/deploy" { capabilities = ["update"] }
path "apps/*" { capabilities = ["read", "list"] }
path "apps/secret/*" { capabilities = ["deny"] }
path "admin/*" { capabilities = ["update", "sudo"] }
path "config" {
  capabilities = ["create", "update"]
  allowed_parameters = { "level" = ["low", "high"] }
}
`

async function setup() {
  const h = harness()
  await h.store.policies.write('deploy', DEPLOY)
  const root = (await h.store.createRoot()).clientToken
  const token = (await h.store.create({ policies: ['deploy'] })).clientToken
  return { ...h, root, token }
}

describe('store.authorize()', () => {
  test('allows what the policies grant and returns the TokenInfo; refuses the rest with permission_denied', async () => {
    const { store, token } = await setup()
    const info = await store.authorize(token, { path: 'apps/billing/deploy', operation: 'update' })
    assert.deepEqual(info.policies, ['default', 'deploy'])
    await store.authorize(token, { path: '/apps/billing', operation: 'read' })
    await rejectsWith(
      store.authorize(token, { path: 'apps/billing', operation: 'delete' }),
      'permission_denied',
    )
    await rejectsWith(
      store.authorize(token, { path: 'apps/secret/key', operation: 'read' }),
      'permission_denied',
    )
    await rejectsWith(
      store.authorize(token, { path: 'elsewhere', operation: 'read' }),
      'permission_denied',
    )
    // From `default`.
    await store.authorize(token, { path: 'auth/token/lookup-self', operation: 'read' })
  })

  test('several operations: any one suffices; sudo: required on top when asked', async () => {
    const { store, token } = await setup()
    await store.authorize(token, { path: 'config', operation: ['update', 'create'] })
    await rejectsWith(
      store.authorize(token, { path: 'config', operation: ['delete', 'read'] }),
      'permission_denied',
    )
    await store.authorize(token, { path: 'admin/x', operation: 'update', sudo: true })
    await rejectsWith(
      store.authorize(token, { path: 'apps/a/deploy', operation: 'update', sudo: true }),
      'permission_denied',
    )
  })

  test('caseSensitive: false: the path must be allowed as given and lower-cased too', async () => {
    const { store, token } = await setup()
    const read = (path: string, caseSensitive?: boolean) =>
      store.authorize(token, {
        path,
        operation: 'read',
        ...(caseSensitive === undefined ? {} : { caseSensitive }),
      })
    // `Apps/secret/x` matches no rule as given; lower-cased, the deny on apps/secret/*.
    await rejectsWith(read('apps/SECRET/x', false), 'permission_denied')
    assert.ok(await read('apps/SECRET/x'), 'case-sensitive by default: another path, under apps/*')
    assert.ok(await read('apps/SECRET/x', true))
    assert.ok(await read('apps/Billing', false), 'allowed both ways')
    await rejectsWith(read('APPS/billing', false), 'permission_denied')
    const malformed = await rejectsWith(
      store.authorize(token, {
        path: 'apps/x',
        operation: 'read',
        caseSensitive: 'yes' as unknown as boolean,
      }),
      'invalid_request',
    )
    assert.match(malformed.message, /caseSensitive/)
  })

  test('parameters are checked when given', async () => {
    const { store, token } = await setup()
    await store.authorize(token, {
      path: 'config',
      operation: 'update',
      parameters: { level: 'low' },
    })
    await rejectsWith(
      store.authorize(token, { path: 'config', operation: 'update', parameters: { level: 'max' } }),
      'permission_denied',
    )
    await rejectsWith(
      store.authorize(token, { path: 'config', operation: 'update', parameters: { other: 1 } }),
      'permission_denied',
    )
  })

  test('the operations are read once, when called: changing the list afterwards changes nothing', async () => {
    const { store, token } = await setup()
    // The first request compiles the ACL, so the check runs after `authorize` has returned.
    const granted: string[] = ['read']
    const allowed = store.authorize(token, { path: 'apps/a', operation: granted as never })
    granted[0] = 'fly'
    await allowed
    const refused: string[] = ['delete']
    const denied = store.authorize(token, { path: 'apps/a', operation: refused as never })
    refused[0] = 'read'
    await rejectsWith(denied, 'permission_denied')
  })

  test('a request whose reading throws is invalid_request, with the cause, and spends nothing', async () => {
    const { store } = await setup()
    const { clientToken } = await store.create({ policies: ['deploy'], numUses: 2 })
    const boom = new Error('getter')
    const request = {
      get path(): string {
        throw boom
      },
      operation: 'read',
    }
    const error = await store.authorize(clientToken, request as never).then(
      () => assert.fail('resolved'),
      (caught: unknown) => caught,
    )
    assert.ok(error instanceof TokenStoreError)
    assert.equal(error.code, 'invalid_request')
    assert.equal(error.cause, boom)
    assert.equal((await store.lookup(clientToken))?.numUses, 2)
  })

  test('a refused request still spends its use; a malformed one spends nothing', async () => {
    const { store } = await setup()
    const { clientToken } = await store.create({ policies: ['deploy'], numUses: 3 })
    await rejectsWith(
      store.authorize(clientToken, { path: 'nowhere', operation: 'read' }),
      'permission_denied',
    )
    assert.equal((await store.lookup(clientToken))?.numUses, 2)
    for (const bad of [
      { path: 1, operation: 'read' },
      { path: 'apps/x', operation: 'fly' },
      { path: 'apps/x', operation: 'toString' },
      { path: 'apps/x', operation: '__proto__' },
      { path: 'apps/x', operation: ['read', 'constructor'] },
      { path: 'apps/x', operation: [] },
      { path: 'apps/x', operation: 'read', parameters: [] },
      { path: 'apps/x', operation: 'read', sudo: 'yes' },
      null,
    ]) {
      await rejectsWith(store.authorize(clientToken, bad as never), 'invalid_request')
    }
    assert.equal((await store.lookup(clientToken))?.numUses, 2)
    await rejectsWith(
      store.authorize(clientToken, { path: 'nowhere', operation: 'read' }),
      'permission_denied',
    )
    // The last use refused: the token is gone all the same.
    await rejectsWith(
      store.authorize(clientToken, { path: 'nowhere', operation: 'read' }),
      'permission_denied',
    )
    assert.equal(await store.lookup(clientToken), null)
    await rejectsWith(
      store.authorize(clientToken, { path: 'apps/x', operation: 'read' }),
      'invalid_token',
    )
  })

  test('root passes everything; a policy that does not exist grants nothing', async () => {
    const { store, root } = await setup()
    await store.authorize(root, { path: 'anything/at/all', operation: 'delete', sudo: true })
    const ghost = (await store.create({ policies: ['ghost'], noDefaultPolicy: true })).clientToken
    await rejectsWith(
      store.authorize(ghost, { path: 'apps/x', operation: 'read' }),
      'permission_denied',
    )
    assert.deepEqual(await store.capabilities(ghost, 'auth/token/lookup-self'), ['deny'])
  })

  test('a policy change takes effect on the next request (compiled ACLs are dropped)', async () => {
    const { store, token } = await setup()
    // Twice, and twice below: the second is answered from the cache, which each change must empty.
    await store.authorize(token, { path: 'apps/a', operation: 'read' })
    await store.authorize(token, { path: 'apps/a', operation: 'read' })
    await store.policies.write('deploy', 'path "apps/*" { capabilities = ["deny"] }')
    await rejectsWith(
      store.authorize(token, { path: 'apps/a', operation: 'read' }),
      'permission_denied',
    )
    await store.policies.write('deploy', DEPLOY)
    await store.authorize(token, { path: 'apps/a', operation: 'read' })
    await store.authorize(token, { path: 'apps/a', operation: 'read' })
    await store.policies.delete('deploy')
    await rejectsWith(
      store.authorize(token, { path: 'apps/a', operation: 'read' }),
      'permission_denied',
    )
  })

  test('batch tokens are authorized by the policies they carry', async () => {
    const { store, root } = await setup()
    const batch = (await store.create({ parent: root, policies: ['deploy'], type: 'batch' }))
      .clientToken
    await store.authorize(batch, { path: 'apps/a', operation: 'read' })
    await rejectsWith(
      store.authorize(batch, { path: 'apps/a', operation: 'delete' }),
      'permission_denied',
    )
  })

  test('audit: authorize, with the accessor, ok or permission_denied', async () => {
    const { store, token } = await setup()
    const events = recordAudit(store)
    await store.authorize(token, { path: 'apps/a', operation: 'read' })
    await store.authorize(token, { path: 'x', operation: 'read' }).catch(() => undefined)
    assert.deepEqual(
      events.map((event) => [event.operation, event.outcome, event.code]),
      [
        ['authorize', 'ok', undefined],
        ['authorize', 'error', 'permission_denied'],
      ],
    )
    assert.ok(events.every((event) => typeof event.accessor === 'string'))
  })
})

describe('store.capabilities() / capabilitiesAccessor()', () => {
  test('sorted capability names of the rule that applies; root is [root]; spends no use', async () => {
    const { store, root } = await setup()
    const { clientToken, accessor } = await store.create({ policies: ['deploy'], numUses: 1 })
    assert.deepEqual(await store.capabilities(clientToken, 'apps/a'), ['list', 'read'])
    assert.deepEqual(await store.capabilities(clientToken, 'apps/a/deploy'), ['update'])
    assert.deepEqual(await store.capabilities(clientToken, 'apps/secret/k'), ['deny'])
    assert.deepEqual(await store.capabilities(clientToken, 'nowhere'), ['deny'])
    assert.deepEqual(await store.capabilitiesAccessor(accessor, 'admin/x'), ['sudo', 'update'])
    assert.deepEqual(await store.capabilities(root, 'anything'), ['root'])
    assert.equal((await store.lookup(clientToken))?.numUses, 1)
  })

  test('an unknown token or accessor is invalid_token; a bad path is invalid_request', async () => {
    const { store, token } = await setup()
    await rejectsWith(store.capabilities('hvs.nope', 'apps/a'), 'invalid_token')
    await rejectsWith(store.capabilitiesAccessor('nope', 'apps/a'), 'invalid_token')
    await rejectsWith(store.capabilities(token, 5 as never), 'invalid_request')
    await rejectsWith(store.capabilities(token, 'x'.repeat(5000)), 'invalid_request')
  })
})
