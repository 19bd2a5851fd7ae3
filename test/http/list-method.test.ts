/**
 * The HTTP `LIST` method: the byte-level rewriter alone, then raw sockets against the three hosts on their own
 * servers (createVaultServer, an Express app and a Koa app with enableListMethod): keep-alive sequences,
 * pipelining, byte-at-a-time delivery, Content-Length and chunked bodies, and malformed requests that Node's
 * parser must still refuse.
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { connect } from 'node:net'
import { describe, test } from 'node:test'

import express from 'express'
import Koa from 'koa'

import { vaultRouter as expressVaultRouter } from '../../src/http/express.js'
import { vaultRouter as koaVaultRouter } from '../../src/http/koa.js'
import { ListRewriter } from '../../src/http/list-rewriter.js'
import { createVaultServer, enableListMethod } from '../../src/http/vault-api/index.js'
import { TokenStore } from '../../src/index.js'
import { listen } from './helpers/servers.js'

const MARKER = 'x-m: s\r\n'

/** Runs `input` through a rewriter in pieces of `size` bytes (0: one piece), then `end()`. */
function rewrite(input: string, size = 0): string {
  const rewriter = new ListRewriter(MARKER)
  const bytes = Buffer.from(input, 'latin1')
  const out: Buffer[] = []
  const step = size === 0 ? bytes.length || 1 : size
  for (let i = 0; i < bytes.length; i += step) out.push(rewriter.push(bytes.subarray(i, i + step)))
  out.push(rewriter.end())
  return Buffer.concat(out).toString('latin1')
}

/** Asserts the same output whatever the chunking. */
function rewritesTo(input: string, expected: string): void {
  for (const size of [0, 1, 2, 3, 7])
    assert.equal(rewrite(input, size), expected, `pieces of ${size}`)
}

describe('ListRewriter', () => {
  test('rewrites LIST request lines only, in every message of a keep-alive stream', () => {
    const input =
      'LIST /a HTTP/1.1\r\nHost: x\r\n\r\n' +
      'POST /b HTTP/1.1\r\nContent-Length: 20\r\n\r\nLIST /c HTTP/1.1\r\n\r\n' +
      'PUT /d HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nLIST \r\n0\r\nTrailer: LIST\r\n\r\n' +
      '\r\nLIST /e?list=1 HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}' +
      'LISTEN /f HTTP/1.1\r\n\r\n' +
      'GET /LIST HTTP/1.1\r\n\r\n'
    const expected =
      `GET /a HTTP/1.1\r\n${MARKER}Host: x\r\n\r\n` +
      'POST /b HTTP/1.1\r\nContent-Length: 20\r\n\r\nLIST /c HTTP/1.1\r\n\r\n' +
      'PUT /d HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nLIST \r\n0\r\nTrailer: LIST\r\n\r\n' +
      `\r\nGET /e?list=1 HTTP/1.0\r\n${MARKER}Content-Length: 2\r\n\r\n{}` +
      'LISTEN /f HTTP/1.1\r\n\r\n' +
      'GET /LIST HTTP/1.1\r\n\r\n'
    rewritesTo(input, expected)
  })

  test('a LIST line it cannot vouch for goes over as sent, and following stops', () => {
    for (const line of [
      'LIST  /a HTTP/1.1\r\n',
      'LIST /a HTTP/1.1 \r\n',
      'LIST /a HTTP/2.0\r\n',
      'LIST /a\r\n',
      'LIST /a HTTP/1.1\n',
    ]) {
      const rest = 'Host: x\r\n\r\nLIST /b HTTP/1.1\r\n\r\n'
      rewritesTo(line + rest, line + rest)
    }
  })

  test('stops rewriting at any framing llhttp might read differently', () => {
    const tail = 'LIST /z HTTP/1.1\r\n\r\n'
    for (const head of [
      'POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx',
      'POST /a HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'POST /a HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
      'POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'POST /a HTTP/1.1\r\nContent-Length: +1\r\n\r\nx',
      'POST /a HTTP/1.1\r\nX: a\r\n folded\r\nContent-Length: 1\r\n\r\nx',
      'POST /a HTTP/1.1\nContent-Length: 1\r\n\r\nx',
      'POST /a HTTP/1.1\r\nContent-Length : 1\r\n\r\nx',
      'POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\nx\r\n0\r\n\r\n',
      'POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxx\r\n0\r\n\r\n',
      'GET /a HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      'CONNECT a:1 HTTP/1.1\r\n\r\n',
      `GET /a HTTP/1.1\r\nX: ${'a'.repeat(70 * 1024)}\r\n\r\n`,
    ]) {
      rewritesTo(head + tail, head + tail)
    }
  })

  test('end() hands back a partial request as sent', () => {
    rewritesTo('LIS', 'LIS')
    rewritesTo('LIST /a HTT', 'LIST /a HTT')
  })
})

/** One host of the API on its own server, with LIST enabled. */
type Host = (store: TokenStore) => Server

