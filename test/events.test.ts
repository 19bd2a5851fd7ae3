import assert from 'node:assert/strict'
import { describe, mock, test } from 'node:test'

import type { AuditEvent } from '../src/index.js'
import {
  START,
  flushMicrotasks,
  harness,
  recordAudit,
  recordErrors,
  recordRevoked,
  rejectsWith,
  storedRecord,
} from './helpers/index.js'

describe('audit events', () => {
  test('audit: every operation emits one audit event with its name, outcome ok and the accessor it acted on', async () => {
    const { store, clock } = harness()
    const audits = recordAudit(store)
    const expectOne = (operation: string, accessor: string | null): void => {
      assert.equal(audits.length, 1, `${operation}: ${JSON.stringify(audits)}`)
      const [event] = audits
      assert.ok(event)
      assert.equal(event.operation, operation)
      assert.equal(event.outcome, 'ok')
      assert.equal(event.accessor, accessor)
      assert.equal('code' in event, false)
      assert.deepEqual(event.time, new Date(clock.now))
      audits.length = 0
    }
    const root = await store.createRoot()
    expectOne('createRoot', root.accessor)
    const auth = await store.create({ parent: root.clientToken, policies: ['a'], ttl: '1h' })
    expectOne('create', auth.accessor)
    clock.advance(1)
    await store.lookup(auth.clientToken)
    expectOne('lookup', auth.accessor)
    await store.lookup('hvs.unknown')
    expectOne('lookup', null)
    await store.lookupAccessor(auth.accessor)
    expectOne('lookupAccessor', auth.accessor)
    await store.authenticate(auth.clientToken)
    expectOne('authenticate', auth.accessor)
    await store.renew(auth.clientToken)
    expectOne('renew', auth.accessor)
    await store.renewAccessor(auth.accessor)
    expectOne('renewAccessor', auth.accessor)
    const child = await store.create({ parent: auth.clientToken })
    audits.length = 0
    await store.revokeOrphan(child.clientToken)
    expectOne('revokeOrphan', child.accessor)
    const other = await store.create()
    audits.length = 0
    await store.revokeAccessor(other.accessor)
    expectOne('revokeAccessor', other.accessor)
    await store.revokePrefix('auth/nothing')
    expectOne('revokePrefix', null)
    await store.revokeExpired()
    expectOne('revokeExpired', null)
    await store.revoke(auth.clientToken)
    expectOne('revoke', auth.accessor)
    await store.revoke('hvs.unknown')
    expectOne('revoke', null)
  })

  test('audit: a failed operation emits outcome error with its code', async () => {
    const { store } = harness()
    const audits = recordAudit(store)
    const fixed = await store.create({ renewable: false, ttl: '1h' })
    audits.length = 0
    const cases: Array<[() => Promise<unknown>, AuditEvent['operation'], string, string | null]> = [
      [() => store.authenticate('hvs.unknown'), 'authenticate', 'invalid_token', null],
      [() => store.create({ numUses: -1 }), 'create', 'invalid_request', null],
      [() => store.renew(fixed.clientToken), 'renew', 'not_renewable', fixed.accessor],
      [
        () => store.create({ id: 'dup' }).then(() => store.create({ id: 'dup' })),
        'create',
        'conflict',
        null,
      ],
      [
        () => store.create({ parent: fixed.clientToken, policies: ['other'] }),
        'create',
        'permission_denied',
        null,
      ],
      [() => store.revokePrefix(''), 'revokePrefix', 'invalid_request', null],
    ]
    for (const [run, operation, code, accessor] of cases) {
      await assert.rejects(run())
      const failed = audits.filter((event) => event.outcome === 'error')
      assert.equal(failed.length, 1, operation)
      assert.equal(failed[0]?.operation, operation)
      assert.equal(failed[0].code, code)
      assert.equal(failed[0].accessor, accessor)
      audits.length = 0
    }
  })

  test('audit: events carry neither token ids nor their stored hashes', async () => {
    const { store, memory, clock } = harness()
    const audits = recordAudit(store)
    const revoked = recordRevoked(store)
    const root = await store.createRoot({ id: 'custom-root-id' })
    const parent = await store.create({ parent: root.clientToken, policies: ['a'], ttl: '1h' })
    const child = await store.create({ parent: parent.clientToken, numUses: 1 })
    const secrets = [root.clientToken, parent.clientToken, child.clientToken]
    for (const auth of [root, parent, child])
      secrets.push((await storedRecord(memory, auth.accessor)).id)
    await store.lookup(parent.clientToken)
    await store.renew(parent.clientToken)
    await store.authenticate(child.clientToken)
    await store.authenticate(child.clientToken).catch(() => undefined)
    await store.create({ parent: 'hvs.a-wrong-token-value' }).catch(() => undefined)
    clock.advance(7200)
    await store.revokeExpired()
    await store.revoke(root.clientToken)
    const text = JSON.stringify([audits, revoked])
    assert.ok(audits.length >= 8 && revoked.length === 3)
    for (const secret of [...secrets, 'hvs.a-wrong-token-value']) {
      assert.equal(text.includes(secret), false, 'a token id or hash leaked into an event')
    }
  })
})

