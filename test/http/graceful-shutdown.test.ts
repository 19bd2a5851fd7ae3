/**
 * closeGracefully(): the order (server, store, storage, drivers), requests under way finishing with their
 * revocations reported, kept-alive connections not holding the shutdown open, the timeout, and bad input.
 */
import assert from 'node:assert/strict'
import { Agent, createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'

import { MemoryStorage, TokenStore, closeGracefully } from '../../src/index.js'
import { rejectsWith } from '../helpers/index.js'

/** A gate a handler waits at until the test opens it. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void
  const wait = new Promise<void>((resolve) => (open = resolve))
  return { wait, open }
}

async function listening(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

/** A GET with node:http (fetch's pool would keep its own sockets): status and body, or the socket error. */
function get(port: number, agent?: Agent): Promise<{ status: number; body: string } | Error> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/', ...(agent ? { agent } : {}) },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body })
        })
      },
    )
    req.on('error', resolve)
    req.end()
  })
}

test('closeGracefully(): a request under way finishes its revocation and is answered before the store, storage and drivers close, in that order', async () => {
  const order: string[] = []
  const memory = new MemoryStorage()
  const storage = {
    close: async () => {
      order.push('storage')
      await Promise.resolve()
    },
  }
  const store = new TokenStore({ storage: memory, timers: false })
  const root = await store.createRoot()
  const parent = await store.create({ parent: root.clientToken })
  const children = [1, 2, 3].map(() => store.create({ parent: parent.clientToken }))
  await Promise.all(children)
  store.on('revoked', () => order.push('revoked'))
  const held = gate()
  let arrived!: () => void
  const inHandler = new Promise<void>((resolve) => (arrived = resolve))
  const server = createServer((_req, res) => {
    arrived()
    void held.wait
      .then(() => store.revoke(parent.clientToken))
      .then(() => {
        order.push('answered')
        res.end('revoked')
      })
  })
  const port = await listening(server)
  const answer = get(port)
  await inHandler
  const closing = closeGracefully({
    server,
    store,
    storage,
    drivers: [
      () => order.push('driver 1'),
      async () => {
        await Promise.resolve()
        order.push('driver 2')
      },
    ],
  })
  // The server no longer accepts connections, while the request under way is still held.
  const refused = await get(port)
  assert.ok(refused instanceof Error && (refused as NodeJS.ErrnoException).code === 'ECONNREFUSED')
  held.open()
  assert.deepEqual(await answer, { status: 200, body: 'revoked' })
  assert.deepEqual(await closing, { connectionsCut: false })
  assert.deepEqual(order, [
    'revoked',
    'revoked',
    'revoked',
    'revoked',
    'answered',
    'storage',
    'driver 1',
    'driver 2',
  ])
  assert.equal(server.listening, false)
})

test('closeGracefully(): a kept-alive connection does not hold the shutdown until its keep-alive timeout', async () => {
  const store = new TokenStore({ timers: false })
  const held = gate()
  let requests = 0
  const server = createServer((_req, res) => {
    requests += 1
    // The first request is answered at once; the second is under way when the shutdown starts.
    if (requests === 1) res.end('ok')
    else void held.wait.then(() => res.end('ok'))
  })
  server.keepAliveTimeout = 60_000
  const port = await listening(server)
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  try {
    assert.deepEqual(await get(port, agent), { status: 200, body: 'ok' })
    const arrived = new Promise<void>((resolve) =>
      server.once('request', () => {
        resolve()
      }),
    )
    const second = get(port, agent)
    await arrived
    const closing = closeGracefully({ server, store })
    held.open()
    assert.deepEqual(await second, { status: 200, body: 'ok' })
    // Without closing connections once idle, close() would wait 60 s for this one to time out.
    const bound = new Promise<string>((resolve) =>
      setTimeout(() => {
        resolve('timeout')
      }, 5_000).unref(),
    )
    assert.deepEqual(await Promise.race([closing, bound]), { connectionsCut: false })
  } finally {
    agent.destroy()
  }
})

test('closeGracefully(): requests still running at timeoutMs have their connections cut; the rest still closes', async () => {
  const store = new TokenStore({ timers: false })
  const held = gate()
  const server = createServer((_req, res) => {
    void held.wait.then(() => res.end('too late'))
  })
  const port = await listening(server)
  const answer = get(port)
  await new Promise<void>((resolve) =>
    server.once('request', () => {
      resolve()
    }),
  )
  let driverRan = false
  const result = await closeGracefully({
    server,
    store,
    timeoutMs: 50,
    drivers: [() => (driverRan = true)],
  })
  assert.deepEqual(result, { connectionsCut: true })
  assert.ok((await answer) instanceof Error)
  assert.equal(driverRan, true)
  held.open()
})

test('closeGracefully(): a second call for the same store returns the same shutdown', async () => {
  const store = new TokenStore({ timers: false })
  const server = createServer((_req, res) => res.end())
  await listening(server)
  let drivers = 0
  const options = { server, store, drivers: [() => (drivers += 1)] }
  const first = closeGracefully(options)
  assert.equal(closeGracefully(options), first)
  await first
  assert.equal(drivers, 1)
})

test('closeGracefully(): a failing step does not stop the ones after it, and its error is thrown', async () => {
  const store = new TokenStore({ timers: false })
  const failure = new Error('storage close failed')
  let driverRan = false
  await assert.rejects(
    closeGracefully({
      store,
      storage: { close: () => Promise.reject(failure) },
      drivers: [() => (driverRan = true)],
    }),
    (error) => error === failure,
  )
  assert.equal(driverRan, true)
})

test('closeGracefully(): a server that is not listening, or a storage without close, is fine', async () => {
  const store = new TokenStore({ timers: false })
  const result = await closeGracefully({
    server: createServer(),
    store,
    storage: new MemoryStorage(),
  })
  assert.deepEqual(result, { connectionsCut: false })
})

test('closeGracefully(): bad timeoutMs or drivers are invalid_request, and nothing is closed', async () => {
  const store = new TokenStore({ timers: false })
  const server = createServer((_req, res) => res.end('still here'))
  const port = await listening(server)
  try {
    for (const timeoutMs of [-1, Number.NaN, Number.POSITIVE_INFINITY, '10' as unknown as number]) {
      await rejectsWith(closeGracefully({ server, store, timeoutMs }), 'invalid_request')
    }
    for (const drivers of ['quit' as unknown as [], [42 as unknown as () => void]]) {
      await rejectsWith(closeGracefully({ server, store, drivers }), 'invalid_request')
    }
    assert.equal(server.listening, true)
    assert.deepEqual(await get(port), { status: 200, body: 'still here' })
    // The store still works: it was not closed.
    assert.equal((await store.createRoot()).policies[0], 'root')
  } finally {
    await closeGracefully({ server, store })
  }
})