const HOSTS: Record<string, Host> = {
  createVaultServer: (store) => createVaultServer(store),
  'express on its own server': (store) => {
    const app = express()
    app.use(expressVaultRouter(store))
    app.use((req, res) => {
      res.status(418).json({ method: req.method })
    })
    return enableListMethod(createServer(app))
  },
  'koa on its own server': (store) => {
    const app = new Koa()
    app.use(koaVaultRouter(store))
    app.use((ctx) => {
      ctx.status = 418
      ctx.body = { method: ctx.method }
    })
    const handle = app.callback()
    return enableListMethod(
      createServer((req, res) => {
        void handle(req, res)
      }),
    )
  },
}

interface RawResponse {
  status: number
  body: string
}

/** Sends `bytes` on one connection (`pieces` at a time, 0: at once) and parses every response until close. */
async function exchange(url: string, bytes: string, pieces = 0): Promise<RawResponse[]> {
  const { port } = new URL(url)
  const socket = connect(Number(port), '127.0.0.1')
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  const closed = new Promise<void>((resolve) => {
    socket.on('close', () => {
      resolve()
    })
  })
  await new Promise<void>((resolve) => socket.on('connect', resolve))
  const data = Buffer.from(bytes, 'latin1')
  if (pieces === 0) socket.write(data)
  else {
    for (let i = 0; i < data.length; i += pieces) {
      socket.write(data.subarray(i, i + pieces))
      if (i % 64 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
  }
  socket.end()
  await closed
  return parseResponses(Buffer.concat(chunks).toString('latin1'))
}

function parseResponses(text: string): RawResponse[] {
  const responses: RawResponse[] = []
  let rest = text
  while (rest.length > 0) {
    const headEnd = rest.indexOf('\r\n\r\n')
    assert.notEqual(headEnd, -1, `incomplete response: ${rest}`)
    const head = rest.slice(0, headEnd)
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1])
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0)
    rest = rest.slice(headEnd + 4)
    let body: string
    if (/\r\ntransfer-encoding: chunked/i.test(head)) {
      body = ''
      for (;;) {
        const lineEnd = rest.indexOf('\r\n')
        const size = parseInt(rest.slice(0, lineEnd), 16)
        rest = rest.slice(lineEnd + 2)
        if (size === 0) {
          rest = rest.slice(2)
          break
        }
        body += rest.slice(0, size)
        rest = rest.slice(size + 2)
      }
    } else {
      body = rest.slice(0, length)
      rest = rest.slice(length)
    }
    responses.push({ status, body })
  }
  return responses
}

function keys(response: RawResponse | undefined): unknown {
  return (JSON.parse(response?.body ?? 'null') as { data?: { keys?: unknown } } | null)?.data?.keys
}

