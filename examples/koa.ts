/**
 * Koa: protect routes with tokentree tokens, and serve Vault's token API so Vault clients can manage them.
 *
 * Run: npx tsx examples/koa.ts          (runs a short demo against itself, then exits)
 *      npx tsx examples/koa.ts --serve  (keeps serving on PORT, default 3000)
 */
import Router from '@koa/router'
import Koa from 'koa'
import { TokenStore } from 'tokentree'
import { requirePolicies, tokenAuth, vaultRouter } from 'tokentree/koa'

const store = new TokenStore({ defaultTtl: '1h' })
const root = await store.createRoot()

const router = new Router()
// `ctx.state.token` is typed by tokentree/koa.
router.get('/whoami', tokenAuth(store), (ctx) => {
  ctx.body = { accessor: ctx.state.token.accessor, policies: ctx.state.token.policies }
})
router.post('/admin/reindex', tokenAuth(store), requirePolicies('admin'), (ctx) => {
  ctx.status = 202
  ctx.body = { started: true }
})

const app = new Koa()
// Vault's API under /v1: `VAULT_ADDR=http://127.0.0.1:3000 vault token create -policy=reader` works.
app.use(vaultRouter(store))
app.use(router.routes())

const serve = process.argv.includes('--serve')
const server = app.listen(serve ? Number(process.env.PORT ?? 3000) : 0, '127.0.0.1')
await new Promise((resolve) => server.once('listening', resolve))
const { port } = server.address() as { port: number }
const base = `http://127.0.0.1:${port}`
console.log(`listening on ${base}\nRoot Token: ${root.clientToken}`)

if (!serve) {
  // A reader token, created through the Vault API with the root token...
  const created = await fetch(`${base}/v1/auth/token/create`, {
    method: 'POST',
    headers: { 'x-vault-token': root.clientToken },
    body: JSON.stringify({ policies: ['reader'], ttl: '15m' }),
  })
  const { auth } = (await created.json()) as { auth: { client_token: string } }
  // ...used on the app's routes.
  const bearer = { authorization: `Bearer ${auth.client_token}` }
  const whoami = await fetch(`${base}/whoami`, { headers: bearer })
  console.log('GET /whoami', whoami.status, await whoami.json())
  const reindex = await fetch(`${base}/admin/reindex`, { method: 'POST', headers: bearer })
  console.log('POST /admin/reindex', reindex.status, await reindex.json())
  server.close()
  server.closeAllConnections()
}
