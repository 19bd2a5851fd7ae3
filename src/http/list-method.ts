/**
 * The HTTP `LIST` method on a node:http server. Node's parser (llhttp) knows a fixed set of methods and answers
 * `LIST` with 400 before any listener runs, and Node has no option to add one. So {@link enableListMethod} puts a
 * {@link ListRewriter} between each connection and the parser: a `LIST` request reaches the parser as `GET` plus a
 * marker header carrying a per-server secret, and a `request` listener that runs before the host's own restores
 * `req.method = 'LIST'` and removes the marker. Every other byte reaches the parser unchanged, so it still refuses
 * everything it refused before.
 *
 * @packageDocumentation
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, Server } from 'node:http'
import type { Socket } from 'node:net'
import { Server as TlsServer } from 'node:tls'

import { ListRewriter } from './list-rewriter.js'

/** The marker header's name (lower case, as node:http reports it). */
const MARKER_HEADER = 'x-tokentree-list-method'

/** Marks a server already set up, so a second call is a no-op. */
const ENABLED = Symbol('tokentree.listMethod')

/**
 * The events by which node:http hands a request to the host, each of which must see `LIST` restored. node:http
 * emits all but `request` only when the server has a listener for them, and without one does what HTTP asks
 * (answers `100 Continue` or 417, serves an `Upgrade` request as a plain one, closes a `CONNECT`): so the method is
 * restored as they are emitted, by no listener of ours.
 */
const REQUEST_EVENTS: ReadonlySet<string | symbol> = new Set([
  'request',
  'checkContinue',
  'checkExpectation',
  'upgrade',
  'connect',
])

/** The internal flag node:http reads to decide whether its parser consumes the socket directly (in C++). */
interface StreamHandle {
  _consumed?: boolean
}

/**
 * Lets `server` receive HTTP `LIST` requests, which Node's parser otherwise refuses with 400: the request
 * listeners see `req.method === 'LIST'`. For hosts that mount the Vault API (Express's or Koa's `vaultRouter`, or
 * `createVaultHandler`) on their own server; `createVaultServer` does this already. Call it before the server
 * accepts connections. Calling it twice is harmless.
 *
 * Works on keep-alive connections, with pipelined requests and bodies of any framing (`Content-Length`, chunked
 * with trailers). Only the method of a `LIST` request line is changed before Node's parser sees the bytes, so
 * any request the parser would refuse is still refused. On a connection whose framing it cannot follow with
 * certainty (a repeated `Content-Length`, an obs-fold, a bare LF, an upgrade), it stops rewriting for the rest of
 * that connection, and a later `LIST` on it gets Node's 400.
 *
 * @remarks
 * Implementation: the server's `connection` (or, for HTTPS, `secureConnection`) event gets a listener that runs
 * first and keeps Node's parser from reading the socket natively (the `_consumed` flag node:http itself uses), so
 * that data flows through the socket's `data` event, where it is rewritten. Connections injected with
 * `server.emit('connection', duplex)` are handled the same way. The method is restored in the server's `emit`,
 * before any listener of `request` (or `checkContinue`, `checkExpectation`, `upgrade`, `connect`) runs; no listener
 * is added for those, so that Node still answers them itself when the host has none.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * import express from 'express'
 * import { vaultRouter } from 'tokentree/express'
 * import { enableListMethod } from 'tokentree/vault-api'
 *
 * const app = express().use(vaultRouter(store))
 * const server = enableListMethod(createServer(app))
 * server.listen(8200)
 * ```
 *
 * @returns `server`, for chaining.
 */
export function enableListMethod<S extends Server>(server: S): S {
  const marked = server as S & { [ENABLED]?: true }
  if (marked[ENABLED] === true) return server
  marked[ENABLED] = true
  const secret = randomBytes(16).toString('hex')
  const markerLine = `${MARKER_HEADER}: ${secret}\r\n`
  const connectionEvent = server instanceof TlsServer ? 'secureConnection' : 'connection'
  server.prependListener(connectionEvent, (socket: Socket) => {
    rewriteSocket(socket, markerLine)
  })
  const emit = server.emit.bind(server) as (event: string | symbol, ...args: unknown[]) => boolean
  server.emit = function emitRestored(event: string | symbol, ...args: unknown[]): boolean {
    if (REQUEST_EVENTS.has(event)) restoreListMethod(args[0] as IncomingMessage, secret)
    return emit(event, ...args)
  } as S['emit']
  return server
}

/** Routes the socket's bytes through a rewriter before node:http's parser reads them. */
function rewriteSocket(socket: Socket, markerLine: string): void {
  const handle = (socket as Socket & { _handle?: StreamHandle | null })._handle
  // node:http lets its parser read the handle directly unless this flag is set; with it, data comes through
  // `emit('data')`, below.
  if (handle !== null && handle !== undefined) handle._consumed = true
  const rewriter = new ListRewriter(markerLine)
  const emit = socket.emit.bind(socket) as (event: string | symbol, ...args: unknown[]) => boolean
  socket.emit = function emitRewritten(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'data' && Buffer.isBuffer(args[0])) {
      const bytes = rewriter.push(args[0])
      return bytes.length === 0 ? true : emit('data', bytes)
    }
    if (event === 'end') {
      const held = rewriter.end()
      if (held.length > 0) emit('data', held)
    }
    return emit(event, ...args)
  } as Socket['emit']
}

/** Turns a marked `GET` back into `LIST` and removes every marker header (also any a client sent). */
function restoreListMethod(request: IncomingMessage, secret: string): void {
  if (request.headers[MARKER_HEADER] === undefined) return
  const expected = Buffer.from(secret)
  let isList = false
  const raw = request.rawHeaders
  const kept: string[] = []
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? ''
    const value = raw[i + 1] ?? ''
    if (name.toLowerCase() !== MARKER_HEADER) {
      kept.push(name, value)
      continue
    }
    const presented = Buffer.from(value)
    if (presented.length === expected.length && timingSafeEqual(presented, expected)) isList = true
  }
  raw.splice(0, raw.length, ...kept)
  Reflect.deleteProperty(request.headers, MARKER_HEADER)
  if (isList && request.method === 'GET') request.method = 'LIST'
}
