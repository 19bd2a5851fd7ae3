/**
 * Tests of the example service, using tokentree as a fixture: a virtual clock, no real timers.
 *
 * Run: node --import tsx --test examples/deploy-service.test.ts
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { createTestStore } from 'tokentree/testing'

import { DeployService, FakeDatabase } from './deploy-service.js'

function setup() {
  const { store, clock } = createTestStore()
  const database = new FakeDatabase()
  return { service: new DeployService(store, database), database, store, clock }
}

test('credentials are dropped when their one-hour lease runs out', async () => {
  const { service, database, clock } = setup()
  const token = await service.login('ada')
  const { username } = await service.databaseCredentials(token)
  assert.deepEqual([...database.users], [username])
  await clock.advance('59m')
  assert.equal(database.users.size, 1)
  await clock.advance('1m')
  assert.equal(database.users.size, 0)
})

test('credentials are dropped when the login token expires, though the lease had time left', async () => {
  const { service, database, clock } = setup()
  const token = await service.login('ada')
  await clock.advance('7h30m')
  await service.databaseCredentials(token)
  await clock.advance('30m')
  assert.equal(database.users.size, 0)
  await assert.rejects(service.databaseCredentials(token), { code: 'invalid_token' })
})

test('logging out drops every credential issued to the token', async () => {
  const { service, database } = setup()
  const token = await service.login('grace')
  await service.databaseCredentials(token)
  await service.databaseCredentials(token)
  const other = await service.login('linus')
  const kept = await service.databaseCredentials(other)
  assert.equal(database.users.size, 3)
  await service.logout(token)
  assert.deepEqual([...database.users], [kept.username])
})

test('a one-use login works for exactly one request, and leaves no user behind', async () => {
  const { service, database } = setup()
  const token = await service.login('ada', { numUses: 1 })
  // The single use is spent authenticating; the token is gone before a lease can be recorded.
  await assert.rejects(service.databaseCredentials(token), { code: 'invalid_token' })
  assert.equal(database.users.size, 0)
})

test('break glass: revoking the login path drops every user it led to', async () => {
  const { service, database, store } = setup()
  await service.databaseCredentials(await service.login('ada'))
  await service.databaseCredentials(await service.login('grace'))
  assert.equal(await store.revokePrefix('auth/userpass'), 4)
  assert.equal(database.users.size, 0)
})
