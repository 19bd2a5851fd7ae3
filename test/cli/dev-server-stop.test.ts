/**
 * The dev server's `stop()` (SIGINT/SIGTERM): a request under way when it stops is answered, not cut; an idle
 * server stops at once.
 */
import assert from 'node:assert/strict'
import net from 'node:net'
import { test } from 'node:test'

import { startDevServer } from '../../src/cli/server.js'

/** Sends `head` now; resolves to a writer for the rest and the whole answer once the socket ends. */
function openRequest(
  port: number,
  head: string,
): Promise<{ finish: (rest: string) => void; answer: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.write(head)
      let text = ''
      const answer = new Promise<string>((done) => {
        socket.on('data', (chunk: Buffer) => {
          text += chunk.toString()
        })
        socket.on('close', () => {
          done(text)
        })
      })
      resolve({ finish: (rest) => socket.end(rest), answer })
    })
    socket.once('error', reject)
  })
}

test('stop() answers a request whose body was still arriving, then closes', async () => {
  const running = await startDevServer({ host: '127.0.0.1', port: 0 })
  const port = Number(new URL(running.address).port)
  const body = JSON.stringify({ policies: ['web'] })
  const request = await openRequest(
    port,
    `POST /v1/auth/token/create HTTP/1.1\r\nhost: x\r\nx-vault-token: ${running.rootToken}\r\n` +
      `content-type: application/json\r\ncontent-length: ${String(body.length)}\r\n\r\n${body.slice(0, 5)}`,
  )
  // Give the server the time to read the head, so that the request is under way when the stop begins.
  await new Promise((resolve) => setTimeout(resolve, 50))
  const stopped = running.stop()
  await new Promise((resolve) => setTimeout(resolve, 100))
  request.finish(body.slice(5))
  const answer = await request.answer
  await stopped
  assert.match(answer, /^HTTP\/1\.1 200 /)
  assert.match(answer, /"policies":\["default","web"\]/)
  await assert.rejects(
    openRequest(port, 'GET /v1/sys/health HTTP/1.1\r\nhost: x\r\n\r\n'),
    /ECONNREFUSED/,
  )
})

test('stop() on an idle server with a kept-alive connection resolves at once', async () => {
  const running = await startDevServer({ host: '127.0.0.1', port: 0 })
  const port = Number(new URL(running.address).port)
  const request = await openRequest(port, 'GET /v1/sys/health HTTP/1.1\r\nhost: x\r\n\r\n')
  await new Promise((resolve) => setTimeout(resolve, 50))
  const started = Date.now()
  await running.stop()
  // Well under the 2 s given to requests under way: the kept-alive connection was idle.
  assert.ok(Date.now() - started < 1000, `stop took ${String(Date.now() - started)} ms`)
  assert.match(await request.answer, /^HTTP\/1\.1 200 /)
})