describe('revoked events', () => {
  test('revoked: each revoked token gets kind, accessor, path, reason and time', async () => {
    const { store, clock } = harness()
    const parent = await store.create({ path: 'auth/github/login' })
    const child = await store.create({ parent: parent.clientToken })
    const events = recordRevoked(store)
    clock.advance(5)
    await store.revoke(parent.clientToken)
    assert.deepEqual(events, [
      {
        kind: 'token',
        accessor: child.accessor,
        path: 'auth/token/create',
        reason: 'parent',
        time: new Date(clock.now),
      },
      {
        kind: 'token',
        accessor: parent.accessor,
        path: 'auth/github/login',
        reason: 'explicit',
        time: new Date(clock.now),
      },
    ])
  })
})

describe('listeners that fail', () => {
  test('events: a listener that throws breaks neither the operation nor the other listeners, and its error reaches the error event', async () => {
    const { store } = harness()
    const boom = new Error('listener failed')
    const errors = recordErrors(store)
    const seen: string[] = []
    store.on('revoked', () => {
      seen.push('first')
      throw boom
    })
    store.on('revoked', () => seen.push('second'))
    store.on('audit', () => {
      throw boom
    })
    const parent = await store.create()
    const child = await store.create({ parent: parent.clientToken })
    await store.revoke(parent.clientToken)
    assert.deepEqual(seen, ['first', 'second', 'first', 'second'])
    // Two revoked events and three audits (create, create, revoke), each with one failing listener.
    assert.equal(errors.length, 5)
    assert.ok(errors.every((error) => error === boom))
    assert.equal(await store.lookup(child.clientToken), null)
  })

  test('events: a listener whose promise rejects breaks nothing, and its error reaches the error event', async () => {
    const { store } = harness()
    const errors = recordErrors(store)
    const seen: string[] = []
    const boom = new Error('async listener failed')
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- a listener whose promise rejects is the point
    store.on('revoked', async () => {
      seen.push('async')
      await Promise.resolve()
      throw boom
    })
    store.on('revoked', () => seen.push('sync'))
    const auth = await store.create()
    await store.revoke(auth.clientToken)
    assert.deepEqual(seen, ['async', 'sync'])
    await flushMicrotasks()
    assert.deepEqual(errors, [boom])
  })

  test('events: a failing audit listener does not change the error an operation rejects with', async () => {
    const { store } = harness()
    recordErrors(store)
    store.on('audit', () => {
      throw new Error('listener failed')
    })
    await rejectsWith(store.authenticate('hvs.unknown'), 'invalid_token')
  })

  test('events: without an error listener, a listener failure becomes a process warning', async (t) => {
    const { store } = harness()
    const warn = t.mock.method(process, 'emitWarning', () => undefined)
    store.on('revoked', () => {
      throw new Error('listener failed')
    })
    const auth = await store.create()
    await store.revoke(auth.clientToken)
    assert.equal(warn.mock.callCount(), 1)
    assert.equal(await store.lookup(auth.clientToken), null)
  })

  test('events: once listeners fire once, even when they throw', async () => {
    const { store } = harness()
    const errors = recordErrors(store)
    let calls = 0
    let throwingCalls = 0
    store.once('revoked', () => {
      calls += 1
    })
    store.once('revoked', () => {
      throwingCalls += 1
      throw new Error('once and failing')
    })
    const a = await store.create()
    const b = await store.create()
    await store.revoke(a.clientToken)
    await store.revoke(b.clientToken)
    assert.equal(calls, 1)
    assert.equal(throwingCalls, 1)
    assert.equal(errors.length, 1)
    assert.equal(store.listenerCount('revoked'), 0)
  })

  test('events: a listener added by a listener does not run for the event being emitted', async () => {
    const { store } = harness()
    const late = mock.fn()
    store.once('revoked', () => store.on('revoked', late))
    const a = await store.create()
    await store.revoke(a.clientToken)
    assert.equal(late.mock.callCount(), 0)
  })

  test('audit: time is when the operation started, by the store clock', async () => {
    const { store } = harness()
    const audits = recordAudit(store)
    await store.create()
    assert.deepEqual(audits[0]?.time, new Date(START))
  })
})
