/**
 * diagnostics_channel tracing: `tokentree:<operation>` for every public operation, start/end/asyncStart/asyncEnd
 * (and error), with operation, outcome, code and accessor, and never a token id in any payload.
 */
import assert from 'node:assert/strict'
import { AsyncLocalStorage } from 'node:async_hooks'
import { tracingChannel } from 'node:diagnostics_channel'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'

import {
  MemoryStorage,
  TRACED_OPERATIONS,
  TokenStore,
  operationChannel,
  type OperationContext,
} from 'tokentree'

import { runEveryMethod } from './helpers/every-method.js'

interface Published {
  channel: string
  phase: 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error'
  context: OperationContext
  /** The context as it was when published (later phases fill the same object in). */
  snapshot: string
}

/** Subscribes to every `tokentree:*` channel; returns what is published and an unsubscribe. */
function recordAll(): { published: Published[]; stop: () => void } {
  const published: Published[] = []
  const stops: (() => void)[] = []
  for (const operation of TRACED_OPERATIONS) {
    const channel = tracingChannel<unknown, OperationContext>(`tokentree:${operation}`)
    const record = (phase: Published['phase']) => (message: OperationContext) => {
      published.push({
        channel: `tokentree:${operation}`,
        phase,
        context: message,
        snapshot: serialize(message),
      })
    }
    const handlers = {
      start: record('start'),
      end: record('end'),
      asyncStart: record('asyncStart'),
      asyncEnd: record('asyncEnd'),
      error: record('error'),
    }
    channel.subscribe(handlers)
    stops.push(() => {
      channel.unsubscribe(handlers)
    })
  }
  return {
    published,
    stop: () => {
      stops.forEach((stop) => {
        stop()
      })
    },
  }
}

/** Everything in a context but the store, including an error's message, stack and cause. */
function serialize(context: OperationContext): string {
  const { store: _store, error, ...rest } = context
  const cause = error?.cause instanceof Error ? error.cause : undefined
  return JSON.stringify({
    ...rest,
    error: error && { message: error.message, stack: error.stack, code: error.code },
    cause: cause && { message: cause.message, stack: cause.stack },
  })
}

test('tracing: every public method publishes on tokentree:<operation>, and no payload holds a token id', async () => {
  const { published, stop } = recordAll()
  const store = new TokenStore({ timers: false })
  let tokens: string[]
  try {
    tokens = await runEveryMethod(store)
  } finally {
    stop()
    await store.close()
  }

  const seen = new Set(published.map((entry) => entry.channel))
  assert.deepEqual(
    [...TRACED_OPERATIONS].map((operation) => `tokentree:${operation}`).filter((c) => !seen.has(c)),
    [],
  )
  for (const entry of published) {
    assert.equal(entry.context.store, store)
    for (const token of tokens) {
      assert.ok(!entry.snapshot.includes(token), `${entry.channel} ${entry.phase} holds a token id`)
      // Batch tokens are long; a fragment is as bad as the whole.
      assert.ok(!entry.snapshot.includes(token.slice(4, 24)), `${entry.channel} holds a token part`)
    }
  }
  const failed = published.find(
    (entry) => entry.channel === 'tokentree:authenticate' && entry.phase === 'error',
  )
  assert.ok(failed)
  assert.equal(failed.context.outcome, 'error')
  assert.equal(failed.context.code, 'invalid_token')
  assert.equal(failed.context.error?.code, 'invalid_token')
})

test('tracing: start, end, asyncStart, asyncEnd in order, with the accessor and outcome at the end', async () => {
  const { published, stop } = recordAll()
  const store = new TokenStore({ timers: false })
  try {
    const auth = await store.create({ policies: ['app'] })
    published.length = 0
    await store.authenticate(auth.clientToken)
    assert.deepEqual(
      published.map((entry) => entry.phase),
      ['start', 'end', 'asyncStart', 'asyncEnd'],
    )
    const [start, , , last] = published
    assert.ok(start && last)
    assert.equal(start.context, last.context)
    assert.deepEqual(JSON.parse(start.snapshot), {
      operation: 'authenticate',
      startTime: start.context.startTime,
      accessor: null,
    })
    assert.equal(last.context.accessor, auth.accessor)
    assert.equal(last.context.outcome, 'ok')
    assert.equal(last.context.code, undefined)
  } finally {
    stop()
    await store.close()
  }
})

test('tracing: a storage failure publishes error with storage_unavailable', async () => {
  const { published, stop } = recordAll()
  const storage = new MemoryStorage()
  const store = new TokenStore({ storage, timers: false })
  try {
    const auth = await store.create()
    storage.getLiveToken = () => Promise.reject(new Error('disk on fire'))
    await assert.rejects(store.lookup(auth.clientToken))
    const error = published.find((entry) => entry.phase === 'error')
    assert.ok(error)
    assert.equal(error.channel, 'tokentree:lookup')
    assert.equal(error.context.code, 'storage_unavailable')
  } finally {
    stop()
    await store.close()
  }
})

test('tracing: stores bound to the start channel (AsyncLocalStorage) reach the operation', async () => {
  const storage = new AsyncLocalStorage<string>()
  const channel = operationChannel('lookup')
  channel.start.bindStore(storage, (context) => `span:${context.operation}`)
  const seen: (string | undefined)[] = []
  const memory = new MemoryStorage()
  const getLiveToken = memory.getLiveToken.bind(memory)
  memory.getLiveToken = (id, now) => {
    seen.push(storage.getStore())
    return getLiveToken(id, now)
  }
  const store = new TokenStore({ storage: memory, timers: false })
  try {
    const auth = await store.create()
    seen.length = 0
    await store.lookup(auth.clientToken)
    assert.deepEqual(seen, ['span:lookup'])
  } finally {
    channel.start.unbindStore(storage)
    await store.close()
  }
})

test('tracing: with no subscriber nothing is published', async () => {
  assert.equal(operationChannel('authenticate').hasSubscribers, false)
  const store = new TokenStore({ timers: false })
  const auth = await store.create()
  assert.equal((await store.authenticate(auth.clientToken)).accessor, auth.accessor)
  await store.close()
})

test('tracing: docs/observability.md names exactly the channels of TRACED_OPERATIONS', async () => {
  const text = await readFile(new URL('../docs/observability.md', import.meta.url), 'utf8')
  const section = text.slice(text.indexOf('## Tracing'), text.indexOf('(the list is exported as'))
  const documented = [...section.matchAll(/`tokentree:([\w.]+)`/g)].map((match) => match[1])
  assert.deepEqual([...documented].sort(), [...TRACED_OPERATIONS].sort())
})