for (const [name, host] of Object.entries(HOSTS)) {
  describe(`LIST through ${name}`, () => {
    const setup = async (): Promise<{ url: string; token: string; close: () => Promise<void> }> => {
      const store = new TokenStore()
      const root = await store.createRoot()
      await store.roles.write('ci', {})
      const running = await listen(host(store))
      return { url: running.url, token: root.clientToken, close: () => running.close() }
    }

    test('keep-alive sequences and pipelined requests with every body framing, whole or byte by byte', async () => {
      const { url, token, close } = await setup()
      try {
        const auth = `Host: x\r\nX-Vault-Token: ${token}\r\n`
        const body = '{"token":"' + token + '"}'
        const requests =
          `LIST /v1/auth/token/roles HTTP/1.1\r\n${auth}\r\n` +
          `POST /v1/auth/token/lookup HTTP/1.1\r\n${auth}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
          `LIST /v1/auth/token/roles/ HTTP/1.1\r\n${auth}Content-Length: 2\r\n\r\n{}` +
          `POST /v1/auth/token/lookup HTTP/1.1\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n` +
          `5\r\n${body.slice(0, 5)}\r\n${(body.length - 5).toString(16)};x=y\r\n${body.slice(5)}\r\n0\r\nX-Trailer: LIST\r\n\r\n` +
          `LIST /v1/auth/token/roles HTTP/1.1\r\n${auth}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n` +
          `GET /v1/auth/token/roles?list=true HTTP/1.1\r\n${auth}Connection: close\r\n\r\n`
        for (const pieces of [0, 1, 13]) {
          const responses = await exchange(url, requests, pieces)
          assert.deepEqual(
            responses.map((r) => r.status),
            [200, 200, 200, 200, 200, 200],
            `pieces of ${pieces}`,
          )
          for (const index of [0, 2, 4, 5]) assert.deepEqual(keys(responses[index]), ['ci'])
        }
      } finally {
        await close()
      }
    })

    test("a body holding 'LIST /' is body, not a request", async () => {
      const { url, token, close } = await setup()
      try {
        const smuggled = `LIST /v1/auth/token/roles HTTP/1.1\r\nX-Vault-Token: ${token}\r\n\r\n`
        const responses = await exchange(
          url,
          `POST /v1/auth/token/lookup HTTP/1.1\r\nHost: x\r\nX-Vault-Token: ${token}\r\n` +
            `Content-Length: ${smuggled.length}\r\nConnection: close\r\n\r\n${smuggled}`,
        )
        // One answer: the body was not JSON.
        assert.deepEqual(
          responses.map((r) => r.status),
          [400],
        )
      } finally {
        await close()
      }
    })

    test('malformed requests are refused by Node as before, and nothing after them is served', async () => {
      const { url, token, close } = await setup()
      try {
        const next = `LIST /v1/auth/token/roles HTTP/1.1\r\nHost: x\r\nX-Vault-Token: ${token}\r\n\r\n`
        for (const bad of [
          `LIST  /v1/auth/token/roles HTTP/1.1\r\nHost: x\r\n\r\n`,
          `LIST /v1/auth/token/roles HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx`,
          `LIST /v1/auth/token/roles HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
          `LIST /v1/auth/token/roles HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`,
          `LIST /v1/auth/token/roles HTTP/1.1\r\nHo st: x\r\n\r\n`,
          `POST /v1/auth/token/lookup HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx`,
          `LIST /v1/auth/token/roles HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n`,
        ]) {
          const responses = await exchange(url, bad + next)
          assert.deepEqual(
            responses.map((r) => r.status),
            [400],
            JSON.stringify(bad),
          )
          assert.equal(responses[0]?.body, '')
        }
      } finally {
        await close()
      }
    })

    test('Expect and Upgrade requests get the answers Node gives them, LIST included', async () => {
      const { url, token, close } = await setup()
      try {
        const auth = `Host: x\r\nX-Vault-Token: ${token}\r\n`
        const body = '{"token":"' + token + '"}'
        const continued = await exchange(
          url,
          `POST /v1/auth/token/lookup HTTP/1.1\r\n${auth}Expect: 100-continue\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
            `LIST /v1/auth/token/roles HTTP/1.1\r\n${auth}Expect: 100-continue\r\nContent-Length: 2\r\n\r\n{}` +
            `GET /v1/auth/token/roles HTTP/1.1\r\n${auth}Expect: something-else\r\n\r\n` +
            `LIST /v1/auth/token/roles HTTP/1.1\r\n${auth}Connection: close\r\n\r\n`,
        )
        assert.deepEqual(
          continued.map((r) => r.status),
          [100, 200, 100, 200, 417, 200],
        )
        assert.deepEqual(keys(continued[3]), ['ci'])
        assert.deepEqual(keys(continued[5]), ['ci'])
        // No `upgrade` listener: Node serves the request as a plain one.
        const upgraded = await exchange(
          url,
          `GET /v1/auth/token/roles?list=true HTTP/1.1\r\n${auth}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
        )
        assert.deepEqual(
          upgraded.map((r) => r.status),
          [200],
        )
        assert.deepEqual(keys(upgraded[0]), ['ci'])
      } finally {
        await close()
      }
    })

    test('a client cannot forge the marker header', async () => {
      const { url, token, close } = await setup()
      try {
        const responses = await exchange(
          url,
          `GET /v1/auth/token/roles HTTP/1.1\r\nHost: x\r\nX-Vault-Token: ${token}\r\n` +
            `X-Tokentree-List-Method: 00000000000000000000000000000000\r\nConnection: close\r\n\r\n`,
        )
        // A read of `roles` (no name) is not a route: Vault's 405 for GET on a list-only path.
        assert.deepEqual(
          responses.map((r) => r.status),
          [405],
        )
      } finally {
        await close()
      }
    })
  })
}

test('enableListMethod is idempotent and returns the server', () => {
  const server = createServer()
  assert.equal(enableListMethod(server), server)
  const count = server.listenerCount('request')
  enableListMethod(server)
  assert.equal(server.listenerCount('request'), count)
})

test("a host's own checkContinue and checkExpectation listeners see LIST, and enableListMethod adds none", async () => {
  const seen: string[] = []
  const server = enableListMethod(createServer())
  assert.deepEqual(
    ['request', 'checkContinue', 'checkExpectation', 'upgrade', 'connect'].map((event) =>
      server.listenerCount(event),
    ),
    [0, 0, 0, 0, 0],
  )
  server.on('checkContinue', (req, res) => {
    seen.push(`continue ${req.method ?? ''}`)
    res.writeContinue()
    res.end('c')
  })
  server.on('checkExpectation', (req, res) => {
    seen.push(`expectation ${req.method ?? ''}`)
    res.end('e')
  })
  const running = await listen(server)
  try {
    const responses = await exchange(
      running.url,
      'LIST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n' +
        'LIST /b HTTP/1.1\r\nHost: x\r\nExpect: other\r\nConnection: close\r\n\r\n',
    )
    assert.deepEqual(
      responses.map((r) => r.status),
      [100, 200, 200],
    )
    assert.deepEqual(seen, ['continue LIST', 'expectation LIST'])
  } finally {
    await running.close()
  }
})
