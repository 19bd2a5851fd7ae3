/**
 * The Vault-compatible API on a plain node:http server, with no framework: what the dev server runs.
 *
 * @packageDocumentation
 */
import { createServer, type Server } from 'node:http'

import type { TokenStore } from '../../token-store.js'
import { errorResult } from '../bearer.js'
import { handleVaultRequest, resolveApiOptions } from './handlers.js'
import { toApiRequest, writeResult } from './node.js'
import type { VaultApiOptions } from './types.js'

/**
 * A node:http server serving the Vault-compatible API over `store`. Paths outside the prefix get Vault's 404.
 * The caller listens and closes it.
 *
 * @throws TypeError at once for malformed options.
 */
export function createVaultServer(store: TokenStore, options: VaultApiOptions = {}): Server {
  const resolved = resolveApiOptions(options)
  return createServer((request, response) => {
    const method = request.method ?? 'GET'
    toApiRequest(request, request.url ?? '/', resolved)
      .then(async (apiRequest) =>
        apiRequest === null ? errorResult(404) : handleVaultRequest(store, apiRequest, resolved),
      )
      .catch(() => errorResult(400, 'failed to read the request body'))
      .then((result) => {
        writeResult(response, result, method)
      })
      .catch(() => {
        response.destroy()
      })
  })
}
