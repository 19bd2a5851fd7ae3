/**
 * The `logger` store option: background failures, subscription failure and recovery, and no token in any message.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { MemoryStorage, TokenStore, TokenStoreError, type Logger } from 'tokentree'
import { createTestStore } from 'tokentree/testing'

import { overrideStorage } from './helpers/storage.js'

interface Entry {
  level: keyof Logger
  fields: Record<string, unknown>
  message: string
}

/** A pino-shaped logger recording each call. */
function recordingLogger(): { logger: Logger; entries: Entry[] } {
  const entries: Entry[] = []
  const method =
    (level: keyof Logger) =>
    (fields: Readonly<Record<string, unknown>>, message: string): void => {
      entries.push({ level, fields: { ...fields }, message })
    }
  return {
    entries,
    logger: {
      debug: method('debug'),
      info: method('info'),
      warn: method('warn'),
      error: method('error'),
    },
  }
}

test('logger: a listener failure is logged at error instead of becoming a process warning', async (t) => {
  const warn = t.mock.method(process, 'emitWarning', () => undefined)
  const { logger, entries } = recordingLogger()
  const { store } = createTestStore({ logger })
  const failure = new Error('listener failed')
  store.on('revoked', () => {
    throw failure
  })
  const auth = await store.create()
  await store.revoke(auth.clientToken)
  assert.equal(warn.mock.callCount(), 0)
  assert.equal(entries.length, 1)
  const [entry] = entries
  assert.ok(entry)
  assert.equal(entry.level, 'error')
  assert.equal(entry.fields.err, failure)
  assert.equal(entry.fields.component, 'tokentree')
  assert.ok(!JSON.stringify(entries).includes(auth.clientToken))
  await store.close()
})

test('logger: error listeners still receive background failures', async () => {
  const { logger, entries } = recordingLogger()
  const { store } = createTestStore({ logger })
  const errors: unknown[] = []
  store.on('error', (error) => errors.push(error))
  store.on('revoked', () => {
    throw new Error('listener failed')
  })
  await store.revoke((await store.create()).clientToken)
  assert.equal(errors.length, 1)
  assert.equal(entries.filter((entry) => entry.level === 'error').length, 1)
  await store.close()
})

test('logger: a failed subscription is logged at warn with its retry delay, the recovery at info', async () => {
  let attempts = 0
  const storage = overrideStorage(new MemoryStorage(), {
    subscribe: () => {
      attempts += 1
      if (attempts < 3) return Promise.reject(new Error('connection refused'))
      return Promise.resolve(() => Promise.resolve())
    },
  })
  const { logger, entries } = recordingLogger()
  const { store, clock } = createTestStore({ storage, logger })
  await clock.advance(0)
  await clock.advance('1s')
  await clock.advance('2s')
  assert.equal(attempts, 3)
  const warnings = entries.filter((entry) => entry.message.includes('retrying'))
  assert.deepEqual(
    warnings.map((entry) => [entry.level, entry.fields.failures]),
    [
      ['warn', 1],
      ['warn', 2],
    ],
  )
  for (const entry of warnings) {
    assert.equal(typeof entry.fields.delay, 'number')
    assert.ok((entry.fields.delay as number) <= 30_000)
  }
  const infos = entries.filter((entry) => entry.level === 'info')
  assert.equal(infos.length, 1)
  assert.equal(infos[0]?.fields.failures, 2)
  await store.close()
})

test('logger: console fits, and a throwing logger breaks nothing', async (t) => {
  t.mock.method(console, 'error', () => {
    throw new Error('stdout closed')
  })
  const { store } = createTestStore({ logger: console })
  store.on('revoked', () => {
    throw new Error('listener failed')
  })
  const auth = await store.create()
  await store.revoke(auth.clientToken)
  assert.equal(await store.lookup(auth.clientToken), null)
  await store.close()
})

test('logger: a malformed logger is invalid_request', () => {
  for (const logger of [null, 'console', { info: () => undefined }]) {
    assert.throws(
      () => new TokenStore({ logger: logger as unknown as Logger, timers: false }),
      (error: unknown) => error instanceof TokenStoreError && error.code === 'invalid_request',
    )
  }
})
