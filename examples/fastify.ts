/**
 * Fastify: the app's routes in Fastify, Vault's token API beside them on the same server. Fastify does not route
 * `LIST`, so the Vault API is mounted in front of Fastify with its `serverFactory`, on a server with `LIST`
 * enabled.
 *
 * Run: npx tsx examples/fastify.ts   (serves on PORT, default 8200, and prints the root token)
 */
import { createServer } from 'node:http'
import { pathToFileURL } from 'node:url'

import Fastify, { type FastifyInstance } from 'fastify'
import { TokenStore } from 'tokentree'
import { createVaultHandler, enableListMethod } from 'tokentree/vault-api'

/** The app: `/v1/*` is Vault's API; `/whoami` is a Fastify route authenticated by the same tokens. */
export function createApp(store: TokenStore): FastifyInstance {
  const vault = createVaultHandler(store)
  const app = Fastify({
    // close() ends idle keep-alive connections instead of waiting for clients to drop them.
    forceCloseConnections: true,
    serverFactory: (fastifyHandler) =>
      enableListMethod(
        createServer((req, res) => {
          vault(req, res, () => {
            fastifyHandler(req, res)
          })
        }),
      ),
  })
  app.get('/whoami', async (request, reply) => {
    try {
      const token = await store.authenticate(String(request.headers['x-vault-token'] ?? ''))
      return { accessor: token.accessor, policies: token.policies }
    } catch {
      return reply.code(403).send({ errors: ['permission denied'] })
    }
  })
  return app
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const store = new TokenStore()
  const root = await store.createRoot()
  const port = Number(process.env.PORT ?? 8200)
  await createApp(store).listen({ port, host: '127.0.0.1' })
  console.log(`export VAULT_ADDR=http://127.0.0.1:${port}\nRoot Token: ${root.clientToken}`)
}
