/**
 * Batch tokens on the synchronous path: an orphan batch token needs no storage read, so `authenticate` settles
 * without a promise hop and tokenAuth calls next() before it returns. Every guarantee of the promise path stays:
 * the same info as `lookup` and as a child batch token's (which reads its parent), one audit event per call in
 * call order, traces in order, and rejections (never throws) for a bad token.
 */
import assert from 'node:assert/strict'
import { tracingChannel } from 'node:diagnostics_channel'
import { test } from 'node:test'

import type { Request, Response } from 'express'

import { TokenStore, type AuditEvent, type TokenInfo } from '../src/index.js'
import { tokenAuth } from '../src/http/express.js'
import { createTestStore } from '../src/testing/index.js'

/** A request as far as tokenAuth reads it, carrying `token` in X-Vault-Token. */
function fakeRequest(token: string): Request {
  return { headers: { 'x-vault-token': token }, method: 'GET' } as unknown as Request
}

/** A response that records the status a refusal is answered with. */
function fakeResponse(req: Request): Response & { answered: number } {
  const res = {
    req,
    headersSent: false,
    answered: 0,
    writeHead(code: number) {
      res.answered = code
    },
    end() {
      res.headersSent = true
    },
  }
  return res as unknown as Response & { answered: number }
}

/** The last character of a batch token's tag, changed: the tag then covers nothing it was computed over. */
function altered(token: string): string {
  const at = 'hvb.'.length + 39
  return token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1)
}

test('batch authenticate: an orphan settles with no promise hop; a child (parent read) agrees with it and with lookup', async () => {
  const { store } = createTestStore()
  const root = (await store.createRoot()).clientToken
  const orphan = await store.create({ type: 'batch', policies: ['app'], metadata: { a: '1' } })
  const child = await store.create({
    parent: root,
    type: 'batch',
    policies: ['app'],
    metadata: { a: '1' },
  })

  // Settled before a single microtask ran: the audit event is out once authenticate returns.
  const audits: AuditEvent[] = []
  store.on('audit', (event) => {
    if (event.operation === 'authenticate') audits.push(event)
  })
  const pending = store.authenticate(orphan.clientToken)
  assert.ok(pending instanceof Promise)
  assert.deepEqual(
    audits.map((event) => [event.operation, event.outcome, event.accessor]),
    [['authenticate', 'ok', null]],
  )
  const info = await pending
  assert.deepEqual(info, await store.lookup(orphan.clientToken))
  assert.equal(info.type, 'batch')
  assert.equal(info.orphan, true)
  assert.ok(info.creationTime instanceof Date)
  assert.notEqual(info.creationTime, info.issueTime, 'each Date is its own object')

  // The child reads its parent: the promise path.
  const pendingChild = store.authenticate(child.clientToken)
  assert.equal(audits.length, 1, 'the child waits for its parent read')
  const childInfo = await pendingChild
  assert.equal(audits.length, 2)
  assert.deepEqual(childInfo, await store.lookup(child.clientToken))
  assert.deepEqual(Object.keys(childInfo), Object.keys(info))
  // Both from the same clock reading: the same values but for `id`, `orphan` and the path they were created at.
  const { id: _c, orphan: _co, path: _cp, ...childRest } = childInfo
  const { id: _o, orphan: _oo, path: _op, ...orphanRest } = info
  assert.deepEqual(childRest, orphanRest)
  await store.close()
})

test('batch authenticate: an altered or expired orphan rejects (never throws) with invalid_token, audited in order', async () => {
  const { store, clock } = createTestStore()
  const { clientToken } = await store.create({ type: 'batch', ttl: '1h' })
  const audits: AuditEvent[] = []
  store.on('audit', (event) => audits.push(event))
  let bad: Promise<TokenInfo> | undefined
  assert.doesNotThrow(() => {
    bad = store.authenticate(altered(clientToken))
  })
  const good = store.authenticate(clientToken)
  assert.deepEqual(
    audits.map((event) => [event.outcome, event.code]),
    [
      ['error', 'invalid_token'],
      ['ok', undefined],
    ],
  )
  await assert.rejects(bad as Promise<TokenInfo>, { code: 'invalid_token' })
  await good
  await clock.advance('2h')
  await assert.rejects(store.authenticate(clientToken), { code: 'invalid_token' })
  assert.equal(audits.at(-1)?.code, 'invalid_token')
  await store.close()
})

test('batch authorize: the ACL check follows on the same path, granted or refused', async () => {
  const store = new TokenStore({ timers: false })
  await store.policies.write('app', 'path "apps/*" { capabilities = ["read"] }')
  const { clientToken } = await store.create({ type: 'batch', policies: ['app'] })
  const granted = await store.authorize(clientToken, { path: 'apps/x', operation: 'read' })
  assert.deepEqual(granted, await store.authenticate(clientToken))
  await assert.rejects(store.authorize(clientToken, { path: 'apps/x', operation: 'update' }), {
    code: 'permission_denied',
  })
  await store.close()
})

test('tokenAuth(): an orphan batch token reaches next() before the middleware returns; a bad one is refused', async () => {
  const store = new TokenStore({ timers: false })
  const { clientToken } = await store.create({ type: 'batch', policies: ['app'] })
  const req = fakeRequest(clientToken)
  let calledWith: unknown = 'not called'
  void tokenAuth(store)(req, fakeResponse(req), (error?: unknown) => {
    calledWith = error
  })
  assert.equal(calledWith, undefined)
  assert.deepEqual(req.token, await store.lookup(clientToken))

  const badReq = fakeRequest(altered(clientToken))
  const badRes = fakeResponse(badReq)
  let nextCalled = false
  await tokenAuth(store)(badReq, badRes, () => {
    nextCalled = true
  })
  assert.equal(nextCalled, false)
  assert.equal(badRes.answered, 403)
  await store.close()
})

test('batch authenticate: a traced call publishes start, end, asyncStart, asyncEnd in order, then settles', async () => {
  const store = new TokenStore({ timers: false })
  const { clientToken } = await store.create({ type: 'batch' })
  const seen: string[] = []
  const handlers = {
    start: () => seen.push('start'),
    end: () => seen.push('end'),
    asyncStart: () => seen.push('asyncStart'),
    asyncEnd: () => seen.push('asyncEnd'),
    error: () => seen.push('error'),
  }
  const channel = tracingChannel('tokentree:authenticate')
  channel.subscribe(handlers)
  try {
    const pending = store.authenticate(clientToken)
    assert.deepEqual(seen, ['start', 'end', 'asyncStart', 'asyncEnd'])
    await pending
    await assert.rejects(store.authenticate(altered(clientToken)))
    // As on the promise path: the synchronous part ends, then the failure is published.
    assert.deepEqual(seen.slice(4), ['start', 'end', 'error', 'asyncStart', 'asyncEnd'])
  } finally {
    channel.unsubscribe(handlers)
    await store.close()
  }
})
