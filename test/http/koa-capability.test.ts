/**
 * tokentree/koa: requireCapability through a real Koa app.
 */
import Koa from 'koa'

import { requireCapability } from '../../src/http/koa.js'
import { runCapabilitySuite } from './helpers/capability-suite.js'

/** What a body parser does (koa-bodyparser and the like): a JSON body becomes `ctx.request.body`. */
const readJsonBody: Koa.Middleware = async (ctx, next) => {
  if (ctx.is('application/json') === 'application/json') {
    const chunks: Buffer[] = []
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer)
    ;(ctx.request as { body?: unknown }).body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  }
  await next()
}

runCapabilitySuite('koa', (store, options) => {
  const app = new Koa()
    .use(readJsonBody)
    .use(requireCapability(store, options))
    .use((ctx) => {
      // Typed by requireCapability: the token is there.
      ctx.body = { accessor: ctx.state.token.accessor }
    })
  const handle = app.callback()
  return (req, res) => {
    void handle(req, res)
  }
})
