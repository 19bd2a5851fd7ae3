/**
 * Plain node:http: the app's own routes and Vault's token API on one server, with `LIST` enabled so stock Vault
 * clients (hvac, node-vault, the `vault` CLI) work unchanged.
 *
 * Run: npx tsx examples/node-http.ts   (serves on PORT, default 8200, and prints the root token)
 */
import { createServer, type Server } from 'node:http'
import { pathToFileURL } from 'node:url'

import { TokenStore } from 'tokentree'
import { createVaultHandler, enableListMethod } from 'tokentree/vault-api'

/** The app: `/v1/*` is Vault's API; `/whoami` is the app's own route, authenticated by the same tokens. */
export function createApp(store: TokenStore): Server {
  const vault = createVaultHandler(store)
  const server = createServer((req, res) => {
    vault(req, res, () => {
      if (req.url !== '/whoami') {
        res.writeHead(404).end()
        return
      }
      store
        .authenticate(String(req.headers['x-vault-token'] ?? ''))
        .then((token) => {
          res.writeHead(200, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ accessor: token.accessor, policies: token.policies }))
        })
        .catch(() => {
          res.writeHead(403).end()
        })
    })
  })
  // Node's parser refuses `LIST` (400) unless the server is set up for it.
  return enableListMethod(server)
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const store = new TokenStore()
  const root = await store.createRoot()
  const port = Number(process.env.PORT ?? 8200)
  createApp(store).listen(port, '127.0.0.1', () => {
    console.log(`export VAULT_ADDR=http://127.0.0.1:${port}\nRoot Token: ${root.clientToken}`)
  })
}
