/**
 * The Vault-compatible API on plain node:http, with no framework: a request handler for any host that speaks
 * node:http (Fastify, Hono's node adapter, a bare server), and a ready server, which the dev server runs.
 *
 * @packageDocumentation
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'

import type { TokenStore } from '../../token-store.js'
import { errorResult } from '../bearer.js'
import { enableListMethod } from '../list-method.js'
import { handleVaultRequest, resolveApiOptions } from './handlers.js'
import { toApiRequest, writeResult } from './node.js'
import type { VaultApiOptions } from './types.js'

/**
 * A node:http request handler serving the Vault-compatible API. A request outside the prefix is passed to
 * `next` when one is given, else answered with Vault's 404.
 */
export type VaultRequestHandler = (
  request: IncomingMessage,
  response: ServerResponse,
  next?: () => void,
) => void

/**
 * A node:http request handler serving the Vault-compatible API over `store`, for hosts that own the server:
 * `createServer(handler)`, Fastify's `serverFactory`, Hono's node adapter. It reads the body itself, so mount it
 * where no body parser ran. Stock Vault clients send `LIST`: call {@link enableListMethod} on the server.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * import { createVaultHandler, enableListMethod } from 'tokentree/vault-api'
 *
 * const vault = createVaultHandler(store)
 * const server = createServer((req, res) => {
 *   vault(req, res, () => {
 *     res.writeHead(404).end() // the host's own routes
 *   })
 * })
 * enableListMethod(server).listen(8200)
 * ```
 *
 * @throws TypeError at once for malformed options.
 */
export function createVaultHandler(
  store: TokenStore,
  options: VaultApiOptions = {},
): VaultRequestHandler {
  const resolved = resolveApiOptions(options)
  return (request, response, next) => {
    const method = request.method ?? 'GET'
    toApiRequest(request, request.url ?? '/', resolved)
      .then(async (apiRequest) => {
        if (apiRequest === null) {
          if (next !== undefined) return null
          return errorResult(404)
        }
        return handleVaultRequest(store, apiRequest, resolved)
      })
      .catch(() => errorResult(400, 'failed to read the request body'))
      .then((result) => {
        if (result === null) next?.()
        else writeResult(response, result, method)
      })
      .catch(() => {
        response.destroy()
      })
  }
}

/**
 * A node:http server serving the Vault-compatible API over `store`, with `LIST` enabled
 * ({@link enableListMethod}). Paths outside the prefix get Vault's 404. The caller listens and closes it.
 *
 * @example
 * ```ts
 * import { TokenStore } from 'tokentree'
 * import { createVaultServer } from 'tokentree/vault-api'
 *
 * const store = new TokenStore()
 * createVaultServer(store).listen(8200, '127.0.0.1') // VAULT_ADDR=http://127.0.0.1:8200
 * ```
 *
 * @throws TypeError at once for malformed options.
 */
export function createVaultServer(store: TokenStore, options: VaultApiOptions = {}): Server {
  const handler = createVaultHandler(store, options)
  return enableListMethod(
    createServer((request, response) => {
      handler(request, response)
    }),
  )
}
